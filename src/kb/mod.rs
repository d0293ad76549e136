//! The knowledge base: documents in, passages out, everything persisted through a [`Store`].
//!
//! Memory holds the working set (document texts, chunk offsets, vectors, the vector index and
//! BM25); the store holds the truth. Every change is computed first, written as one atomic batch,
//! and only then applied in memory, so a failed write (quota, a closed tab) changes nothing.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::chunk::{ChunkOptions, TokenSpans, chunk_text};
use crate::embedder::MAX_TEXT_BYTES;
use crate::error::{Error, Result};
use crate::index::{
    IndexOptions, IndexStats, SnapshotState, Vector, VectorIndex, bytes_to_f32s, f32s_to_bytes,
};
use crate::lexical::Bm25;
use crate::retrieve::{Mode, Scored, fuse, mmr, top};
use crate::store::{Contents, Op, Space, Store};

/// Version of the stored layout; a base written by a newer layout is refused.
pub const FORMAT: u32 = 1;
/// Largest document accepted, in UTF-8 bytes.
pub const MAX_DOC_BYTES: usize = 16 << 20;
/// Longest document id, in bytes.
pub const MAX_ID_BYTES: usize = 512;
/// Most passages one search returns.
pub const MAX_K: usize = 100;

/// What a knowledge base needs from an embedding model.
#[allow(async_fn_in_trait)]
pub trait Embed: TokenSpans {
    /// Identifies the model and the settings that shape its vectors.
    fn fingerprint(&self) -> String;
    fn dim(&self) -> usize;
    /// Tokens the model reads, special tokens included.
    fn max_seq_length(&self) -> usize;
    /// One unit vector per text, in order.
    async fn embed_texts(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>>;
}

impl Embed for crate::Embedder {
    fn fingerprint(&self) -> String {
        crate::Embedder::fingerprint(self).to_string()
    }
    fn dim(&self) -> usize {
        crate::Embedder::dim(self)
    }
    fn max_seq_length(&self) -> usize {
        crate::Embedder::max_seq_length(self)
    }
    async fn embed_texts(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        self.embed(texts).await
    }
}

/// A document as the caller gives it.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct DocInput {
    /// Defaults to a hash of the text.
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    /// Where it came from (a file name, a URL): shown with citations.
    #[serde(default)]
    pub source: Option<String>,
    pub text: String,
    /// A JSON object; filters match its top-level keys.
    #[serde(default)]
    pub metadata: Option<Value>,
}

/// A stored document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DocRecord {
    pub id: String,
    pub title: String,
    pub source: String,
    pub text: String,
    /// JSON object text.
    pub metadata: String,
    /// SHA-256 of the text and the chunking that produced the chunks.
    pub hash: String,
    pub chunk_ids: Vec<u64>,
}

/// A stored chunk.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChunkRecord {
    pub id: u64,
    pub doc_id: String,
    pub ordinal: u32,
    pub start: u32,
    pub end: u32,
    pub start16: u32,
    pub end16: u32,
    /// Little-endian f32.
    #[serde(with = "serde_bytes_compat")]
    pub vector: Vec<u8>,
}

mod serde_bytes_compat {
    pub fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E: serde::de::Error>(self, b: &[u8]) -> Result<Vec<u8>, E> {
                Ok(b.to_vec())
            }
        }
        d.deserialize_bytes(V)
    }
}

/// The manifest: which model the vectors come from, and counters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub model: String,
    pub dim: usize,
    pub next_chunk_id: u64,
    /// Counts the writes of documents (add, remove, import). Another tab or Worker compares it
    /// with what it loaded to see that its copy in memory is stale. Not part of an export.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub generation: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Manifest {
    /// Reads a stored or exported manifest; `what` names it in the error.
    fn decode(bytes: &[u8], what: &str) -> Result<Manifest> {
        serde_json::from_slice(bytes)
            .map_err(|e| Error::Corrupt(format!("{what} manifest is damaged: {e}")))
    }

    fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("manifest encodes")
    }

    /// The operation that stores it.
    fn put(&self) -> Op {
        Op::Put(Space::Meta, "manifest".into(), self.encode())
    }

    /// Whether vectors of `embedder` may join what this manifest describes (`what`: "the
    /// knowledge base", "the export file").
    fn check(&self, embedder: &impl Embed, what: &str) -> Result<()> {
        if self.format > FORMAT {
            return Err(Error::Corrupt(format!(
                "{what} was written by a newer localrag (format {}, this one reads {FORMAT})",
                self.format
            )));
        }
        let dim = embedder.dim();
        if self.dim != dim {
            return Err(Error::DimMismatch(format!(
                "{what} holds {}-dimensional vectors; this embedder makes {dim}",
                self.dim
            )));
        }
        let model = embedder.fingerprint();
        if self.model != model {
            return Err(Error::ModelMismatch(format!(
                "{what} was built with embedding model {} and cannot mix in vectors of model {model}; use the same model (or another knowledge base name)",
                self.model
            )));
        }
        Ok(())
    }
}

/// Knobs of a knowledge base.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct KbOptions {
    pub chunk: ChunkOptions,
    pub index: IndexOptions,
}

/// Which passages to keep.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Filter {
    /// Only these documents.
    pub doc_ids: Option<Vec<String>>,
    /// Top-level metadata keys that must equal these values.
    pub metadata: Map<String, Value>,
}

impl Filter {
    pub fn is_empty(&self) -> bool {
        self.doc_ids.is_none() && self.metadata.is_empty()
    }
}

/// How to search.
#[derive(Clone, Debug, PartialEq)]
pub struct SearchOptions {
    pub k: usize,
    pub mode: Mode,
    pub filter: Filter,
    /// MMR trade-off (1 = relevance only). `None` turns reranking off.
    pub mmr_lambda: Option<f32>,
    /// Candidates each retriever hands to fusion. Default `max(50, 4k)`.
    pub candidates: Option<usize>,
}

impl Default for SearchOptions {
    fn default() -> Self {
        SearchOptions {
            k: 5,
            mode: Mode::Hybrid,
            filter: Filter::default(),
            mmr_lambda: Some(0.7),
            candidates: None,
        }
    }
}

/// One retrieved passage.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Hit {
    pub doc_id: String,
    pub chunk_id: u64,
    pub text: String,
    /// UTF-16 offsets into the document text.
    pub start: usize,
    pub end: usize,
    pub title: String,
    pub source: String,
    pub metadata: Value,
    pub score: f32,
    pub scores: HitScores,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HitScores {
    pub vector: Option<f32>,
    pub lexical: Option<f32>,
    pub fused: f32,
    pub rerank: f32,
}

/// What an `add` did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AddReport {
    pub added: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub chunks: usize,
    pub ids: Vec<String>,
}

/// A document without its text, for listings.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DocInfo {
    pub id: String,
    pub title: String,
    pub source: String,
    pub metadata: Value,
    pub chars: usize,
    pub chunks: usize,
}

/// Counts and state.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    pub documents: usize,
    pub chunks: usize,
    pub dim: usize,
    pub model: String,
    pub base_segment: usize,
    pub mutable_segment: usize,
    pub tombstones: usize,
    pub vocabulary: usize,
    /// What happened to the stored snapshot on open: "loaded", "missing" or "rebuilt: why".
    pub snapshot: String,
    /// Records that could not be decoded on open and were left out.
    pub skipped_records: usize,
    /// Counts the writes of documents; another tab's write raises it.
    pub generation: u64,
}

/// Progress of a long operation: `stage` is "chunk", "embed", "store" or "index" (the HNSW
/// base being rebuilt after the write, when thresholds say so). Returning an error (say
/// [`Error::Aborted`]) before the "store" stage stops the add with nothing written.
pub type Progress<'a> = &'a dyn Fn(&str, usize, usize) -> Result<()>;

struct ChunkMeta {
    doc_id: String,
    start: usize,
    end: usize,
    start16: usize,
    end16: usize,
}

/// A knowledge base over a store.
pub struct KnowledgeBase<S: Store> {
    store: S,
    opts: KbOptions,
    manifest: Manifest,
    docs: HashMap<String, DocRecord>,
    metadata: HashMap<String, Value>,
    chunks: HashMap<u64, ChunkMeta>,
    index: VectorIndex,
    bm25: Bm25,
    snapshot_state: SnapshotState,
    skipped: usize,
}

fn sha256_hex(parts: &[&[u8]], bytes: usize) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    h.finalize()[..bytes]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn chunk_key(id: u64) -> String {
    format!("{id:016x}")
}

fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>> {
    postcard::to_stdvec(v).map_err(|e| Error::Storage(format!("could not encode a record: {e}")))
}

impl<S: Store> KnowledgeBase<S> {
    /// Opens (or creates) the knowledge base in `store` for `embedder`'s vectors.
    pub async fn open(store: S, embedder: &impl Embed, opts: KbOptions) -> Result<Self> {
        opts.chunk.check(embedder.max_seq_length())?;
        let contents = store.load().await?;
        let manifest = match contents.meta("manifest") {
            Some(bytes) => {
                let m = Manifest::decode(bytes, "the knowledge base")?;
                m.check(embedder, "the knowledge base")?;
                m
            }
            None => {
                let m = Manifest {
                    format: FORMAT,
                    model: embedder.fingerprint(),
                    dim: embedder.dim(),
                    next_chunk_id: 1,
                    generation: 0,
                };
                if !contents.docs.is_empty() || !contents.chunks.is_empty() {
                    return Err(Error::Corrupt(
                        "stored documents without a manifest: the knowledge base is damaged".into(),
                    ));
                }
                store.write(vec![m.put()]).await?;
                m
            }
        };
        Self::from_contents(store, opts, manifest, contents).await
    }

    async fn from_contents(
        store: S,
        opts: KbOptions,
        mut manifest: Manifest,
        contents: Contents,
    ) -> Result<Self> {
        let mut skipped = 0;
        let mut docs = HashMap::new();
        let mut metadata = HashMap::new();
        for (key, bytes) in &contents.docs {
            match decode_doc(key, bytes) {
                Some(d) => {
                    metadata.insert(
                        d.id.clone(),
                        serde_json::from_str(&d.metadata).unwrap_or(Value::Object(Map::new())),
                    );
                    docs.insert(d.id.clone(), d);
                }
                None => skipped += 1,
            }
        }
        let mut chunks = HashMap::new();
        let mut live = Vec::new();
        let mut orphans = Vec::new();
        let mut bm25 = Bm25::new();
        for (key, bytes) in &contents.chunks {
            let Some(rec) = decode_chunk(key, bytes) else {
                skipped += 1;
                continue;
            };
            let Some(doc) = docs.get(&rec.doc_id) else {
                orphans.push(key.clone());
                continue;
            };
            let (start, end) = (rec.start as usize, rec.end as usize);
            let vector = bytes_to_f32s(&rec.vector).filter(|v| v.len() == manifest.dim);
            let (Some(vector), Some(text)) = (vector, doc.text.get(start..end)) else {
                skipped += 1;
                continue;
            };
            bm25.insert(rec.id, text);
            live.push((rec.id, Vector::new(vector)));
            manifest.next_chunk_id = manifest.next_chunk_id.max(rec.id + 1);
            chunks.insert(
                rec.id,
                ChunkMeta {
                    doc_id: rec.doc_id,
                    start,
                    end,
                    start16: rec.start16 as usize,
                    end16: rec.end16 as usize,
                },
            );
        }
        let (index, state) =
            VectorIndex::open(manifest.dim, opts.index, live, contents.meta("snapshot"));
        let mut kb = KnowledgeBase {
            store,
            opts,
            manifest,
            docs,
            metadata,
            chunks,
            index,
            bm25,
            snapshot_state: state,
            skipped,
        };
        if !orphans.is_empty() {
            // Cannot come from our own batches; clean up what another writer left.
            let ops = orphans
                .into_iter()
                .map(|k| Op::Delete(Space::Chunks, k))
                .collect();
            kb.store.write(ops).await?;
        }
        if kb.snapshot_state != SnapshotState::Loaded {
            kb.save_snapshot().await;
        }
        Ok(kb)
    }

    /// Writes the base segment (or removes a stored one when there is none). Failure is not an
    /// error: on the next open a missing or stale snapshot is rebuilt from the vectors.
    async fn save_snapshot(&mut self) -> Option<Error> {
        let op = match self.index.snapshot() {
            Some(bytes) => Op::Put(Space::Meta, "snapshot".into(), bytes),
            None => Op::Delete(Space::Meta, "snapshot".into()),
        };
        self.store.write(vec![op]).await.err()
    }

    pub fn options(&self) -> &KbOptions {
        &self.opts
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    fn check_embedder(&self, embedder: &impl Embed) -> Result<()> {
        self.manifest.check(embedder, "the knowledge base")
    }

    /// Adds or replaces documents, all or nothing. Unchanged documents cost nothing; a document
    /// whose title, source or metadata changed is updated without re-embedding.
    pub async fn add(
        &mut self,
        embedder: &impl Embed,
        inputs: Vec<DocInput>,
        progress: Option<Progress<'_>>,
    ) -> Result<AddReport> {
        self.check_embedder(embedder)?;
        let report = |stage: &str, done: usize, total: usize| -> Result<()> {
            match progress {
                Some(p) => p(stage, done, total),
                None => Ok(()),
            }
        };
        // 1. Validate everything before any work.
        let mut seen = HashSet::new();
        let mut prepared = Vec::with_capacity(inputs.len());
        for (i, d) in inputs.into_iter().enumerate() {
            let rec = self.prepare(i, d)?;
            if !seen.insert(rec.id.clone()) {
                return Err(Error::Input(format!(
                    "document id {:?} appears twice in this batch",
                    rec.id
                )));
            }
            prepared.push(rec);
        }
        // 2. Chunk what changed.
        let mut out = AddReport::default();
        let mut plans = Vec::new();
        let total = prepared.len();
        for (n, mut rec) in prepared.into_iter().enumerate() {
            report("chunk", n, total)?;
            out.ids.push(rec.id.clone());
            match self.docs.get(&rec.id) {
                Some(old) if old.hash == rec.hash => {
                    rec.chunk_ids = old.chunk_ids.clone();
                    if old.title == rec.title
                        && old.source == rec.source
                        && old.metadata == rec.metadata
                    {
                        out.unchanged += 1;
                    } else {
                        out.updated += 1;
                        plans.push((rec, Vec::new()));
                    }
                }
                old => {
                    if old.is_some() {
                        out.updated += 1;
                    } else {
                        out.added += 1;
                    }
                    let spans = chunk_text(&rec.text, embedder, &self.opts.chunk)?;
                    if spans.is_empty() {
                        return Err(Error::Input(format!(
                            "document {:?} has no text to index",
                            rec.id
                        )));
                    }
                    plans.push((rec, spans));
                }
            }
        }
        report("chunk", total, total)?;
        // 3. Embed all new chunks in one go (the embedder batches by length).
        let texts: Vec<&str> = plans
            .iter()
            .flat_map(|(r, spans)| spans.iter().map(|s| s.text(&r.text)))
            .collect();
        let mut vectors = Vec::with_capacity(texts.len());
        let step = 64;
        for (n, group) in texts.chunks(step).enumerate() {
            report("embed", n * step, texts.len())?;
            vectors.extend(embedder.embed_texts(group).await?);
        }
        report("embed", texts.len(), texts.len())?;
        if vectors.len() != texts.len() {
            return Err(Error::Output(format!(
                "{} texts gave {} vectors",
                texts.len(),
                vectors.len()
            )));
        }
        for v in &vectors {
            self.index.check(v)?;
        }
        // 4. One batch for the store.
        let mut next_id = self.manifest.next_chunk_id;
        let mut ops = Vec::new();
        let mut new_chunks: Vec<(u64, String, crate::chunk::ChunkSpan, Vec<f32>)> = Vec::new();
        let mut removed: Vec<u64> = Vec::new();
        let mut vec_iter = vectors.into_iter();
        let mut records = Vec::new();
        for (mut rec, spans) in plans {
            if !spans.is_empty() {
                if let Some(old) = self.docs.get(&rec.id) {
                    for &c in &old.chunk_ids {
                        ops.push(Op::Delete(Space::Chunks, chunk_key(c)));
                        removed.push(c);
                    }
                }
                rec.chunk_ids.clear();
                for (ordinal, span) in spans.into_iter().enumerate() {
                    let v = vec_iter.next().expect("one vector per chunk");
                    let id = next_id;
                    next_id += 1;
                    rec.chunk_ids.push(id);
                    let chunk = ChunkRecord {
                        id,
                        doc_id: rec.id.clone(),
                        ordinal: ordinal as u32,
                        start: span.start as u32,
                        end: span.end as u32,
                        start16: span.start16 as u32,
                        end16: span.end16 as u32,
                        vector: f32s_to_bytes(&v),
                    };
                    ops.push(Op::Put(Space::Chunks, chunk_key(id), encode(&chunk)?));
                    new_chunks.push((id, rec.id.clone(), span, v));
                }
            }
            ops.push(Op::Put(Space::Docs, rec.id.clone(), encode(&rec)?));
            records.push(rec);
        }
        out.chunks = new_chunks.len();
        if ops.is_empty() {
            return Ok(out);
        }
        let mut manifest = self.manifest.clone();
        manifest.next_chunk_id = next_id;
        manifest.generation += 1;
        ops.push(manifest.put());
        report("store", 0, 1)?;
        self.store.write(ops).await?;
        let _ = report("store", 1, 1);
        // 5. The store has it: apply in memory (cannot fail now).
        self.manifest = manifest;
        for c in removed {
            self.drop_chunk(c);
        }
        for rec in records {
            self.metadata.insert(
                rec.id.clone(),
                serde_json::from_str(&rec.metadata).unwrap_or(Value::Object(Map::new())),
            );
            self.docs.insert(rec.id.clone(), rec);
        }
        for (id, doc_id, span, v) in new_chunks {
            let text = &self.docs[&doc_id].text[span.start..span.end];
            self.bm25.insert(id, text);
            self.index
                .insert(id, Vector::new(v))
                .expect("checked before the write");
            self.chunks.insert(
                id,
                ChunkMeta {
                    doc_id,
                    start: span.start,
                    end: span.end,
                    start16: span.start16,
                    end16: span.end16,
                },
            );
        }
        if self.index.needs_compaction() {
            let _ = report("index", 0, 1);
            self.after_write().await;
            let _ = report("index", 1, 1);
        }
        Ok(out)
    }

    fn drop_chunk(&mut self, id: u64) {
        self.chunks.remove(&id);
        self.index.remove(id);
        self.bm25.remove(id);
    }

    async fn after_write(&mut self) {
        if self.index.maybe_compact() {
            self.save_snapshot().await;
        }
    }

    fn prepare(&self, i: usize, d: DocInput) -> Result<DocRecord> {
        let text = d.text;
        if text.len() > MAX_DOC_BYTES {
            return Err(Error::Input(format!(
                "document {i} is {} bytes of UTF-8; the limit is {MAX_DOC_BYTES}",
                text.len()
            )));
        }
        if text.trim().is_empty() {
            return Err(Error::Input(format!("document {i} has empty text")));
        }
        let id = match d.id {
            Some(id) => {
                if id.is_empty() || id.len() > MAX_ID_BYTES {
                    return Err(Error::Input(format!(
                        "document {i}: id must be 1 to {MAX_ID_BYTES} bytes"
                    )));
                }
                id
            }
            None => sha256_hex(&[text.as_bytes()], 16),
        };
        let metadata = match d.metadata {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m,
            Some(other) => {
                return Err(Error::Input(format!(
                    "document {i}: metadata must be an object, got {other}"
                )));
            }
        };
        let chunking = format!("{}/{}", self.opts.chunk.max_tokens, self.opts.chunk.overlap);
        let hash = sha256_hex(&[text.as_bytes(), chunking.as_bytes()], 16);
        Ok(DocRecord {
            id,
            title: d.title.unwrap_or_default(),
            source: d.source.unwrap_or_default(),
            text,
            metadata: Value::Object(metadata).to_string(),
            hash,
            chunk_ids: Vec::new(),
        })
    }

    /// Removes documents, all or nothing; returns how many existed.
    pub async fn remove(&mut self, ids: &[String]) -> Result<usize> {
        let mut ops = Vec::new();
        let mut found = Vec::new();
        for id in ids {
            if let Some(d) = self.docs.get(id) {
                ops.push(Op::Delete(Space::Docs, id.clone()));
                ops.extend(
                    d.chunk_ids
                        .iter()
                        .map(|&c| Op::Delete(Space::Chunks, chunk_key(c))),
                );
                found.push(id.clone());
            }
        }
        if found.is_empty() {
            return Ok(0);
        }
        let mut manifest = self.manifest.clone();
        manifest.generation += 1;
        ops.push(manifest.put());
        self.store.write(ops).await?;
        self.manifest = manifest;
        for id in &found {
            if let Some(d) = self.docs.remove(id) {
                for c in d.chunk_ids {
                    self.drop_chunk(c);
                }
            }
            self.metadata.remove(id);
        }
        self.after_write().await;
        Ok(found.len())
    }

    pub fn get(&self, id: &str) -> Option<&DocRecord> {
        self.docs.get(id)
    }

    /// A document's chunks in order: (chunk id, byte start, byte end, UTF-16 start, UTF-16 end).
    pub fn chunks_of(&self, id: &str) -> Vec<(u64, usize, usize, usize, usize)> {
        let Some(d) = self.docs.get(id) else {
            return Vec::new();
        };
        d.chunk_ids
            .iter()
            .filter_map(|c| {
                self.chunks
                    .get(c)
                    .map(|m| (*c, m.start, m.end, m.start16, m.end16))
            })
            .collect()
    }

    pub fn count(&self) -> usize {
        self.docs.len()
    }

    /// Documents sorted by id.
    pub fn list(&self) -> Vec<DocInfo> {
        let mut out: Vec<DocInfo> = self
            .docs
            .values()
            .map(|d| DocInfo {
                id: d.id.clone(),
                title: d.title.clone(),
                source: d.source.clone(),
                metadata: self.metadata.get(&d.id).cloned().unwrap_or(Value::Null),
                chars: crate::chunk::utf16_len(&d.text),
                chunks: d.chunk_ids.len(),
            })
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }

    pub fn stats(&self) -> Stats {
        let IndexStats {
            live,
            base,
            mutable,
            tombstones,
        } = self.index.stats();
        Stats {
            documents: self.docs.len(),
            chunks: live,
            dim: self.manifest.dim,
            model: self.manifest.model.clone(),
            base_segment: base,
            mutable_segment: mutable,
            tombstones,
            vocabulary: self.bm25.vocabulary(),
            snapshot: match &self.snapshot_state {
                SnapshotState::Loaded => "loaded".into(),
                SnapshotState::Missing => "missing".into(),
                SnapshotState::Rejected(why) => format!("rebuilt: {why}"),
            },
            skipped_records: self.skipped,
            generation: self.manifest.generation,
        }
    }

    /// The vector index (for benchmarks and tests).
    pub fn index(&self) -> &VectorIndex {
        &self.index
    }

    /// Rebuilds the base segment now and saves it.
    pub async fn compact(&mut self) -> Result<()> {
        self.index.compact();
        match self.save_snapshot().await {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn allowed(&self, filter: &Filter) -> Option<HashSet<u64>> {
        if filter.is_empty() {
            return None;
        }
        let docs: Vec<&DocRecord> = match &filter.doc_ids {
            Some(ids) => ids.iter().filter_map(|id| self.docs.get(id)).collect(),
            None => self.docs.values().collect(),
        };
        Some(
            docs.into_iter()
                .filter(|d| {
                    let meta = self.metadata.get(&d.id);
                    filter
                        .metadata
                        .iter()
                        .all(|(k, v)| meta.and_then(|m| m.get(k)) == Some(v))
                })
                .flat_map(|d| d.chunk_ids.iter().copied())
                .collect(),
        )
    }

    /// Checks a query and search options.
    pub fn check_search(query: &str, opts: &SearchOptions) -> Result<()> {
        if query.trim().is_empty() {
            return Err(Error::Input("the query is empty".into()));
        }
        if query.len() > MAX_TEXT_BYTES {
            return Err(Error::Input(format!(
                "the query is {} bytes; the limit is {MAX_TEXT_BYTES}",
                query.len()
            )));
        }
        if opts.k == 0 || opts.k > MAX_K {
            return Err(Error::Input(format!(
                "k must be between 1 and {MAX_K}, got {}",
                opts.k
            )));
        }
        if let Some(l) = opts.mmr_lambda
            && !(0.0..=1.0).contains(&l)
        {
            return Err(Error::Input(format!(
                "mmrLambda must be between 0 and 1, got {l}"
            )));
        }
        if let Some(c) = opts.candidates
            && (c < opts.k || c > 1000)
        {
            return Err(Error::Input(format!(
                "candidates must be between k and 1000, got {c}"
            )));
        }
        Ok(())
    }

    /// The best passages for `query`.
    pub async fn search(
        &self,
        embedder: &impl Embed,
        query: &str,
        opts: &SearchOptions,
    ) -> Result<Vec<Hit>> {
        Self::check_search(query, opts)?;
        let qv = match opts.mode {
            Mode::Lexical => None,
            _ => {
                self.check_embedder(embedder)?;
                let v = embedder.embed_texts(&[query]).await?;
                Some(
                    v.into_iter()
                        .next()
                        .ok_or_else(|| Error::Output("no query vector".into()))?,
                )
            }
        };
        Ok(self.search_with_vector(query, qv.as_deref(), opts))
    }

    /// Search with a query vector already computed (`None` for lexical mode).
    pub fn search_with_vector(
        &self,
        query: &str,
        qv: Option<&[f32]>,
        opts: &SearchOptions,
    ) -> Vec<Hit> {
        let allowed = self.allowed(&opts.filter);
        if allowed.as_ref().is_some_and(|a| a.is_empty()) {
            return Vec::new();
        }
        let n = opts.candidates.unwrap_or((4 * opts.k).max(50));
        let vector_hits = match (opts.mode, qv) {
            (Mode::Lexical, _) | (_, None) => Vec::new(),
            (_, Some(q)) => match &allowed {
                Some(a) => self.index.exact_among(q, a.iter().copied(), n),
                None => self.index.search(q, n),
            },
        };
        let lexical_hits = match opts.mode {
            Mode::Vector => Vec::new(),
            _ => {
                let allow = allowed.as_ref().map(|a| move |id: u64| a.contains(&id));
                self.bm25
                    .search(query, n, allow.as_ref().map(|f| f as &dyn Fn(u64) -> bool))
            }
        };
        let fused = fuse(&vector_hits, &lexical_hits, opts.mode);
        let picked: Vec<Scored> = match opts.mmr_lambda {
            Some(lambda) => mmr(fused, opts.k, lambda, &|id| {
                self.index.vector(id).map(|v| v.0.to_vec())
            }),
            None => top(fused, opts.k),
        };
        picked
            .into_iter()
            .filter_map(|s| {
                let c = self.chunks.get(&s.id)?;
                let d = self.docs.get(&c.doc_id)?;
                Some(Hit {
                    doc_id: d.id.clone(),
                    chunk_id: s.id,
                    text: d.text[c.start..c.end].to_string(),
                    start: c.start16,
                    end: c.end16,
                    title: d.title.clone(),
                    source: d.source.clone(),
                    metadata: self.metadata.get(&d.id).cloned().unwrap_or(Value::Null),
                    score: s.fused,
                    scores: HitScores {
                        vector: s.vector,
                        lexical: s.lexical,
                        fused: s.fused,
                        rerank: s.rerank,
                    },
                })
            })
            .collect()
    }

    /// Consumes the knowledge base and gives the store back.
    pub fn into_store(self) -> S {
        self.store
    }
    /// The write counter this copy in memory was loaded at (or last wrote).
    pub fn generation(&self) -> u64 {
        self.manifest.generation
    }

    /// Reads the stored manifest and, when another writer (a second tab, a Worker) changed the
    /// documents since this copy was loaded, reloads everything. Returns whether it reloaded.
    pub async fn refresh(&mut self) -> Result<bool>
    where
        S: Clone,
    {
        let Some(bytes) = self.store.get(Space::Meta, "manifest").await? else {
            return Err(Error::Closed(
                "the knowledge base was deleted (by another tab or Worker)".into(),
            ));
        };
        let stored = Manifest::decode(&bytes, "the knowledge base")?;
        if stored.model != self.manifest.model || stored.dim != self.manifest.dim {
            return Err(Error::ModelMismatch(format!(
                "the knowledge base was replaced by one built with embedding model {}; reopen it with that model",
                stored.model
            )));
        }
        if stored.generation == self.manifest.generation {
            return Ok(false);
        }
        // The manifest that goes with the records read (a write may have come in between).
        let contents = self.store.load().await?;
        let manifest = match contents.meta("manifest") {
            Some(b) => Manifest::decode(b, "the knowledge base")?,
            None => stored,
        };
        *self = Self::from_contents(self.store.clone(), self.opts, manifest, contents).await?;
        Ok(true)
    }

    /// The whole knowledge base as one file (see [`crate::archive`]): the stored records
    /// exactly, with the manifest minus the write counter.
    pub async fn export(&self) -> Result<Vec<u8>> {
        let contents = self.store.load().await?;
        let mut manifest = contents
            .meta("manifest")
            .and_then(|b| Manifest::decode(b, "the knowledge base").ok())
            .unwrap_or_else(|| self.manifest.clone());
        manifest.generation = 0;
        crate::archive::write(&contents, manifest.encode())
    }

    /// Creates the knowledge base in `store` from an [`export`](Self::export) file, in one
    /// write. The file must be intact (E_CORRUPT) and made with `embedder`'s model
    /// (E_MODEL_MISMATCH, E_DIM_MISMATCH). A store that already holds documents is replaced only
    /// with `overwrite` (otherwise E_INPUT); on any error it keeps what it held.
    pub async fn import(
        store: S,
        embedder: &impl Embed,
        opts: KbOptions,
        file: &[u8],
        overwrite: bool,
    ) -> Result<Self> {
        opts.chunk.check(embedder.max_seq_length())?;
        let contents = crate::archive::read(file)?;
        let Some(bytes) = contents.meta("manifest") else {
            return Err(Error::Corrupt("the export file has no manifest".into()));
        };
        let mut manifest = Manifest::decode(bytes, "the export file's")?;
        manifest.check(embedder, "the export file")?;
        check_records(&contents, manifest.dim)?;
        let existing = store.load().await?;
        if !existing.docs.is_empty() && !overwrite {
            return Err(Error::Input(format!(
                "the target knowledge base already holds {} documents; import into a new name or pass overwrite: true",
                existing.docs.len()
            )));
        }
        // One batch: everything old out, the file in, with a write counter past the old one so
        // other tabs see the change.
        let old_generation = existing
            .meta("manifest")
            .and_then(|b| Manifest::decode(b, "the knowledge base").ok())
            .map_or(0, |m| m.generation);
        manifest.generation = old_generation + 1;
        let mut ops: Vec<Op> = existing
            .records()
            .map(|(space, k, _)| Op::Delete(space, k.to_string()))
            .collect();
        ops.extend(
            contents
                .records()
                .filter(|&(space, k, _)| !(space == Space::Meta && k == "manifest"))
                .map(|(space, k, v)| Op::Put(space, k.to_string(), v.to_vec())),
        );
        ops.push(manifest.put());
        store.write(ops).await?;
        Self::from_contents(store, opts, manifest, contents).await
    }
}

/// A stored document record, if it decodes and is stored under its own id.
fn decode_doc(key: &str, bytes: &[u8]) -> Option<DocRecord> {
    postcard::from_bytes::<DocRecord>(bytes)
        .ok()
        .filter(|d| d.id == key)
}

/// A stored chunk record, if it decodes and is stored under its own key.
fn decode_chunk(key: &str, bytes: &[u8]) -> Option<ChunkRecord> {
    postcard::from_bytes::<ChunkRecord>(bytes)
        .ok()
        .filter(|r| chunk_key(r.id) == key)
}

/// Every record of an export decodes, is stored under its own key, belongs to a document, has
/// a vector of the right length and offsets inside its document.
fn check_records(c: &Contents, dim: usize) -> Result<()> {
    let bad = |what: String| Error::Corrupt(format!("the export file is damaged: {what}"));
    let mut docs = HashMap::new();
    for (key, bytes) in &c.docs {
        let d = decode_doc(key, bytes)
            .ok_or_else(|| bad(format!("document record {key:?} does not decode")))?;
        docs.insert(key.as_str(), d);
    }
    for (key, bytes) in &c.chunks {
        let r = decode_chunk(key, bytes)
            .ok_or_else(|| bad(format!("chunk record {key:?} does not decode")))?;
        let Some(d) = docs.get(r.doc_id.as_str()) else {
            return Err(bad(format!("chunk {key} belongs to no document")));
        };
        if r.vector.len() != dim * 4 || d.text.get(r.start as usize..r.end as usize).is_none() {
            return Err(bad(format!("chunk {key} has a wrong vector or offsets")));
        }
    }
    let chunk_keys: HashSet<&str> = c.chunks.iter().map(|(k, _)| k.as_str()).collect();
    for (key, d) in &docs {
        if let Some(missing) = d
            .chunk_ids
            .iter()
            .find(|&&id| !chunk_keys.contains(chunk_key(id).as_str()))
        {
            return Err(bad(format!("document {key:?} lacks its chunk {missing}")));
        }
    }
    Ok(())
}
