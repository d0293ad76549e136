//! Adding documents: validate the batch, chunk what changed, embed the new chunks, write one
//! atomic batch, and only then apply it in memory.

use std::collections::HashSet;

use serde::Deserialize;
use serde_json::{Map, Value};
use ts_rs::TS;

use super::options::PassageContext;
use super::records::{AddReport, ChunkRecord, DocInput, DocRecord, chunk_key, encode, with_header};
use super::store::{Op, Space, Store};
use super::{ChunkMeta, KnowledgeBase};
use crate::embed::{Embed, Role};
use crate::error::{Error, Result};
use crate::hooks::{Hooks, Progress, Stage};
use crate::options::Options;
use crate::retrieval::Vector;
use crate::text::{ChunkSpan, chunk_text};
use crate::util::{f32s_to_bytes, sha256_parts_hex};

/// Largest document accepted, in UTF-8 bytes.
pub const MAX_DOC_BYTES: usize = 16 << 20;
/// Longest document id, in bytes.
pub const MAX_ID_BYTES: usize = 512;
/// Chunks embedded per call to the embedder (and between two progress reports).
const EMBED_STEP: usize = 64;

/// The options of `add`: only the caller's hooks.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct AddOptions {
    /// Called with the progress of each stage.
    #[serde(skip_deserializing)]
    #[ts(optional, type = "(p: Progress) => void")]
    pub on_progress: Option<()>,
    /// Aborting before the write rejects with E_ABORTED and stores nothing.
    #[serde(skip_deserializing)]
    #[ts(optional, type = "AbortSignal")]
    pub signal: Option<()>,
}

impl Options for AddOptions {}

impl DocInput {
    /// Checks the rules every document must meet; `i` is its place in the batch (for the
    /// message).
    pub fn validate(&self, i: usize) -> Result<()> {
        if self.text.len() > MAX_DOC_BYTES {
            return Err(Error::Input(format!(
                "document {i} is {} bytes of UTF-8; the limit is {MAX_DOC_BYTES}",
                self.text.len()
            )));
        }
        if self.text.trim().is_empty() {
            return Err(Error::Input(format!("document {i} has empty text")));
        }
        if let Some(id) = &self.id
            && (id.is_empty() || id.len() > MAX_ID_BYTES)
        {
            return Err(Error::Input(format!(
                "document {i}: id must be 1 to {MAX_ID_BYTES} bytes"
            )));
        }
        if let Some(s) = &self.structure {
            s.check(&self.text, &format!("document {i}"))?;
        }
        match &self.metadata {
            None | Some(Value::Null) | Some(Value::Object(_)) => Ok(()),
            Some(other) => Err(Error::Input(format!(
                "document {i}: metadata must be an object, got {other}"
            ))),
        }
    }
}

impl<S: Store, E: Embed> KnowledgeBase<S, E> {
    /// Adds or replaces documents, all or nothing; see [`KnowledgeBase::add_with`].
    pub async fn add(&mut self, inputs: Vec<DocInput>) -> Result<AddReport> {
        self.add_with(inputs, &mut ()).await
    }

    /// Adds or replaces documents, all or nothing. Unchanged documents cost nothing; a document
    /// whose title, source or metadata changed is updated without re-embedding. `hooks` gets
    /// the progress (an error from it before the `store` stage stops the add with nothing
    /// written) and a pause before each group of chunks is embedded.
    pub async fn add_with(
        &mut self,
        inputs: Vec<DocInput>,
        hooks: &mut impl Hooks,
    ) -> Result<AddReport> {
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
        let mut plans: Vec<(DocRecord, Vec<ChunkSpan>)> = Vec::new();
        let total = prepared.len();
        for (n, mut rec) in prepared.into_iter().enumerate() {
            hooks.progress(Progress::new(Stage::Chunk, n, total))?;
            out.ids.push(rec.id.clone());
            match self.docs.get(&rec.id) {
                // With the title in the context, a new title changes the vectors.
                Some(old)
                    if old.hash == rec.hash
                        && (old.title == rec.title
                            || self.opts.context != PassageContext::TitleAndHeadings) =>
                {
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
                    let spans = chunk_document(&rec, &self.embedder, &self.opts.chunk)?;
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
        hooks.progress(Progress::new(Stage::Chunk, total, total))?;
        // 3. Embed all new chunks, a group at a time, giving the host a turn before each.
        // Each chunk after its title and heading path, the header cut to the tokens the model
        // reads beyond the longest chunk, so that it never pushes the chunk's text out.
        let budget = self
            .embedder
            .passage_tokens()
            .saturating_sub(self.opts.chunk.max_tokens);
        // BM25 indexes the whole header (`indexed`, kept for step 5); located once per chunk.
        let mut texts: Vec<String> = Vec::new();
        let mut indexed: Vec<String> = Vec::new();
        for (r, spans) in &plans {
            for s in spans {
                let text = s.text(&r.text);
                let header = r.context_header(self.opts.context, s.start, s.start16, s.end16);
                let cut = header
                    .as_deref()
                    .map(|h| cut_to_tokens(&self.embedder, h, budget))
                    .transpose()?;
                texts.push(with_header(cut.as_deref(), text));
                indexed.push(with_header(header.as_deref(), text));
            }
        }
        let mut vectors = Vec::with_capacity(texts.len());
        let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
        for (n, group) in texts.chunks(EMBED_STEP).enumerate() {
            hooks.progress(Progress::new(Stage::Embed, n * EMBED_STEP, texts.len()))?;
            hooks.pause().await;
            vectors.extend(self.embedder.embed_texts(group, Role::Passage).await?);
        }
        hooks.progress(Progress::new(Stage::Embed, texts.len(), texts.len()))?;
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
        let mut new_chunks: Vec<(u64, String, ChunkSpan, Vec<f32>, String)> = Vec::new();
        let mut indexed = indexed.into_iter();
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
                    let bm25_text = indexed.next().expect("one indexed text per chunk");
                    new_chunks.push((id, rec.id.clone(), span, v, bm25_text));
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
        hooks.progress(Progress::new(Stage::Store, 0, 1))?;
        hooks.settle().await;
        if hooks.cancelled() {
            return Err(Error::aborted());
        }
        self.store.write(ops).await?;
        // The batch is stored: from here on nothing may fail or stop.
        let _ = hooks.progress(Progress::new(Stage::Store, 1, 1));
        // 5. Apply in memory.
        self.manifest = manifest;
        for c in removed {
            self.drop_chunk(c);
        }
        for rec in records {
            self.metadata
                .insert(rec.id.clone(), super::records::metadata_of(&rec));
            self.docs.insert(rec.id.clone(), rec);
        }
        for (id, doc_id, span, v, bm25_text) in new_chunks {
            self.bm25.insert(id, &bm25_text);
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
            let _ = hooks.progress(Progress::new(Stage::Index, 0, 1));
            self.after_write().await;
            let _ = hooks.progress(Progress::new(Stage::Index, 1, 1));
        }
        Ok(out)
    }

    /// The record a document input becomes (checked; id and hash filled in).
    fn prepare(&self, i: usize, d: DocInput) -> Result<DocRecord> {
        d.validate(i)?;
        let metadata = match d.metadata {
            Some(Value::Object(m)) => m,
            _ => Map::new(),
        };
        let text = d.text;
        let id =
            d.id.unwrap_or_else(|| sha256_parts_hex(&[text.as_bytes()], 16));
        let chunking = format!("{}/{}", self.opts.chunk.max_tokens, self.opts.chunk.overlap);
        let structure = d.structure.filter(|s| !s.is_empty());
        // The structure changes the chunks (cuts at headings and pages): part of the hash. A
        // document without one hashes as before structures existed.
        let shape = structure
            .as_ref()
            .map(|s| serde_json::to_vec(s).expect("a structure encodes"))
            .unwrap_or_default();
        let hash = sha256_parts_hex(&[text.as_bytes(), chunking.as_bytes(), &shape], 16);
        Ok(DocRecord {
            id,
            title: d.title.unwrap_or_default(),
            source: d.source.unwrap_or_default(),
            text,
            metadata: Value::Object(metadata).to_string(),
            hash,
            chunk_ids: Vec::new(),
            structure,
            layout: None,
        }
        .with_layout())
    }
}

/// A document's chunks: the text cut at its headings and at the page starts that begin a line
/// (see [`crate::text::Structure::cuts`]), each part chunked on its own, so that no chunk runs
/// from one section or page into the next. A part that is only a heading joins the next part.
/// `text` cut to its first `max` tokens (with room for the blank line after it).
fn cut_to_tokens(tok: &dyn crate::text::TokenSpans, text: &str, max: usize) -> Result<String> {
    let spans = tok.token_spans(text)?;
    let keep = max.saturating_sub(1);
    if spans.len() <= keep {
        return Ok(text.to_string());
    }
    let end = if keep == 0 { 0 } else { spans[keep - 1].1 };
    Ok(text[..end].trim_end().to_string())
}

fn chunk_document(
    rec: &DocRecord,
    tok: &dyn crate::text::TokenSpans,
    opts: &crate::text::ChunkOptions,
) -> Result<Vec<ChunkSpan>> {
    let text = &rec.text;
    let Some(layout) = &rec.layout else {
        return chunk_text(text, tok, opts);
    };
    let mut bounds = vec![0];
    for cut in layout.cuts(text) {
        let last = *bounds.last().expect("starts with 0");
        let first = last + (text[last..cut].len() - text[last..cut].trim_start().len());
        // A part that is only a heading (nothing under it) runs on into the next.
        let only_heading = layout
            .heading_end_at(first)
            .is_some_and(|e| e <= cut && text[e..cut].trim().is_empty());
        if !only_heading {
            bounds.push(cut);
        }
    }
    bounds.push(text.len());
    let mut out = Vec::new();
    let starts16 = crate::text::utf16_offsets(text, &bounds);
    for (w, part16) in bounds.windows(2).zip(starts16) {
        let (a, b) = (w[0], w[1]);
        if text[a..b].trim().is_empty() {
            continue;
        }
        for mut s in chunk_text(&text[a..b], tok, opts)? {
            s.start += a;
            s.end += a;
            s.start16 += part16;
            s.end16 += part16;
            out.push(s);
        }
    }
    Ok(out)
}
