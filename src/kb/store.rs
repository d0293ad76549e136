//! Persistence behind a small trait: three key spaces of byte values, loaded whole on open and
//! written in atomic batches. [`MemoryStore`] serves native tests and the CLI; the browser layer
//! implements the same trait on IndexedDB (one object store per space, one readwrite transaction
//! per batch).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};

/// The key spaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Space {
    /// Manifest and index snapshot.
    Meta,
    /// One record per document.
    Docs,
    /// One record per chunk (offsets and vector).
    Chunks,
}

impl Space {
    pub const ALL: [Space; 3] = [Space::Meta, Space::Docs, Space::Chunks];

    /// The object store name in IndexedDB.
    pub fn name(self) -> &'static str {
        match self {
            Space::Meta => "meta",
            Space::Docs => "docs",
            Space::Chunks => "chunks",
        }
    }
}

/// One operation of a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    Put(Space, String, Vec<u8>),
    Delete(Space, String),
}

impl Op {
    pub fn bytes(&self) -> usize {
        match self {
            Op::Put(_, k, v) => k.len() + v.len(),
            Op::Delete(_, k) => k.len(),
        }
    }
}

/// Everything a store holds, by space, sorted by key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Contents {
    pub meta: Vec<(String, Vec<u8>)>,
    pub docs: Vec<(String, Vec<u8>)>,
    pub chunks: Vec<(String, Vec<u8>)>,
}

impl Contents {
    /// Every record with its space, meta first.
    pub fn records(&self) -> impl Iterator<Item = (Space, &str, &[u8])> {
        [
            (Space::Meta, &self.meta),
            (Space::Docs, &self.docs),
            (Space::Chunks, &self.chunks),
        ]
        .into_iter()
        .flat_map(|(space, list)| {
            list.iter()
                .map(move |(k, v)| (space, k.as_str(), v.as_slice()))
        })
    }

    pub fn meta(&self, key: &str) -> Option<&[u8]> {
        self.meta
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_slice())
    }
}

/// Where a knowledge base keeps its data.
///
/// `write` is atomic: after it returns an error, the store holds exactly what it held before.
#[allow(async_fn_in_trait)]
pub trait Store {
    /// Reads everything.
    async fn load(&self) -> Result<Contents>;
    /// Applies all operations, or none.
    async fn write(&self, ops: Vec<Op>) -> Result<()>;
    /// Reads one record (the default reads everything; stores override it).
    async fn get(&self, space: Space, key: &str) -> Result<Option<Vec<u8>>> {
        let c = self.load().await?;
        Ok(c.records()
            .find(|&(s, k, _)| s == space && k == key)
            .map(|(_, _, v)| v.to_vec()))
    }
    /// Whether the note that this knowledge base exists, kept outside the store, is there;
    /// `None` where the platform keeps no such note or it cannot be read. A store whose data is
    /// gone while its note is there was deleted by something else than `destroy` — in a
    /// browser, Chromium deleting an IndexedDB database it found damaged after a crash — and
    /// `open` says so ([`Error::Lost`]) instead of starting empty.
    async fn marked(&self) -> Option<bool> {
        None
    }
    /// Leaves that note (best effort: without it, a lost store is not noticed).
    async fn mark(&self) {}
    /// Deletes everything this store holds (the store stays usable).
    async fn clear(&self) -> Result<()> {
        let c = self.load().await?;
        let ops = c
            .records()
            .map(|(space, k, _)| Op::Delete(space, k.to_string()))
            .collect();
        self.write(ops).await
    }
}

type Spaces = BTreeMap<Space, BTreeMap<String, Vec<u8>>>;

/// An in-memory store. Clones share the same data, like two handles on one database. A quota
/// can be set to see how a knowledge base behaves when storage runs out.
#[derive(Clone, Default)]
pub struct MemoryStore {
    data: Arc<Mutex<Spaces>>,
    quota: Arc<Mutex<Option<usize>>>,
    /// The note that the knowledge base exists (see [`Store::marked`]).
    marker: Arc<Mutex<bool>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes of keys and values held.
    pub fn bytes(&self) -> usize {
        let data = self.data.lock().unwrap_or_else(|e| e.into_inner());
        data.values()
            .flat_map(|m| m.iter())
            .map(|(k, v)| k.len() + v.len())
            .sum()
    }

    /// Makes writes fail with [`Error::Quota`] when what they put does not fit in `bytes` beside
    /// what is stored (see `write`).
    pub fn set_quota(&self, bytes: Option<usize>) {
        *self.quota.lock().unwrap_or_else(|e| e.into_inner()) = bytes;
    }

    /// Deletes all data but not the note that it existed: what Chromium does to an IndexedDB
    /// database it finds damaged when it opens it.
    pub fn wipe(&self) {
        self.data.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// Deletes the note, as `destroy` does after deleting the data.
    pub fn unmark(&self) {
        *self.marker.lock().unwrap_or_else(|e| e.into_inner()) = false;
    }

    /// Direct access for tests that damage stored data.
    pub fn poke(&self, space: Space, key: &str, value: Option<Vec<u8>>) {
        let mut data = self.data.lock().unwrap_or_else(|e| e.into_inner());
        let m = data.entry(space).or_default();
        match value {
            Some(v) => {
                m.insert(key.to_string(), v);
            }
            None => {
                m.remove(key);
            }
        }
    }
}

impl Store for MemoryStore {
    async fn marked(&self) -> Option<bool> {
        Some(*self.marker.lock().unwrap_or_else(|e| e.into_inner()))
    }

    async fn mark(&self) {
        *self.marker.lock().unwrap_or_else(|e| e.into_inner()) = true;
    }

    async fn load(&self) -> Result<Contents> {
        let data = self.data.lock().unwrap_or_else(|e| e.into_inner());
        let list = |s: Space| -> Vec<(String, Vec<u8>)> {
            data.get(&s)
                .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default()
        };
        Ok(Contents {
            meta: list(Space::Meta),
            docs: list(Space::Docs),
            chunks: list(Space::Chunks),
        })
    }

    async fn write(&self, ops: Vec<Op>) -> Result<()> {
        let mut data = self.data.lock().unwrap_or_else(|e| e.into_inner());
        // Apply to a copy, then swap: all or nothing.
        let mut next = data.clone();
        let mut put = 0;
        for op in ops {
            match op {
                Op::Put(s, k, v) => {
                    put += k.len() + v.len();
                    next.entry(s).or_default().insert(k, v);
                }
                Op::Delete(s, k) => {
                    if let Some(m) = next.get_mut(&s) {
                        m.remove(&k);
                    }
                }
            }
        }
        // Like Chromium's IndexedDB: a transaction that puts anything must find room for all it
        // puts besides what is stored, however much it deletes; one that only deletes always
        // commits.
        if let Some(quota) = *self.quota.lock().unwrap_or_else(|e| e.into_inner()) {
            let used: usize = data
                .values()
                .flat_map(|m| m.iter())
                .map(|(k, v)| k.len() + v.len())
                .sum();
            if put > 0 && used + put > quota {
                return Err(Error::Quota(format!(
                    "storage quota exceeded ({} bytes needed, {quota} allowed); nothing of this \
                     write was stored",
                    used + put
                )));
            }
        }
        *data = next;
        Ok(())
    }
}
