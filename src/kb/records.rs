//! What a knowledge base stores, and what it gives back: the records of the store (manifest,
//! documents, chunks), their encoding and checks, and the result types of the API.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use ts_rs::TS;

use super::options::PassageContext;
use super::store::{Contents, Op, Space};
use crate::embed::Embed;
use crate::error::{Error, Result};
use crate::retrieval::SnapshotState;
use crate::text::{Layout, Location, Structure};

/// Version of the stored layout; a base written by a newer layout is refused.
pub const FORMAT: u32 = 1;

/// A document as the caller gives it.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, TS)]
#[ts(rename = "DocumentInput")]
pub struct DocInput {
    /// Default: a hash of the text. Re-adding an id replaces the document.
    #[serde(default)]
    #[ts(optional)]
    pub id: Option<String>,
    #[serde(default)]
    #[ts(optional)]
    pub title: Option<String>,
    /// Where the text came from (a file name, a URL): shown with citations.
    #[serde(default)]
    #[ts(optional)]
    pub source: Option<String>,
    /// Required, non-empty; lone UTF-16 surrogates are refused (E_INPUT).
    pub text: String,
    /// A JSON object; `filter.metadata` matches its top-level keys.
    #[serde(default)]
    #[ts(optional, type = "Record<string, unknown>")]
    pub metadata: Option<Value>,
    /// Where the pages begin and the headings stand (UTF-16 offsets into `text`), as
    /// `localrag/loaders` gives it: chunks do not run across headings or page starts, and
    /// hits and citations say their pages and heading path.
    #[serde(default)]
    #[ts(optional)]
    pub structure: Option<Structure>,
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
    /// SHA-256 of the text, its structure and the chunking that produced the chunks.
    pub hash: String,
    pub chunk_ids: Vec<u64>,
    /// Last, so that a record of the first layout (without it) still reads, and this layout's
    /// records read in that one (postcard ignores what follows).
    pub structure: Option<Structure>,
    /// The structure resolved against the text (not stored: made when the record is made or
    /// read, see [`DocRecord::with_layout`]).
    #[serde(skip)]
    pub(crate) layout: Option<Layout>,
}

/// A document record of the first layout (before documents had a structure).
#[derive(Deserialize)]
#[cfg_attr(test, derive(Serialize, PartialEq, Debug))]
struct DocRecordV1 {
    id: String,
    title: String,
    source: String,
    text: String,
    metadata: String,
    hash: String,
    chunk_ids: Vec<u64>,
}

impl From<DocRecordV1> for DocRecord {
    fn from(d: DocRecordV1) -> DocRecord {
        DocRecord {
            id: d.id,
            title: d.title,
            source: d.source,
            text: d.text,
            metadata: d.metadata,
            hash: d.hash,
            chunk_ids: d.chunk_ids,
            structure: None,
            layout: None,
        }
    }
}

/// A passage as the embedder and BM25 read it: its context header (if any), a blank line, its
/// text. The one place that joins them.
pub(crate) fn with_header(header: Option<&str>, text: &str) -> String {
    match header {
        Some(h) if !h.is_empty() => format!("{h}\n\n{text}"),
        _ => text.to_string(),
    }
}

impl DocRecord {
    /// The record with its structure resolved against its text.
    pub(crate) fn with_layout(mut self) -> DocRecord {
        self.layout = self.structure.as_ref().and_then(|s| s.layout(&self.text));
        self
    }

    /// The title and heading path above the passage at bytes `start..` (UTF-16
    /// `start16..end16`) as `context` asks, joined by " › "; `None` when there is nothing.
    pub(crate) fn context_header(
        &self,
        context: PassageContext,
        start: usize,
        start16: usize,
        end16: usize,
    ) -> Option<String> {
        let mut head: Vec<&str> = Vec::new();
        if context == PassageContext::TitleAndHeadings && !self.title.trim().is_empty() {
            head.push(self.title.trim());
        }
        let at;
        if context != PassageContext::None {
            at = self.locate(start, start16, end16);
            head.extend(at.heading_path.iter().map(|h| h.trim()));
        }
        (!head.is_empty()).then(|| head.join(" › "))
    }

    /// What BM25 indexes for the passage at bytes `start..end`: its context header, then its
    /// text.
    pub(crate) fn indexed_text(
        &self,
        context: PassageContext,
        start: usize,
        end: usize,
        start16: usize,
        end16: usize,
    ) -> String {
        with_header(
            self.context_header(context, start, start16, end16)
                .as_deref(),
            &self.text[start..end],
        )
    }

    /// Where the passage at bytes `start..` (UTF-16 `start16..end16`) of the text stands.
    pub(crate) fn locate(&self, start: usize, start16: usize, end16: usize) -> Location {
        self.layout
            .as_ref()
            .map(|l| l.locate(&self.text, start, start16, end16))
            .unwrap_or_default()
    }
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
    #[serde(with = "serde_bytes")]
    pub vector: Vec<u8>,
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
    /// What the chunks were embedded and indexed with besides their text; absent (none) in
    /// knowledge bases made before it existed.
    #[serde(
        default = "no_context",
        skip_serializing_if = "PassageContext::is_none"
    )]
    pub context: PassageContext,
}

fn no_context() -> PassageContext {
    PassageContext::None
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Manifest {
    /// A new knowledge base's manifest for `embedder`'s vectors.
    pub(crate) fn new(embedder: &impl Embed) -> Manifest {
        Manifest {
            format: FORMAT,
            model: embedder.fingerprint(),
            dim: embedder.dim(),
            next_chunk_id: 1,
            generation: 0,
            context: PassageContext::default(),
        }
    }

    /// Reads a stored or exported manifest; `what` names it in the error.
    pub(crate) fn decode(bytes: &[u8], what: &str) -> Result<Manifest> {
        serde_json::from_slice(bytes)
            .map_err(|e| Error::Corrupt(format!("{what} manifest is damaged: {e}")))
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("manifest encodes")
    }

    /// The operation that stores it.
    pub(crate) fn put(&self) -> Op {
        Op::Put(Space::Meta, "manifest".into(), self.encode())
    }

    /// Whether vectors of `embedder` may join what this manifest describes (`what`: "the
    /// knowledge base", "the export file").
    pub(crate) fn check(&self, embedder: &impl Embed, what: &str) -> Result<()> {
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

/// The store key of a chunk.
pub(crate) fn chunk_key(id: u64) -> String {
    format!("{id:016x}")
}

/// A record in the store's binary encoding.
pub(crate) fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>> {
    postcard::to_stdvec(v).map_err(|e| Error::Storage(format!("could not encode a record: {e}")))
}

/// A stored document record, if it decodes and is stored under its own id.
pub(crate) fn decode_doc(key: &str, bytes: &[u8]) -> Option<DocRecord> {
    postcard::from_bytes::<DocRecord>(bytes)
        .ok()
        .or_else(|| {
            postcard::from_bytes::<DocRecordV1>(bytes)
                .ok()
                .map(DocRecord::from)
        })
        .filter(|d| d.id == key)
        .map(DocRecord::with_layout)
}

/// A stored chunk record, if it decodes and is stored under its own key.
pub(crate) fn decode_chunk(key: &str, bytes: &[u8]) -> Option<ChunkRecord> {
    postcard::from_bytes::<ChunkRecord>(bytes)
        .ok()
        .filter(|r| chunk_key(r.id) == key)
}

/// The metadata of a stored document as a JSON value (an empty object when unreadable).
pub(crate) fn metadata_of(d: &DocRecord) -> Value {
    serde_json::from_str(&d.metadata).unwrap_or(Value::Object(Default::default()))
}

/// Every record of an export decodes, is stored under its own key, belongs to a document, has
/// a vector of the right length and offsets inside its document.
pub(crate) fn check_records(c: &Contents, dim: usize) -> Result<()> {
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

/// What an `add` did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct AddReport {
    pub added: usize,
    pub updated: usize,
    pub unchanged: usize,
    /// Chunks newly embedded.
    pub chunks: usize,
    pub ids: Vec<String>,
}

/// A document without its text, for listings.
#[derive(Clone, Debug, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(rename = "DocumentInfo")]
pub struct DocInfo {
    pub id: String,
    pub title: String,
    pub source: String,
    #[ts(type = "Record<string, unknown>")]
    pub metadata: Value,
    /// Length of the text in UTF-16 code units.
    pub chars: usize,
    pub chunks: usize,
}

/// One chunk of a stored document.
#[derive(Clone, Debug, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct StoredChunk {
    pub id: u64,
    /// UTF-16 offsets into the document's text.
    pub start: usize,
    pub end: usize,
    pub text: String,
    /// First and last page of the chunk (documents with pages).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub pages: Option<[u32; 2]>,
    /// The headings above the chunk, outermost first (empty for a document without headings).
    pub heading_path: Vec<String>,
}

/// A stored document with its chunks.
#[derive(Clone, Debug, PartialEq, Serialize, TS)]
pub struct StoredDocument {
    pub id: String,
    pub title: String,
    pub source: String,
    pub text: String,
    #[ts(type = "Record<string, unknown>")]
    pub metadata: Value,
    pub chunks: Vec<StoredChunk>,
    /// Its pages and headings, as given to `add`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub structure: Option<Structure>,
}

/// Counts and state.
#[derive(Clone, Debug, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(rename = "KnowledgeBaseStats")]
pub struct Stats {
    pub documents: usize,
    pub chunks: usize,
    pub dim: usize,
    pub model: String,
    pub base_segment: usize,
    pub mutable_segment: usize,
    pub tombstones: usize,
    pub vocabulary: usize,
    /// What happened to the stored index snapshot on open: 'loaded', 'missing' or
    /// 'rebuilt: <why>'.
    pub snapshot: SnapshotState,
    /// Records that could not be decoded on open and were left out.
    pub skipped_records: usize,
    /// Counts the writes of documents; another tab's write raises it.
    pub generation: u64,
    /// `navigator.storage.estimate()` for the whole origin, when available (filled in by the
    /// browser layer).
    pub storage: Option<StorageEstimate>,
}

/// The origin's storage use, as the browser estimates it.
#[derive(Clone, Debug, PartialEq, Serialize, TS)]
pub struct StorageEstimate {
    pub usage: f64,
    pub quota: f64,
    #[ts(type = "boolean | null")]
    pub persisted: Option<bool>,
}

/// What `refresh` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, TS)]
pub struct RefreshResult {
    /// True when another tab or Worker had changed the documents and they were reloaded.
    pub changed: bool,
    /// The write counter now loaded.
    pub generation: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::{Heading, PageStart};

    /// Records of the first layout (no structure) read as documents without one, and this
    /// layout's records read in the first one (what an older localrag in another tab sees).
    #[test]
    fn document_records_of_both_layouts_read() {
        let v1 = DocRecordV1 {
            id: "a".into(),
            title: "T".into(),
            source: "s".into(),
            text: "Hello.".into(),
            metadata: "{}".into(),
            hash: "h".into(),
            chunk_ids: vec![1, 2],
        };
        let d = decode_doc("a", &postcard::to_stdvec(&v1).unwrap()).unwrap();
        assert_eq!(
            (d.text.as_str(), d.chunk_ids.clone(), d.structure.clone()),
            ("Hello.", vec![1, 2], None)
        );
        let mut now = d.clone();
        now.structure = Some(Structure {
            pages: vec![PageStart {
                number: 3,
                start: 0,
            }],
            headings: vec![Heading {
                level: 1,
                start: 0,
                end: 5,
            }],
        });
        let now = now.with_layout();
        assert!(now.layout.is_some());
        let bytes = encode(&now).unwrap();
        assert_eq!(decode_doc("a", &bytes), Some(now));
        let old: DocRecordV1 = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(old, v1);
    }
}
