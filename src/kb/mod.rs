//! The knowledge base: documents in, passages out, everything persisted through a [`Store`].
//!
//! Memory holds the working set (document texts, chunk offsets, vectors, the vector index and
//! BM25); the store holds the truth. Every change is computed first, written as one atomic batch,
//! and only then applied in memory, so a failed write (quota, a closed tab) changes nothing.
//!
//! - `records`: what is stored (manifest, documents, chunks) and the result types;
//! - `add`: validating, chunking, embedding and writing a batch;
//! - `search`: the retrieval pipeline over the vector index and BM25;
//! - `store`: the [`Store`] trait (IndexedDB in the browser, [`MemoryStore`] here);
//! - `archive`: the export file.

mod add;
pub(crate) mod archive;
mod options;
mod records;
mod search;
mod store;

use std::collections::HashMap;

use serde_json::Value;

pub use add::{AddOptions, MAX_DOC_BYTES, MAX_ID_BYTES};
pub use options::{ImportOptions, KbOptions, KnowledgeBaseOptions, PassageContext};
pub use records::{
    AddReport, DocInfo, DocInput, Manifest, RefreshResult, Stats, StorageEstimate, StoredChunk,
    StoredDocument,
};
pub(crate) use search::check_query;
pub use search::{Filter, Hit, HitScores, MAX_K, SearchOptions};
pub use store::{Contents, MemoryStore, Op, Space, Store};

use crate::embed::Embed;
use crate::error::{Error, Result};
use crate::retrieval::{Bm25, IndexStats, SnapshotState, Vector, VectorIndex};
use crate::text::utf16_len;
use crate::util::bytes_to_f32s;
use records::{check_records, chunk_key, decode_chunk, decode_doc, metadata_of};

struct ChunkMeta {
    doc_id: String,
    start: usize,
    end: usize,
    start16: usize,
    end16: usize,
}

/// A knowledge base over a store, with the embedder that made (and makes) its vectors.
pub struct KnowledgeBase<S: Store, E: Embed> {
    store: S,
    embedder: E,
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

use records::DocRecord;

/// The message of [`Error::Lost`].
const LOST: &str = "this knowledge base existed, but its stored data is gone: the browser \
    deleted its database (Chromium does so when it finds the database's files damaged, after a \
    crash or a power loss), or a script deleted it. Restore it from an export with \
    `LocalRag.import(name, file, { ...options, overwrite: true })`, or start it empty with \
    `LocalRag.destroy(name)`";

impl<S: Store, E: Embed> KnowledgeBase<S, E> {
    /// Opens (or creates) the knowledge base in `store` for `embedder`'s vectors.
    pub async fn open(store: S, embedder: E, opts: KbOptions) -> Result<Self> {
        opts.chunk.check(embedder.passage_tokens())?;
        let contents = store.load().await?;
        let manifest = match contents.meta("manifest") {
            Some(bytes) => {
                let m = Manifest::decode(bytes, "the knowledge base")?;
                m.check(&embedder, "the knowledge base")?;
                // Made before the note existed, or the note was cleared: leave it now.
                if store.marked().await == Some(false) {
                    store.mark().await;
                }
                m
            }
            None => {
                let mut m = Manifest::new(&embedder);
                m.context = opts.context;
                if !contents.docs.is_empty() || !contents.chunks.is_empty() {
                    return Err(Error::Corrupt(
                        "stored documents without a manifest: the knowledge base is damaged".into(),
                    ));
                }
                if store.marked().await == Some(true) {
                    return Err(Error::Lost(LOST.into()));
                }
                store.write(vec![m.put()]).await?;
                store.mark().await;
                m
            }
        };
        Self::from_contents(store, embedder, opts, manifest, contents).await
    }

    async fn from_contents(
        store: S,
        embedder: E,
        mut opts: KbOptions,
        mut manifest: Manifest,
        contents: Contents,
    ) -> Result<Self> {
        // The vectors were embedded with the context the knowledge base was made with.
        opts.context = manifest.context;
        let mut skipped = 0;
        let mut docs = HashMap::new();
        let mut metadata = HashMap::new();
        for (key, bytes) in &contents.docs {
            match decode_doc(key, bytes) {
                Some(d) => {
                    metadata.insert(d.id.clone(), metadata_of(&d));
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
            let (Some(vector), Some(_)) = (vector, doc.text.get(start..end)) else {
                skipped += 1;
                continue;
            };
            bm25.insert(
                rec.id,
                &doc.indexed_text(
                    opts.context,
                    start,
                    end,
                    rec.start16 as usize,
                    rec.end16 as usize,
                ),
            );
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
            embedder,
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

    /// The embedder the vectors come from.
    pub fn embedder(&self) -> &E {
        &self.embedder
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
        let mut with_manifest = ops.clone();
        with_manifest.push(manifest.put());
        match self.store.write(with_manifest).await {
            Ok(()) => {}
            // A full quota refuses any transaction that puts something (here the manifest),
            // however much it frees, and removing is how a user makes room. The deletions go
            // alone (all or nothing, and they need no room), then the new write counter; if that
            // one fails, the documents are gone all the same and the next write moves the
            // counter on.
            Err(Error::Quota(_)) => {
                self.store.write(ops).await?;
                let _ = self.store.write(vec![manifest.put()]).await;
            }
            Err(e) => return Err(e),
        }
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

    /// A stored document with its chunks in order.
    pub fn get(&self, id: &str) -> Option<StoredDocument> {
        let d = self.docs.get(id)?;
        let chunks = d
            .chunk_ids
            .iter()
            .filter_map(|c| {
                self.chunks.get(c).map(|m| {
                    let at = d.locate(m.start, m.start16, m.end16);
                    StoredChunk {
                        id: *c,
                        start: m.start16,
                        end: m.end16,
                        text: d.text[m.start..m.end].to_string(),
                        pages: at.pages,
                        heading_path: at.heading_path,
                    }
                })
            })
            .collect();
        Some(StoredDocument {
            id: d.id.clone(),
            title: d.title.clone(),
            source: d.source.clone(),
            text: d.text.clone(),
            metadata: metadata_of(d),
            chunks,
            structure: d.structure.clone(),
        })
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
                chars: utf16_len(&d.text),
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
            snapshot: self.snapshot_state.clone(),
            skipped_records: self.skipped,
            generation: self.manifest.generation,
            storage: None,
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
        E: Clone,
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
        let embedder = self.embedder.clone();
        *self = Self::from_contents(self.store.clone(), embedder, self.opts, manifest, contents)
            .await?;
        Ok(true)
    }

    /// The whole knowledge base as one file (see the module `archive`): the stored records
    /// exactly, with the manifest minus the write counter.
    pub async fn export(&self) -> Result<Vec<u8>> {
        let contents = self.store.load().await?;
        let mut manifest = contents
            .meta("manifest")
            .and_then(|b| Manifest::decode(b, "the knowledge base").ok())
            .unwrap_or_else(|| self.manifest.clone());
        manifest.generation = 0;
        archive::write(&contents, manifest.encode())
    }

    /// Creates the knowledge base in `store` from an [`export`](Self::export) file, in one
    /// write. The file must be intact (E_CORRUPT) and made with `embedder`'s model
    /// (E_MODEL_MISMATCH, E_DIM_MISMATCH). A store that already holds documents is replaced only
    /// with `overwrite` (otherwise E_INPUT); on any error it keeps what it held.
    pub async fn import(
        store: S,
        embedder: E,
        opts: KbOptions,
        file: &[u8],
        overwrite: bool,
    ) -> Result<Self> {
        opts.chunk.check(embedder.passage_tokens())?;
        let contents = archive::read(file)?;
        let Some(bytes) = contents.meta("manifest") else {
            return Err(Error::Corrupt("the export file has no manifest".into()));
        };
        let mut manifest = Manifest::decode(bytes, "the export file's")?;
        manifest.check(&embedder, "the export file")?;
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
        store.mark().await;
        Self::from_contents(store, embedder, opts, manifest, contents).await
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
}
