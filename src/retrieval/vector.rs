//! The vector index: an immutable HNSW base segment, a small mutable segment searched exactly,
//! and tombstones, like a log-structured store.
//!
//! instant-distance builds an HNSW once and can neither insert nor delete. So new vectors go to
//! the mutable segment (searched exactly, which is fast while it is small), removed vectors of the
//! base become tombstones (skipped in results), and [`VectorIndex::compact`] rebuilds the base
//! from every live vector once the mutable part or the tombstones pass a threshold. Below
//! `exact_below` live vectors there is no base at all: exact search is as fast and exact.
//!
//! Vectors are unit-norm; similarity is the dot product (cosine), distance is `1 - cosine`.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use instant_distance::{Builder, HnswMap, Point, Search};
use serde::{Deserialize, Serialize};

use super::sort_top;
use crate::error::{Error, Result};
use crate::util::{bytes_to_f32s, dot, f32s_to_bytes, not_unit};

/// A unit vector, shared between the index and the rest of the knowledge base.
#[derive(Clone, Debug, PartialEq)]
pub struct Vector(pub Arc<[f32]>);

impl Vector {
    pub fn new(v: Vec<f32>) -> Self {
        Vector(v.into())
    }
}

impl Point for Vector {
    fn distance(&self, other: &Self) -> f32 {
        1.0 - dot(&self.0, &other.0)
    }
}

impl Serialize for Vector {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_bytes(&f32s_to_bytes(&self.0))
    }
}

impl<'de> Deserialize<'de> for Vector {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Vector;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("little-endian f32 bytes")
            }
            fn visit_bytes<E: serde::de::Error>(self, b: &[u8]) -> std::result::Result<Vector, E> {
                bytes_to_f32s(b)
                    .map(Vector::new)
                    .ok_or_else(|| E::custom("vector bytes not a multiple of 4"))
            }
        }
        d.deserialize_bytes(V)
    }
}

/// Tuning of the index. The defaults were picked by measurement (BENCHMARKS.md).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct IndexOptions {
    /// Below this many live vectors there is no HNSW: everything is searched exactly.
    pub exact_below: usize,
    /// The mutable segment is folded into a new base beyond `max(mutable_min, base / 10)`.
    pub mutable_min: usize,
    /// Tombstones beyond this fraction of the base trigger a rebuild.
    pub tombstone_ratio: f32,
    /// HNSW candidate list at search time (fixed when the base is built). 64: on real
    /// MiniLM embeddings recall@10 is 0.997 at 20 000 vectors with half the latency of 128
    /// (BENCHMARKS.md, `REAL=100000 cargo bench --bench index`).
    pub ef_search: usize,
    /// HNSW candidate list while building.
    pub ef_construction: usize,
    /// Seed of the HNSW layer assignment (deterministic builds).
    pub seed: u64,
}

impl Default for IndexOptions {
    fn default() -> Self {
        IndexOptions {
            exact_below: 4096,
            mutable_min: 2048,
            tombstone_ratio: 0.2,
            ef_search: 64,
            ef_construction: 128,
            seed: 0x10ca_17a9,
        }
    }
}

/// What happened to a stored snapshot on open. Shown as `"loaded"`, `"missing"` or
/// `"rebuilt: <why>"`.
#[derive(Clone, Debug, PartialEq, Eq, ts_rs::TS)]
#[ts(type = "'loaded' | 'missing' | `rebuilt: ${string}`")]
pub enum SnapshotState {
    /// Used as the base segment.
    Loaded,
    /// None was stored (or the index is small enough to search exactly).
    Missing,
    /// Stored, but it failed its checks (format, checksum, dimension, vectors); rebuilt.
    Rejected(String),
}

impl std::fmt::Display for SnapshotState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SnapshotState::Loaded => f.write_str("loaded"),
            SnapshotState::Missing => f.write_str("missing"),
            SnapshotState::Rejected(why) => write!(f, "rebuilt: {why}"),
        }
    }
}

impl Serialize for SnapshotState {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

struct Base {
    map: HnswMap<Vector, u64>,
    ids: HashSet<u64>,
    ef_search: usize,
}

/// Where each vector lives and how search runs; see the module docs.
pub struct VectorIndex {
    dim: usize,
    opts: IndexOptions,
    base: Option<Base>,
    /// Live vectors by id: base (minus tombstones) and mutable.
    vectors: HashMap<u64, Vector>,
    /// Ids of the mutable segment, searched exactly.
    mutable: Vec<u64>,
    mutable_pos: HashMap<u64, usize>,
    tombstones: HashSet<u64>,
    search: Mutex<Search>,
}

/// Counts for `stats()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct IndexStats {
    pub live: usize,
    pub base: usize,
    pub mutable: usize,
    pub tombstones: usize,
}

const SNAPSHOT_MAGIC: &[u8; 4] = b"LRIX";
/// Bump when the snapshot layout (or instant-distance's) changes: old ones are rebuilt.
pub const SNAPSHOT_VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct SnapshotBody {
    dim: u32,
    ef_search: u32,
    map: HnswMap<Vector, u64>,
}

impl VectorIndex {
    pub fn new(dim: usize, opts: IndexOptions) -> Self {
        VectorIndex {
            dim,
            opts,
            base: None,
            vectors: HashMap::new(),
            mutable: Vec::new(),
            mutable_pos: HashMap::new(),
            tombstones: HashSet::new(),
            search: Mutex::new(Search::default()),
        }
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn options(&self) -> &IndexOptions {
        &self.opts
    }

    /// The candidate list searches use now: the base's (as built or loaded), else the option.
    pub fn ef_search(&self) -> usize {
        self.base
            .as_ref()
            .map_or(self.opts.ef_search, |b| b.ef_search)
    }

    pub fn len(&self) -> usize {
        self.vectors.len()
    }

    pub fn is_empty(&self) -> bool {
        self.vectors.is_empty()
    }

    pub fn stats(&self) -> IndexStats {
        IndexStats {
            live: self.vectors.len(),
            base: self.base.as_ref().map_or(0, |b| b.ids.len()),
            mutable: self.mutable.len(),
            tombstones: self.tombstones.len(),
        }
    }

    pub fn contains(&self, id: u64) -> bool {
        self.vectors.contains_key(&id)
    }

    pub fn vector(&self, id: u64) -> Option<&Vector> {
        self.vectors.get(&id)
    }

    /// Checks a vector before it goes in: right length, finite, unit norm.
    pub fn check(&self, v: &[f32]) -> Result<()> {
        if v.len() != self.dim {
            return Err(Error::DimMismatch(format!(
                "vector has {} dimensions, the index {}",
                v.len(),
                self.dim
            )));
        }
        if v.iter().any(|x| !x.is_finite()) {
            return Err(Error::Input("vector holds NaN or infinity".into()));
        }
        if let Some(n) = not_unit(v) {
            return Err(Error::Input(format!(
                "vector norm is {n}; the index needs unit vectors"
            )));
        }
        Ok(())
    }

    /// Adds a vector to the mutable segment (replacing an earlier one with the same id).
    pub fn insert(&mut self, id: u64, v: Vector) -> Result<()> {
        self.check(&v.0)?;
        self.remove(id);
        self.vectors.insert(id, v);
        self.mutable_pos.insert(id, self.mutable.len());
        self.mutable.push(id);
        Ok(())
    }

    /// Removes a vector; returns whether it was live.
    pub fn remove(&mut self, id: u64) -> bool {
        if self.vectors.remove(&id).is_none() {
            return false;
        }
        if let Some(pos) = self.mutable_pos.remove(&id) {
            self.mutable.swap_remove(pos);
            if let Some(&moved) = self.mutable.get(pos) {
                self.mutable_pos.insert(moved, pos);
            }
        } else if self.base.as_ref().is_some_and(|b| b.ids.contains(&id)) {
            self.tombstones.insert(id);
        }
        true
    }

    /// Whether [`compact`](Self::compact) would change the layout now.
    pub fn needs_compaction(&self) -> bool {
        let live = self.vectors.len();
        match &self.base {
            None => live >= self.opts.exact_below,
            Some(b) => {
                let base = b.ids.len();
                live < self.opts.exact_below / 2
                    || self.mutable.len() > self.opts.mutable_min.max(base / 10)
                    || self.tombstones.len() as f32 > self.opts.tombstone_ratio * base as f32
            }
        }
    }

    /// Rebuilds the base from every live vector (or drops it when the index is small).
    /// Returns whether a base was built.
    pub fn compact(&mut self) -> bool {
        self.tombstones.clear();
        self.mutable.clear();
        self.mutable_pos.clear();
        if self.vectors.len() < self.opts.exact_below {
            self.base = None;
            for &id in self.vectors.keys() {
                self.mutable_pos.insert(id, self.mutable.len());
                self.mutable.push(id);
            }
            return false;
        }
        let mut ids: Vec<u64> = self.vectors.keys().copied().collect();
        ids.sort_unstable();
        let points: Vec<Vector> = ids.iter().map(|id| self.vectors[id].clone()).collect();
        let map = crate::kernels::on_pool(|| {
            Builder::default()
                .ef_search(self.opts.ef_search)
                .ef_construction(self.opts.ef_construction)
                .seed(self.opts.seed)
                .build(points, ids.clone())
        });
        self.base = Some(Base {
            map,
            ids: ids.into_iter().collect(),
            ef_search: self.opts.ef_search,
        });
        true
    }

    /// Compacts when needed; returns whether it did.
    pub fn maybe_compact(&mut self) -> bool {
        if self.needs_compaction() {
            self.compact();
            true
        } else {
            false
        }
    }

    /// The `k` most similar live vectors, best first, as (id, cosine).
    pub fn search(&self, query: &[f32], k: usize) -> Vec<(u64, f32)> {
        if k == 0 || self.vectors.is_empty() {
            return Vec::new();
        }
        let mut hits = self.exact_among(query, self.mutable.iter().copied(), k);
        if let Some(base) = &self.base {
            let q = Vector(query.into());
            let mut search = self.search.lock().unwrap_or_else(|e| e.into_inner());
            let mut from_base = 0;
            for item in base.map.search(&q, &mut search) {
                let id = *item.value;
                if self.tombstones.contains(&id) {
                    continue;
                }
                hits.push((id, 1.0 - item.distance));
                from_base += 1;
                if from_base == k {
                    break;
                }
            }
            let available = base.ids.len() - self.tombstones.len();
            if from_base < k.min(available) {
                // More asked than the candidate list holds after tombstones: search exactly.
                drop(search);
                return self.exact(query, k);
            }
            sort_top(&mut hits, k);
        }
        hits
    }

    /// Exact search over all live vectors.
    pub fn exact(&self, query: &[f32], k: usize) -> Vec<(u64, f32)> {
        self.exact_among(query, self.vectors.keys().copied(), k)
    }

    /// Exact search over the given ids (unknown ones skipped).
    pub fn exact_among(
        &self,
        query: &[f32],
        ids: impl Iterator<Item = u64>,
        k: usize,
    ) -> Vec<(u64, f32)> {
        let mut hits: Vec<(u64, f32)> = ids
            .filter_map(|id| self.vectors.get(&id).map(|v| (id, dot(query, &v.0))))
            .collect();
        sort_top(&mut hits, k);
        hits
    }

    /// The base segment as bytes: magic, version, CRC-32 of the body, postcard body. `None` when
    /// there is no base (nothing worth saving).
    pub fn snapshot(&self) -> Option<Vec<u8>> {
        let base = self.base.as_ref()?;
        #[derive(Serialize)]
        struct Ref<'a> {
            dim: u32,
            ef_search: u32,
            map: &'a HnswMap<Vector, u64>,
        }
        let body = postcard::to_stdvec(&Ref {
            dim: self.dim as u32,
            ef_search: base.ef_search as u32,
            map: &base.map,
        })
        .ok()?;
        let mut out = Vec::with_capacity(body.len() + 12);
        out.extend_from_slice(SNAPSHOT_MAGIC);
        out.extend_from_slice(&SNAPSHOT_VERSION.to_le_bytes());
        out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
        out.extend_from_slice(&body);
        Some(out)
    }

    /// Rebuilds the in-memory index from the stored live vectors and, if it passes every check,
    /// the stored snapshot. A snapshot that is damaged, of another format or dimension, or holds
    /// a vector that differs from the stored one for the same id, is rejected and the base is
    /// rebuilt from the vectors. Tombstones (base ids no longer live) and the mutable segment
    /// (live ids not in the base) are derived, then thresholds apply as after any write.
    pub fn open(
        dim: usize,
        opts: IndexOptions,
        live: Vec<(u64, Vector)>,
        snapshot: Option<&[u8]>,
    ) -> (VectorIndex, SnapshotState) {
        let mut index = VectorIndex::new(dim, opts);
        index.vectors = live.into_iter().collect();
        let state = match snapshot {
            None => SnapshotState::Missing,
            Some(bytes) => match index.adopt(bytes) {
                Ok(()) => SnapshotState::Loaded,
                Err(why) => SnapshotState::Rejected(why),
            },
        };
        if index.base.is_none() {
            index.compact();
        } else {
            index.maybe_compact();
        }
        (index, state)
    }

    fn adopt(&mut self, bytes: &[u8]) -> std::result::Result<(), String> {
        if bytes.len() < 12 || &bytes[..4] != SNAPSHOT_MAGIC {
            return Err("not an index snapshot".into());
        }
        let version = u32::from_le_bytes(bytes[4..8].try_into().unwrap());
        if version != SNAPSHOT_VERSION {
            return Err(format!(
                "snapshot format {version}, this build reads {SNAPSHOT_VERSION}"
            ));
        }
        let crc = u32::from_le_bytes(bytes[8..12].try_into().unwrap());
        let body = &bytes[12..];
        if crc32fast::hash(body) != crc {
            return Err("snapshot checksum mismatch".into());
        }
        let body: SnapshotBody =
            postcard::from_bytes(body).map_err(|e| format!("snapshot does not decode: {e}"))?;
        if body.dim as usize != self.dim {
            return Err(format!(
                "snapshot has dimension {}, expected {}",
                body.dim, self.dim
            ));
        }
        if body.map.values.len() != body.map.iter().count() {
            return Err("snapshot points and ids disagree".into());
        }
        let mut ids = HashSet::with_capacity(body.map.values.len());
        let mut shared = Vec::new();
        for ((_, point), &id) in body.map.iter().zip(&body.map.values) {
            if point.0.len() != self.dim || !ids.insert(id) {
                return Err("snapshot holds a malformed point".into());
            }
            if let Some(v) = self.vectors.get(&id) {
                if v.0[..] != point.0[..] {
                    return Err(format!(
                        "snapshot is stale: vector {id} differs from the stored one"
                    ));
                }
                shared.push((id, point.clone()));
            }
        }
        // Share one allocation per vector between the base and the live map.
        for (id, p) in shared {
            self.vectors.insert(id, p);
        }
        self.tombstones = ids
            .iter()
            .copied()
            .filter(|id| !self.vectors.contains_key(id))
            .collect();
        let mut mutable: Vec<u64> = self
            .vectors
            .keys()
            .copied()
            .filter(|id| !ids.contains(id))
            .collect();
        mutable.sort_unstable();
        self.mutable_pos = mutable.iter().enumerate().map(|(i, &id)| (id, i)).collect();
        self.mutable = mutable;
        self.base = Some(Base {
            map: body.map,
            ids,
            ef_search: body.ef_search as usize,
        });
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::retrieval::bench::random_unit;

    fn opts(exact_below: usize) -> IndexOptions {
        IndexOptions {
            exact_below,
            mutable_min: 16,
            ..Default::default()
        }
    }

    #[test]
    fn small_index_is_exact() {
        let vs = random_unit(100, 16, 2);
        let mut idx = VectorIndex::new(16, opts(1000));
        for (i, v) in vs.iter().enumerate() {
            idx.insert(i as u64, Vector::new(v.clone())).unwrap();
        }
        assert!(!idx.maybe_compact());
        let hits = idx.search(&vs[7], 5);
        assert_eq!(hits[0].0, 7);
        assert!((hits[0].1 - 1.0).abs() < 1e-5);
        assert_eq!(hits, idx.exact(&vs[7], 5));
    }

    #[test]
    fn bad_vectors_are_refused() {
        let mut idx = VectorIndex::new(4, opts(10));
        assert_eq!(
            idx.insert(1, Vector::new(vec![1.0, 0.0]))
                .unwrap_err()
                .code(),
            "E_DIM_MISMATCH"
        );
        assert_eq!(
            idx.insert(1, Vector::new(vec![f32::NAN, 0.0, 0.0, 0.0]))
                .unwrap_err()
                .code(),
            "E_INPUT"
        );
        assert_eq!(
            idx.insert(1, Vector::new(vec![2.0, 0.0, 0.0, 0.0]))
                .unwrap_err()
                .code(),
            "E_INPUT"
        );
        assert!(idx.is_empty());
    }

    #[test]
    fn tombstones_are_never_returned_and_compaction_keeps_results() {
        let vs = random_unit(600, 24, 3);
        let mut idx = VectorIndex::new(24, opts(200));
        for (i, v) in vs.iter().enumerate().take(500) {
            idx.insert(i as u64, Vector::new(v.clone())).unwrap();
        }
        assert!(idx.maybe_compact());
        assert_eq!(idx.stats().base, 500);
        // Mutable additions and tombstones in the base.
        for (i, v) in vs.iter().enumerate().skip(500).take(10) {
            idx.insert(i as u64, Vector::new(v.clone())).unwrap();
        }
        let removed: Vec<u64> = (0..500).step_by(7).take(40).collect();
        for &r in &removed {
            assert!(idx.remove(r));
        }
        assert!(!idx.remove(removed[0]));
        let s = idx.stats();
        assert_eq!(
            (s.live, s.base, s.mutable, s.tombstones),
            (470, 500, 10, 40)
        );
        let queries: Vec<usize> = (0..600).step_by(13).collect();
        let before: Vec<Vec<(u64, f32)>> =
            queries.iter().map(|&q| idx.search(&vs[q], 10)).collect();
        for hits in &before {
            assert_eq!(hits.len(), 10);
            assert!(
                hits.iter().all(|h| !removed.contains(&h.0)),
                "a tombstone came back"
            );
        }
        // A removed vector queried for itself is not found; a mutable one is.
        assert!(
            idx.search(&vs[removed[1] as usize], 10)
                .iter()
                .all(|h| h.0 != removed[1])
        );
        assert_eq!(idx.search(&vs[505], 1)[0].0, 505);
        idx.compact();
        let s = idx.stats();
        assert_eq!((s.live, s.base, s.mutable, s.tombstones), (470, 470, 0, 0));
        let after: Vec<Vec<(u64, f32)>> = queries.iter().map(|&q| idx.search(&vs[q], 10)).collect();
        // At this size the HNSW finds the exact neighbours both times.
        for (q, (b, a)) in queries.iter().zip(before.iter().zip(&after)) {
            let ids_b: Vec<u64> = b.iter().map(|h| h.0).collect();
            let ids_a: Vec<u64> = a.iter().map(|h| h.0).collect();
            assert_eq!(ids_b, ids_a, "query {q}");
            let exact: Vec<u64> = idx.exact(&vs[*q], 10).iter().map(|h| h.0).collect();
            assert_eq!(ids_a, exact, "query {q}");
        }
    }

    #[test]
    fn thresholds_trigger_compaction() {
        let vs = random_unit(400, 8, 4);
        let mut idx = VectorIndex::new(8, opts(100));
        for (i, v) in vs.iter().enumerate().take(99) {
            idx.insert(i as u64, Vector::new(v.clone())).unwrap();
        }
        assert!(!idx.needs_compaction());
        idx.insert(99, Vector::new(vs[99].clone())).unwrap();
        assert!(idx.needs_compaction(), "reaching exact_below builds a base");
        idx.compact();
        for i in 100..116 {
            idx.insert(i, Vector::new(vs[i as usize].clone())).unwrap();
        }
        assert!(!idx.needs_compaction(), "16 mutable is within mutable_min");
        idx.insert(116, Vector::new(vs[116].clone())).unwrap();
        assert!(idx.needs_compaction(), "17 mutable is past it");
        idx.compact();
        for i in 0..23 {
            idx.remove(i);
        }
        assert!(!idx.needs_compaction(), "23 of 117 tombstoned is under 20%");
        idx.remove(23);
        assert!(idx.needs_compaction(), "24 of 117 is past it");
        idx.compact();
        for i in 24..70 {
            idx.remove(i);
        }
        idx.maybe_compact();
        assert_eq!(idx.stats().base, 0, "small again: back to exact search");
    }

    #[test]
    fn snapshot_round_trips_and_bad_ones_are_rejected() {
        let vs = random_unit(300, 12, 5);
        let mut idx = VectorIndex::new(12, opts(100));
        for (i, v) in vs.iter().enumerate() {
            idx.insert(i as u64, Vector::new(v.clone())).unwrap();
        }
        idx.compact();
        let snap = idx.snapshot().unwrap();
        let live = |skip: u64| -> Vec<(u64, Vector)> {
            (0..300u64)
                .filter(|&i| i != skip)
                .map(|i| (i, Vector::new(vs[i as usize].clone())))
                .collect()
        };
        let (again, state) = VectorIndex::open(12, opts(100), live(u64::MAX), Some(&snap));
        assert_eq!(state, SnapshotState::Loaded);
        for q in (0..300).step_by(17) {
            assert_eq!(again.search(&vs[q], 10), idx.search(&vs[q], 10));
        }
        // A chunk removed since the snapshot becomes a tombstone.
        let (again, _) = VectorIndex::open(12, opts(100), live(42), Some(&snap));
        assert_eq!(again.stats().tombstones, 1);
        assert!(again.search(&vs[42], 10).iter().all(|h| h.0 != 42));
        // Flipped byte: checksum.
        let mut bad = snap.clone();
        let at = bad.len() / 2;
        bad[at] ^= 0x40;
        let (rebuilt, state) = VectorIndex::open(12, opts(100), live(u64::MAX), Some(&bad));
        assert!(
            matches!(state, SnapshotState::Rejected(ref why) if why.contains("checksum")),
            "{state:?}"
        );
        assert_eq!(rebuilt.stats().base, 300);
        // Truncated, other version, other dim, garbage.
        for b in [
            &snap[..snap.len() - 9],
            &b"LRIX\x09\0\0\0\0\0\0\0"[..],
            b"junk",
        ] {
            let (_, state) = VectorIndex::open(12, opts(100), live(u64::MAX), Some(b));
            assert!(matches!(state, SnapshotState::Rejected(_)));
        }
        let (_, state) = VectorIndex::open(24, opts(100), vec![], Some(&snap));
        assert!(
            matches!(state, SnapshotState::Rejected(ref why) if why.contains("dimension")),
            "{state:?}"
        );
        // Stale: same id, different vector.
        let mut changed = live(u64::MAX);
        changed[5].1 = Vector::new(vs[299].clone());
        let (_, state) = VectorIndex::open(12, opts(100), changed, Some(&snap));
        assert!(
            matches!(state, SnapshotState::Rejected(ref why) if why.contains("stale")),
            "{state:?}"
        );
    }
}
