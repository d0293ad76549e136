//! `KnowledgeBase` for JavaScript: the core knowledge base over IndexedDB, driven by an
//! `Embedder`. Calls are queued (one at a time), so concurrent `add`/`search` calls from a page
//! never interleave inside a batch.

use std::cell::RefCell;
use std::rc::Rc;

use futures_util::lock::Mutex;
use js_sys::{Array, Function, Promise, Reflect};
use serde::Serialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use super::generator::{
    Generator, Inner as GenInner, aborted, aborted_error, callback, drive, generate_params,
    signal_of, yield_to_event_loop,
};
use super::idb::{self, IdbStore};
use super::{Embedder, to_js, to_js_error};
use crate::chunk::ChunkOptions;
use crate::error::{Error, Result};
use crate::index::IndexOptions;
use crate::kb::{DocInput, Filter, KbOptions, SearchOptions};
use crate::retrieve::Mode;

#[wasm_bindgen(typescript_custom_section)]
const TS_KB: &'static str = r#"
export interface KnowledgeBaseOptions {
  /** Most tokens per chunk (default 200; at most the model's maxSeqLength - 2). */
  chunkTokens?: number;
  /** Tokens of whole sentences repeated between consecutive chunks (default 24). */
  chunkOverlap?: number;
  /** Ask the browser to keep this origin's storage (`navigator.storage.persist()`). Default true. */
  persist?: boolean;
  /** Advanced: below this many chunks search is exact and no HNSW is built (default 4096). */
  exactBelow?: number;
  /** Advanced: HNSW candidate list, 16..2048 (default 64), fixed when the base is (re)built. */
  efSearch?: number;
}

export interface DocumentInput {
  /** Default: a hash of the text. Re-adding an id replaces the document. */
  id?: string;
  title?: string;
  /** Where the text came from (file name, URL). */
  source?: string;
  /** Required, non-empty; lone UTF-16 surrogates are refused (E_INPUT). */
  text: string;
  /** A JSON object; `filter.metadata` matches its top-level keys. */
  metadata?: Record<string, unknown>;
}

export interface Progress { stage: 'chunk' | 'embed' | 'store' | 'index'; done: number; total: number; }

export interface AddOptions {
  onProgress?: (p: Progress) => void;
  /** Aborting before the write rejects with E_ABORTED and stores nothing. */
  signal?: AbortSignal;
}

export interface ImportKnowledgeBaseOptions extends KnowledgeBaseOptions {
  /** Replace a knowledge base of that name that holds documents (default false: E_INPUT). */
  overwrite?: boolean;
}

export interface RefreshResult {
  /** True when another tab or Worker had changed the documents and they were reloaded. */
  changed: boolean;
  /** The write counter now loaded. */
  generation: number;
}

export interface AddReport { added: number; updated: number; unchanged: number; chunks: number; ids: string[]; }

export interface SearchFilter { docIds?: string[]; metadata?: Record<string, unknown>; }

export interface SearchOptions {
  /** Passages to return, 1..100 (default 5). */
  k?: number;
  /** Default 'hybrid'. */
  mode?: 'vector' | 'lexical' | 'hybrid';
  filter?: SearchFilter;
  /** Maximal marginal relevance trade-off, 0..1 (default 0.7; 1 = relevance only). */
  mmrLambda?: number;
  /** Set false to skip reranking (default true). */
  rerank?: boolean;
}

export interface Hit {
  docId: string;
  chunkId: number;
  text: string;
  /** UTF-16 offsets: `doc.text.slice(start, end) === text`. */
  start: number;
  end: number;
  title: string;
  source: string;
  metadata: Record<string, unknown>;
  score: number;
  scores: { vector: number | null; lexical: number | null; fused: number; rerank: number };
}

export interface AskOptions extends SamplingOptions {
  /** Passages retrieved, 1..100 (default 5). */
  k?: number;
  /** Default 'hybrid'. */
  mode?: 'vector' | 'lexical' | 'hybrid';
  filter?: SearchFilter;
  /** Maximal marginal relevance trade-off, 0..1 (default 0.7; 1 = relevance only). */
  mmrLambda?: number;
  /** Set false to skip reranking (default true). */
  rerank?: boolean;
  /** Least cosine similarity between question and passage, -1..1 (default 0.25). With no
   * passage above it, the answer says so and the model is not run. */
  minScore?: number;
  /** Tokens the prompt and the answer share (default 2048, at most the model's context). */
  contextTokens?: number;
}

export interface Citation {
  /** The passage's number in the prompt (`[n]` in the answer). */
  n: number;
  docId: string;
  chunkId: number;
  title: string;
  /** UTF-16 offsets of the passage in its document. */
  start: number;
  end: number;
  text: string;
}

export interface Answer {
  answer: string;
  /** Passages the answer cites, in order of first citation. */
  citations: Citation[];
  /** Numbers the answer cites that were never given (dropped from `citations`). */
  invalidCitations: number[];
  /** Every passage given to the model, numbered from 1. */
  passages: Citation[];
  usage: Usage;
  /** null when no passage was relevant and the model did not run. */
  finishReason: FinishReason | null;
  timings: Timings | null;
}

export interface StoredChunk { id: number; start: number; end: number; text: string; }

export interface StoredDocument {
  id: string; title: string; source: string; text: string;
  metadata: Record<string, unknown>; chunks: StoredChunk[];
}

export interface DocumentInfo { id: string; title: string; source: string; metadata: Record<string, unknown>; chars: number; chunks: number; }

export interface KnowledgeBaseStats {
  documents: number; chunks: number; dim: number; model: string;
  baseSegment: number; mutableSegment: number; tombstones: number; vocabulary: number;
  /** What happened to the stored index snapshot on open: 'loaded', 'missing' or 'rebuilt: <why>'. */
  snapshot: string;
  skippedRecords: number;
  /** Counts the writes of documents; another tab's write raises it. */
  generation: number;
  /** `navigator.storage.estimate()` for the whole origin, when available. */
  storage: { usage: number; quota: number; persisted: boolean | null } | null;
}
"#;

struct State {
    kb: crate::kb::KnowledgeBase<IdbStore>,
    embedder: Rc<crate::Embedder>,
}

/// A knowledge base stored in IndexedDB under a name.
#[wasm_bindgen]
pub struct KnowledgeBase {
    state: Rc<Mutex<Option<State>>>,
    name: String,
    generator: Rc<RefCell<Option<Rc<GenInner>>>>,
}

fn get(obj: &JsValue, key: &str) -> JsValue {
    if obj.is_object() {
        Reflect::get(obj, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
    } else {
        JsValue::UNDEFINED
    }
}

fn absent(v: &JsValue) -> bool {
    v.is_undefined() || v.is_null()
}

fn opt_uint(obj: &JsValue, key: &str) -> Result<Option<usize>> {
    let v = get(obj, key);
    if absent(&v) {
        return Ok(None);
    }
    match v.as_f64() {
        Some(n) if n >= 0.0 && n.fract() == 0.0 && n <= 1e9 => Ok(Some(n as usize)),
        _ => Err(Error::Input(format!(
            "option `{key}` must be a non-negative integer"
        ))),
    }
}

fn opt_bool(obj: &JsValue, key: &str) -> Result<Option<bool>> {
    let v = get(obj, key);
    if absent(&v) {
        return Ok(None);
    }
    v.as_bool()
        .map(Some)
        .ok_or_else(|| Error::Input(format!("{key} must be a boolean")))
}

fn opt_str(obj: &JsValue, key: &str) -> Result<Option<String>> {
    let v = get(obj, key);
    if absent(&v) {
        return Ok(None);
    }
    v.as_string()
        .map(Some)
        .ok_or_else(|| Error::Input(format!("`{key}` must be a string")))
}

/// Reads a JS string, refusing lone surrogates (they cannot be stored as UTF-8 without
/// changing the text, and offsets would no longer match the caller's string).
fn text_of(v: &JsValue, what: &str) -> Result<String> {
    let Some(s) = v.dyn_ref::<js_sys::JsString>() else {
        return Err(Error::Input(format!("{what} must be a string")));
    };
    if !s.is_valid_utf16() {
        let units: Vec<u16> = s.iter().collect();
        let at = char::decode_utf16(units.iter().copied())
            .scan(0usize, |pos, r| {
                let here = *pos;
                *pos += r.as_ref().map_or(1, |c| c.len_utf16());
                Some((here, r.is_err()))
            })
            .find(|(_, bad)| *bad)
            .map_or(0, |(p, _)| p);
        return Err(Error::Input(format!(
            "{what} holds a lone UTF-16 surrogate at index {at}; fix or remove it before adding"
        )));
    }
    Ok(String::from(s))
}

fn doc_input(i: usize, v: &JsValue) -> Result<DocInput> {
    if !v.is_object() {
        return Err(Error::Input(format!(
            "document {i} must be an object with a `text`"
        )));
    }
    let text = get(v, "text");
    if absent(&text) {
        return Err(Error::Input(format!("document {i} has no `text`")));
    }
    let text = text_of(&text, &format!("document {i} text"))?;
    let field = |k: &str| -> Result<Option<String>> {
        let f = get(v, k);
        if absent(&f) {
            Ok(None)
        } else {
            text_of(&f, &format!("document {i} {k}")).map(Some)
        }
    };
    let meta = get(v, "metadata");
    let metadata = if absent(&meta) {
        None
    } else {
        if !meta.is_object() || Array::is_array(&meta) {
            return Err(Error::Input(format!(
                "document {i} metadata must be a plain object"
            )));
        }
        Some(
            serde_wasm_bindgen::from_value::<serde_json::Value>(meta).map_err(|e| {
                Error::Input(format!("document {i} metadata is not JSON-like: {e}"))
            })?,
        )
    };
    Ok(DocInput {
        id: field("id")?,
        title: field("title")?,
        source: field("source")?,
        text,
        metadata,
    })
}

fn search_options(o: &JsValue) -> Result<SearchOptions> {
    let mut opts = SearchOptions::default();
    if absent(o) {
        return Ok(opts);
    }
    if !o.is_object() {
        return Err(Error::Input("search options must be an object".into()));
    }
    if let Some(k) = opt_uint(o, "k")? {
        opts.k = k;
    }
    if let Some(m) = opt_str(o, "mode")? {
        opts.mode = Mode::parse(&m).ok_or_else(|| {
            Error::Input(format!(
                "mode `{m}` is not one of 'vector', 'lexical', 'hybrid'"
            ))
        })?;
    }
    let lambda = get(o, "mmrLambda");
    if !absent(&lambda) {
        opts.mmr_lambda = Some(
            lambda
                .as_f64()
                .ok_or_else(|| Error::Input("mmrLambda must be a number".into()))?
                as f32,
        );
    }
    if opt_bool(o, "rerank")? == Some(false) {
        opts.mmr_lambda = None;
    }
    let f = get(o, "filter");
    if !absent(&f) {
        if !f.is_object() {
            return Err(Error::Input("filter must be an object".into()));
        }
        let mut filter = Filter::default();
        let ids = get(&f, "docIds");
        if !absent(&ids) {
            if !Array::is_array(&ids) {
                return Err(Error::Input(
                    "filter.docIds must be an array of strings".into(),
                ));
            }
            filter.doc_ids = Some(
                Array::from(&ids)
                    .iter()
                    .map(|v| {
                        v.as_string().ok_or_else(|| {
                            Error::Input("filter.docIds must be an array of strings".into())
                        })
                    })
                    .collect::<Result<_>>()?,
            );
        }
        let m = get(&f, "metadata");
        if !absent(&m) {
            match serde_wasm_bindgen::from_value::<serde_json::Value>(m) {
                Ok(serde_json::Value::Object(map)) => filter.metadata = map,
                _ => {
                    return Err(Error::Input(
                        "filter.metadata must be a plain object".into(),
                    ));
                }
            }
        }
        opts.filter = filter;
    }
    Ok(opts)
}

/// The embedder as the knowledge base sees it while adding: it yields to the event loop before
/// each batch, so that a page stays responsive and an abort can arrive between batches.
struct Yielding<'a>(&'a crate::Embedder);

impl crate::chunk::TokenSpans for Yielding<'_> {
    fn token_spans(&self, text: &str) -> Result<Vec<(usize, usize)>> {
        self.0.token_spans(text)
    }
}

impl crate::kb::Embed for Yielding<'_> {
    fn fingerprint(&self) -> String {
        self.0.fingerprint().to_string()
    }
    fn dim(&self) -> usize {
        self.0.dim()
    }
    fn max_seq_length(&self) -> usize {
        self.0.max_seq_length()
    }
    async fn embed_texts(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        yield_to_event_loop().await;
        self.0.embed(texts).await
    }
}

/// The options `open` and `import` share, checked against the embedder.
async fn kb_options(o: &JsValue, embedder: &crate::Embedder) -> Result<KbOptions> {
    if !absent(o) && !o.is_object() {
        return Err(Error::Input("options must be an object".into()));
    }
    let mut chunk = ChunkOptions::default();
    chunk.max_tokens = chunk
        .max_tokens
        .min(embedder.max_seq_length().saturating_sub(2));
    if let Some(n) = opt_uint(o, "chunkTokens")? {
        chunk.max_tokens = n;
    }
    if let Some(n) = opt_uint(o, "chunkOverlap")? {
        chunk.overlap = n;
    }
    chunk.check(embedder.max_seq_length())?;
    let mut index = IndexOptions::default();
    if let Some(n) = opt_uint(o, "exactBelow")? {
        index.exact_below = n.max(2);
    }
    if let Some(n) = opt_uint(o, "efSearch")? {
        if !(16..=2048).contains(&n) {
            return Err(Error::Input(format!(
                "efSearch must be between 16 and 2048, got {n}"
            )));
        }
        index.ef_search = n;
    }
    if opt_bool(o, "persist")?.unwrap_or(true) {
        let _ = idb::persist().await;
    }
    Ok(KbOptions { chunk, index })
}

fn closed() -> Error {
    Error::Closed("the knowledge base is closed".into())
}

#[wasm_bindgen]
impl KnowledgeBase {
    /// Opens (or creates) the knowledge base `name` for the embedder's vectors. Fails with
    /// E_MODEL_MISMATCH / E_DIM_MISMATCH when it was built with another model.
    #[wasm_bindgen(js_name = open, unchecked_return_type = "Promise<KnowledgeBase>")]
    pub fn open(
        name: String,
        embedder: &Embedder,
        #[wasm_bindgen(unchecked_param_type = "KnowledgeBaseOptions | undefined")] options: JsValue,
    ) -> Promise {
        let emb = embedder.inner.clone();
        future_to_promise(async move {
            Self::open_inner(name, emb, options)
                .await
                .map(JsValue::from)
                .map_err(|e| to_js_error(&e))
        })
    }

    async fn open_inner(
        name: String,
        embedder: Rc<crate::Embedder>,
        o: JsValue,
    ) -> Result<KnowledgeBase> {
        let opts = kb_options(&o, &embedder).await?;
        let store = IdbStore::open(&name).await?;
        let kb = crate::kb::KnowledgeBase::open(store, &*embedder, opts).await?;
        Ok(Self::wrap(name, kb, embedder))
    }

    fn wrap(
        name: String,
        kb: crate::kb::KnowledgeBase<IdbStore>,
        embedder: Rc<crate::Embedder>,
    ) -> KnowledgeBase {
        KnowledgeBase {
            state: Rc::new(Mutex::new(Some(State { kb, embedder }))),
            name,
            generator: Rc::new(RefCell::new(None)),
        }
    }

    /// Creates (or with `overwrite`, replaces) the knowledge base `name` from an `export()`
    /// file, in one write, and opens it. A damaged file is E_CORRUPT; one made with another
    /// model E_MODEL_MISMATCH / E_DIM_MISMATCH; a name that holds documents E_INPUT.
    #[wasm_bindgen(js_name = import, unchecked_return_type = "Promise<KnowledgeBase>")]
    pub fn import(
        name: String,
        embedder: &Embedder,
        file: js_sys::Uint8Array,
        #[wasm_bindgen(unchecked_param_type = "ImportKnowledgeBaseOptions | undefined")]
        options: JsValue,
    ) -> Promise {
        let emb = embedder.inner.clone();
        future_to_promise(async move {
            let run = async {
                let opts = kb_options(&options, &emb).await?;
                let overwrite = opt_bool(&options, "overwrite")?.unwrap_or(false);
                let bytes = file.to_vec();
                let store = IdbStore::open(&name).await?;
                let kb = match crate::kb::KnowledgeBase::import(
                    store.clone(),
                    &*emb,
                    opts,
                    &bytes,
                    overwrite,
                )
                .await
                {
                    Ok(kb) => kb,
                    Err(e) => {
                        store.close();
                        return Err(e);
                    }
                };
                Ok(JsValue::from(Self::wrap(name, kb, emb)))
            };
            run.await.map_err(|e| to_js_error(&e))
        })
    }

    /// Reloads from IndexedDB when another tab or Worker changed the documents.
    #[wasm_bindgen(unchecked_return_type = "Promise<RefreshResult>")]
    pub fn refresh(&self) -> Promise {
        let state = self.state.clone();
        future_to_promise(async move {
            let run = async {
                let mut guard = state.lock().await;
                let st = guard.as_mut().ok_or_else(closed)?;
                let changed = st.kb.refresh().await?;
                let out = js_sys::Object::new();
                let _ = Reflect::set(&out, &"changed".into(), &changed.into());
                let _ = Reflect::set(
                    &out,
                    &"generation".into(),
                    &(st.kb.generation() as f64).into(),
                );
                Ok(JsValue::from(out))
            };
            run.await.map_err(|e| to_js_error(&e))
        })
    }

    /// The whole knowledge base as one versioned binary file (documents, chunks, vectors, index
    /// snapshot, manifest); `KnowledgeBase.import` reads it back.
    #[wasm_bindgen(unchecked_return_type = "Promise<Uint8Array>")]
    pub fn export(&self) -> Promise {
        let state = self.state.clone();
        future_to_promise(async move {
            let run = async {
                let guard = state.lock().await;
                let st = guard.as_ref().ok_or_else(closed)?;
                let bytes = st.kb.export().await?;
                Ok(JsValue::from(js_sys::Uint8Array::from(bytes.as_slice())))
            };
            run.await.map_err(|e| to_js_error(&e))
        })
    }

    /// The name it was opened with.
    #[wasm_bindgen(getter)]
    pub fn name(&self) -> String {
        self.name.clone()
    }

    /// Adds or replaces documents in one transaction: all are stored, or (on any error) none.
    #[wasm_bindgen(unchecked_return_type = "Promise<AddReport>")]
    pub fn add(
        &self,
        #[wasm_bindgen(unchecked_param_type = "DocumentInput[]")] docs: JsValue,
        #[wasm_bindgen(unchecked_param_type = "AddOptions | undefined")] options: JsValue,
    ) -> Promise {
        let state = self.state.clone();
        future_to_promise(async move {
            let run = async {
                if !Array::is_array(&docs) {
                    return Err(Error::Input("add() takes an array of documents".into()));
                }
                let inputs = Array::from(&docs)
                    .iter()
                    .enumerate()
                    .map(|(i, d)| doc_input(i, &d))
                    .collect::<Result<Vec<_>>>()?;
                if !absent(&options) && !options.is_object() {
                    return Err(Error::Input("add options must be an object".into()));
                }
                let signal = signal_of(&options)?;
                let on_progress = get(&options, "onProgress");
                let callback = if absent(&on_progress) {
                    None
                } else {
                    Some(
                        on_progress
                            .dyn_into::<Function>()
                            .map_err(|_| Error::Input("onProgress must be a function".into()))?,
                    )
                };
                let mut guard = state.lock().await;
                let st = guard.as_mut().ok_or_else(closed)?;
                let report = |stage: &str, done: usize, total: usize| -> Result<()> {
                    if let Some(f) = &callback {
                        let p = js_sys::Object::new();
                        let _ = Reflect::set(&p, &"stage".into(), &stage.into());
                        let _ = Reflect::set(&p, &"done".into(), &(done as f64).into());
                        let _ = Reflect::set(&p, &"total".into(), &(total as f64).into());
                        let _ = f.call1(&JsValue::NULL, &p);
                    }
                    if aborted(&signal) {
                        return Err(aborted_error());
                    }
                    Ok(())
                };
                if aborted(&signal) {
                    return Err(aborted_error());
                }
                let emb = st.embedder.clone();
                let r = st.kb.add(&Yielding(&emb), inputs, Some(&report)).await?;
                to_js(&r)
            };
            run.await.map_err(|e| to_js_error(&e))
        })
    }

    /// Removes a document (or several); resolves to how many existed.
    #[wasm_bindgen(unchecked_return_type = "Promise<number>")]
    pub fn remove(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string | string[]")] ids: JsValue,
    ) -> Promise {
        let state = self.state.clone();
        future_to_promise(async move {
            let run = async {
                let ids: Vec<String> = if let Some(s) = ids.as_string() {
                    vec![s]
                } else if Array::is_array(&ids) {
                    Array::from(&ids)
                        .iter()
                        .map(|v| {
                            v.as_string().ok_or_else(|| {
                                Error::Input("remove() takes an id or an array of ids".into())
                            })
                        })
                        .collect::<Result<_>>()?
                } else {
                    return Err(Error::Input(
                        "remove() takes an id or an array of ids".into(),
                    ));
                };
                let mut guard = state.lock().await;
                let st = guard.as_mut().ok_or_else(closed)?;
                Ok(JsValue::from(st.kb.remove(&ids).await? as f64))
            };
            run.await.map_err(|e| to_js_error(&e))
        })
    }

    /// One document with its chunks, or `undefined`.
    #[wasm_bindgen(unchecked_return_type = "Promise<StoredDocument | undefined>")]
    pub fn get(&self, id: String) -> Promise {
        let state = self.state.clone();
        future_to_promise(async move {
            let guard = state.lock().await;
            let st = guard
                .as_ref()
                .ok_or_else(closed)
                .map_err(|e| to_js_error(&e))?;
            let Some(d) = st.kb.get(&id) else {
                return Ok(JsValue::UNDEFINED);
            };
            #[derive(Serialize)]
            struct C<'a> {
                id: u64,
                start: usize,
                end: usize,
                text: &'a str,
            }
            #[derive(Serialize)]
            struct D<'a> {
                id: &'a str,
                title: &'a str,
                source: &'a str,
                text: &'a str,
                metadata: serde_json::Value,
                chunks: Vec<C<'a>>,
            }
            let chunks = st
                .kb
                .chunks_of(&id)
                .into_iter()
                .map(|(cid, a, b, s16, e16)| C {
                    id: cid,
                    start: s16,
                    end: e16,
                    text: &d.text[a..b],
                })
                .collect();
            let out = D {
                id: &d.id,
                title: &d.title,
                source: &d.source,
                text: &d.text,
                metadata: serde_json::from_str(&d.metadata).unwrap_or(serde_json::Value::Null),
                chunks,
            };
            to_js(&out).map_err(|e| to_js_error(&e))
        })
    }

    /// Every document (without text), sorted by id.
    #[wasm_bindgen(unchecked_return_type = "Promise<DocumentInfo[]>")]
    pub fn list(&self) -> Promise {
        let state = self.state.clone();
        future_to_promise(async move {
            let guard = state.lock().await;
            let st = guard
                .as_ref()
                .ok_or_else(closed)
                .map_err(|e| to_js_error(&e))?;
            to_js(&st.kb.list()).map_err(|e| to_js_error(&e))
        })
    }

    /// The best passages for a question.
    #[wasm_bindgen(unchecked_return_type = "Promise<Hit[]>")]
    pub fn search(
        &self,
        query: JsValue,
        #[wasm_bindgen(unchecked_param_type = "SearchOptions | undefined")] options: JsValue,
    ) -> Promise {
        let state = self.state.clone();
        future_to_promise(async move {
            let run = async {
                let query = text_of(&query, "the query")?;
                let opts = search_options(&options)?;
                let guard = state.lock().await;
                let st = guard.as_ref().ok_or_else(closed)?;
                let hits = st.kb.search(&*st.embedder, &query, &opts).await?;
                to_js(&hits)
            };
            run.await.map_err(|e| to_js_error(&e))
        })
    }

    /// The generator `ask` uses.
    #[wasm_bindgen(js_name = setGenerator)]
    pub fn set_generator(&self, generator: &Generator) {
        *self.generator.borrow_mut() = Some(generator.inner.clone());
    }

    /// Answers a question from the stored documents: retrieves passages, has the generator
    /// answer from them citing `[n]`, and maps the citations back to documents. Without a
    /// relevant passage the answer says so without running the model. E_NO_GENERATOR before
    /// `setGenerator`.
    #[wasm_bindgen(unchecked_return_type = "Promise<Answer>")]
    pub fn ask(
        &self,
        question: JsValue,
        #[wasm_bindgen(unchecked_param_type = "AskOptions | undefined")] options: JsValue,
    ) -> Promise {
        let state = self.state.clone();
        let generator = self.generator.borrow().clone();
        future_to_promise(async move {
            let run = async {
                let question = text_of(&question, "the question")?;
                let gen_inner = generator.ok_or_else(|| {
                    Error::NoGenerator(
                        "no generator: call setGenerator(await Generator.load(...)) first".into(),
                    )
                })?;
                let search = search_options(&options)?;
                let defaults = crate::rag::AskOptions::default();
                let mut params = generate_params(&options, defaults.max_tokens)?;
                let min_score = match get(&options, "minScore") {
                    v if absent(&v) => defaults.min_score,
                    v => match v.as_f64() {
                        Some(x) if (-1.0..=1.0).contains(&x) => x as f32,
                        _ => {
                            return Err(Error::Input(
                                "minScore must be a number from -1 to 1".into(),
                            ));
                        }
                    },
                };
                let context = opt_uint(&options, "contextTokens")?
                    .unwrap_or(defaults.context_tokens)
                    .min(gen_inner.generator.context_length());
                let on_token = callback(&options, "onToken")?;
                let signal = signal_of(&options)?;
                // Retrieval holds the knowledge base; generation only the model.
                let hits = {
                    let guard = state.lock().await;
                    let st = guard.as_ref().ok_or_else(closed)?;
                    st.kb.search(&*st.embedder, &question, &search).await?
                };
                let hits = crate::rag::relevant(&hits, min_score);
                if hits.is_empty() {
                    let a = to_js(&crate::rag::no_answer())?;
                    let _ = Reflect::set(&a, &"timings".into(), &JsValue::NULL);
                    if let Some(f) = &on_token {
                        let _ = f.call1(&JsValue::NULL, &JsValue::from_str(crate::rag::NO_ANSWER));
                    }
                    return Ok(a);
                }
                let prompt = crate::rag::build_prompt(
                    gen_inner.generator.tokenizer(),
                    &question,
                    &hits,
                    params.max_tokens,
                    context,
                )?;
                params.context_tokens = Some(context);
                let _busy = gen_inner.busy.lock().await;
                if aborted(&signal) {
                    return Err(aborted_error());
                }
                let mut g = gen_inner.generator.start(prompt.ids.clone(), params)?;
                let timings = drive(&mut g, &on_token, &signal).await?;
                let answer = crate::rag::answer(&prompt, &g);
                let out = to_js(&answer)?;
                let _ = Reflect::set(&out, &"timings".into(), &to_js(&timings)?);
                Ok(out)
            };
            run.await.map_err(|e| to_js_error(&e))
        })
    }

    /// Counts, index layout, snapshot state and the origin's storage estimate.
    #[wasm_bindgen(unchecked_return_type = "Promise<KnowledgeBaseStats>")]
    pub fn stats(&self) -> Promise {
        let state = self.state.clone();
        future_to_promise(async move {
            let run = async {
                let stats = {
                    let guard = state.lock().await;
                    guard.as_ref().ok_or_else(closed)?.kb.stats()
                };
                let out = to_js(&stats)?;
                let storage = match idb::estimate().await {
                    Some((usage, quota)) => {
                        let s = js_sys::Object::new();
                        let _ = Reflect::set(&s, &"usage".into(), &usage.into());
                        let _ = Reflect::set(&s, &"quota".into(), &quota.into());
                        let p = idb::persisted().await.map_or(JsValue::NULL, JsValue::from);
                        let _ = Reflect::set(&s, &"persisted".into(), &p);
                        s.into()
                    }
                    None => JsValue::NULL,
                };
                let _ = Reflect::set(&out, &"storage".into(), &storage);
                Ok(out)
            };
            run.await.map_err(|e: Error| to_js_error(&e))
        })
    }

    /// Closes the database connection; later calls fail with E_CLOSED.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn close(&self) -> Promise {
        let state = self.state.clone();
        future_to_promise(async move {
            if let Some(st) = state.lock().await.take() {
                st.kb.into_store().close();
            }
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Closes and deletes the knowledge base and all it stored.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn destroy(&self) -> Promise {
        let state = self.state.clone();
        let name = self.name.clone();
        future_to_promise(async move {
            if let Some(st) = state.lock().await.take() {
                st.kb.into_store().close();
            }
            IdbStore::delete(&name)
                .await
                .map(|_| JsValue::UNDEFINED)
                .map_err(|e| to_js_error(&e))
        })
    }

    /// Deletes a knowledge base by name (close open instances first).
    #[wasm_bindgen(js_name = destroyByName, unchecked_return_type = "Promise<void>")]
    pub fn destroy_by_name(name: String) -> Promise {
        future_to_promise(async move {
            IdbStore::delete(&name)
                .await
                .map(|_| JsValue::UNDEFINED)
                .map_err(|e| to_js_error(&e))
        })
    }
}
