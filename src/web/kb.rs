//! `KnowledgeBase` for JavaScript: the core knowledge base over IndexedDB, with its embedder.
//! Calls are queued (one at a time), so concurrent `add`/`search` calls from a page never
//! interleave inside a batch; `ask` holds the knowledge base only while it retrieves.

use std::cell::RefCell;
use std::rc::Rc;

use futures_util::lock::Mutex;
use js_sys::{Array, Promise};
use wasm_bindgen::prelude::*;

use super::embedder::Embedder;
use super::generator::{Generator, Inner as GenInner};
use super::idb::{self, IdbStore};
use super::options::{JsHooks, read, text_of};
use super::{promise, to_js};
use crate::error::{Error, Result};
use crate::kb::{
    AddOptions, DocInput, ImportOptions, KnowledgeBaseOptions, RefreshResult, SearchOptions,
    StorageEstimate,
};
use crate::rag::AskOptions;

type Kb = crate::kb::KnowledgeBase<IdbStore, Rc<crate::Embedder>>;

/// A knowledge base stored in IndexedDB under a name.
#[wasm_bindgen]
pub struct KnowledgeBase {
    state: Rc<Mutex<Option<Kb>>>,
    name: String,
    generator: Rc<RefCell<Option<Rc<GenInner>>>>,
}

/// The fields of a document given to `add` (`DocInput`'s).
const DOC_FIELDS: [&str; 6] = ["id", "title", "source", "text", "metadata", "structure"];

/// A document of the `docs` argument of `add`.
fn doc_input(i: usize, v: &JsValue) -> Result<DocInput> {
    if !v.is_object() || Array::is_array(v) {
        return Err(Error::Input(format!(
            "document {i} must be an object with a `text`"
        )));
    }
    for key in js_sys::Object::keys(v.unchecked_ref::<js_sys::Object>()).iter() {
        let key = key.as_string().unwrap_or_default();
        if !DOC_FIELDS.contains(&key.as_str()) {
            return Err(Error::Input(format!(
                "document {i} has an unknown field `{key}` (known: {})",
                DOC_FIELDS.join(", ")
            )));
        }
    }
    let field = |k: &str| -> Result<Option<String>> {
        let f = js_sys::Reflect::get(v, &JsValue::from_str(k)).unwrap_or(JsValue::UNDEFINED);
        if f.is_undefined() || f.is_null() {
            Ok(None)
        } else {
            text_of(&f, &format!("document {i} {k}")).map(Some)
        }
    };
    let text = field("text")?.ok_or_else(|| Error::Input(format!("document {i} has no `text`")))?;
    let meta = js_sys::Reflect::get(v, &"metadata".into()).unwrap_or(JsValue::UNDEFINED);
    let metadata = if meta.is_undefined() || meta.is_null() {
        None
    } else {
        if !meta.is_object() || Array::is_array(&meta) {
            return Err(Error::Input(format!(
                "document {i} metadata must be a plain object"
            )));
        }
        // What JSON cannot hold (a BigInt) is refused, not converted.
        if js_sys::JSON::stringify(&meta).is_err() {
            return Err(Error::Input(format!(
                "document {i} metadata is not JSON (a BigInt or a cycle?)"
            )));
        }
        Some(
            serde_wasm_bindgen::from_value::<serde_json::Value>(meta).map_err(|e| {
                Error::Input(format!("document {i} metadata is not JSON-like: {e}"))
            })?,
        )
    };
    let st = js_sys::Reflect::get(v, &"structure".into()).unwrap_or(JsValue::UNDEFINED);
    let structure = if st.is_undefined() || st.is_null() {
        None
    } else {
        if !st.is_object() || Array::is_array(&st) {
            return Err(Error::Input(format!(
                "document {i} structure must be an object {{ pages?, headings? }}"
            )));
        }
        // Through JSON, so that an unknown key is refused (serde reads a JS object's own
        // fields only) and numbers are checked as integers.
        let json = js_sys::JSON::stringify(&st)
            .ok()
            .and_then(|j| j.as_string())
            .ok_or_else(|| Error::Input(format!("document {i} structure is not JSON")))?;
        Some(
            serde_json::from_str(&json)
                .map_err(|e| Error::Input(format!("document {i} structure is not valid: {e}")))?,
        )
    };
    Ok(DocInput {
        id: field("id")?,
        title: field("title")?,
        source: field("source")?,
        text,
        metadata,
        structure,
    })
}

fn closed() -> Error {
    Error::Closed("the knowledge base is closed".into())
}

/// The knowledge base options, checked against the embedder; asks for persistent storage.
async fn kb_options(
    o: &KnowledgeBaseOptions,
    embedder: &crate::Embedder,
) -> Result<crate::kb::KbOptions> {
    let resolved = o.resolve(embedder.max_seq_length(), embedder.passage_tokens())?;
    if o.persist() {
        let _ = idb::persist().await;
    }
    Ok(resolved)
}

impl KnowledgeBase {
    fn wrap(name: String, kb: Kb) -> KnowledgeBase {
        KnowledgeBase {
            state: Rc::new(Mutex::new(Some(kb))),
            name,
            generator: Rc::new(RefCell::new(None)),
        }
    }

    /// Runs `f` on the open knowledge base (E_CLOSED after `close`).
    fn with<F, Fut>(&self, f: F) -> Promise
    where
        F: FnOnce(Rc<Mutex<Option<Kb>>>) -> Fut,
        Fut: std::future::Future<Output = Result<JsValue>> + 'static,
    {
        promise(f(self.state.clone()))
    }
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
        promise(async move {
            let o: KnowledgeBaseOptions = read(&options, "open")?;
            let opts = kb_options(&o, &emb).await?;
            let store = IdbStore::open(&name).await?;
            let kb = crate::kb::KnowledgeBase::open(store, emb, opts).await?;
            Ok(Self::wrap(name, kb).into())
        })
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
        promise(async move {
            let o: ImportOptions = read(&options, "import")?;
            let opts = kb_options(&o.kb, &emb).await?;
            let bytes = file.to_vec();
            let store = IdbStore::open(&name).await?;
            match crate::kb::KnowledgeBase::import(store.clone(), emb, opts, &bytes, o.overwrite)
                .await
            {
                Ok(kb) => Ok(Self::wrap(name, kb).into()),
                Err(e) => {
                    store.close();
                    Err(e)
                }
            }
        })
    }

    /// Reloads from IndexedDB when another tab or Worker changed the documents.
    #[wasm_bindgen(unchecked_return_type = "Promise<RefreshResult>")]
    pub fn refresh(&self) -> Promise {
        self.with(|state| async move {
            let mut guard = state.lock().await;
            let kb = guard.as_mut().ok_or_else(closed)?;
            let changed = kb.refresh().await?;
            to_js(&RefreshResult {
                changed,
                generation: kb.generation(),
            })
        })
    }

    /// The whole knowledge base as one versioned binary file (documents, chunks, vectors, index
    /// snapshot, manifest); `KnowledgeBase.import` reads it back.
    #[wasm_bindgen(unchecked_return_type = "Promise<Uint8Array>")]
    pub fn export(&self) -> Promise {
        self.with(|state| async move {
            let guard = state.lock().await;
            let bytes = guard.as_ref().ok_or_else(closed)?.export().await?;
            Ok(js_sys::Uint8Array::from(bytes.as_slice()).into())
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
        self.with(|state| async move {
            if !Array::is_array(&docs) {
                return Err(Error::Input("add() takes an array of documents".into()));
            }
            let inputs = Array::from(&docs)
                .iter()
                .enumerate()
                .map(|(i, d)| doc_input(i, &d))
                .collect::<Result<Vec<_>>>()?;
            let _: AddOptions = read(&options, "add")?;
            let mut hooks = JsHooks::from_options(&options)?;
            let mut guard = state.lock().await;
            let kb = guard.as_mut().ok_or_else(closed)?;
            hooks.check()?;
            to_js(&kb.add_with(inputs, &mut hooks).await?)
        })
    }

    /// Removes a document (or several); resolves to how many existed.
    #[wasm_bindgen(unchecked_return_type = "Promise<number>")]
    pub fn remove(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string | string[]")] ids: JsValue,
    ) -> Promise {
        self.with(|state| async move {
            let ids: Vec<String> = match ids.as_string() {
                Some(s) => vec![s],
                None => super::options::strings(&ids, "remove()")
                    .map_err(|_| Error::Input("remove() takes an id or an array of ids".into()))?,
            };
            let mut guard = state.lock().await;
            let kb = guard.as_mut().ok_or_else(closed)?;
            Ok(JsValue::from(kb.remove(&ids).await? as f64))
        })
    }

    /// One document with its chunks, or `undefined`.
    #[wasm_bindgen(unchecked_return_type = "Promise<StoredDocument | undefined>")]
    pub fn get(&self, id: String) -> Promise {
        self.with(|state| async move {
            let guard = state.lock().await;
            match guard.as_ref().ok_or_else(closed)?.get(&id) {
                Some(d) => to_js(&d),
                None => Ok(JsValue::UNDEFINED),
            }
        })
    }

    /// Every document (without text), sorted by id.
    #[wasm_bindgen(unchecked_return_type = "Promise<DocumentInfo[]>")]
    pub fn list(&self) -> Promise {
        self.with(|state| async move {
            let guard = state.lock().await;
            to_js(&guard.as_ref().ok_or_else(closed)?.list())
        })
    }

    /// The best passages for a question.
    #[wasm_bindgen(unchecked_return_type = "Promise<Hit[]>")]
    pub fn search(
        &self,
        query: JsValue,
        #[wasm_bindgen(unchecked_param_type = "SearchOptions | undefined")] options: JsValue,
    ) -> Promise {
        self.with(|state| async move {
            let query = text_of(&query, "the query")?;
            let opts: SearchOptions = read(&options, "search")?;
            let guard = state.lock().await;
            to_js(
                &guard
                    .as_ref()
                    .ok_or_else(closed)?
                    .search(&query, &opts)
                    .await?,
            )
        })
    }

    /// The generator `ask` uses.
    #[wasm_bindgen(js_name = setGenerator)]
    pub fn set_generator(&self, generator: &Generator) {
        *self.generator.borrow_mut() = Some(generator.inner.clone());
    }

    /// Answers a question from the stored documents: retrieves passages, has the generator
    /// answer from them citing `[n]`, and maps the citations back to documents. Without a
    /// relevant passage the answer says so without running the model. Each sentence of the
    /// answer is linked to the passages behind it (`sentences`). E_NO_GENERATOR before
    /// `setGenerator`.
    #[wasm_bindgen(unchecked_return_type = "Promise<Answer>")]
    pub fn ask(
        &self,
        question: JsValue,
        #[wasm_bindgen(unchecked_param_type = "AskOptions | undefined")] options: JsValue,
    ) -> Promise {
        let generator = self.generator.borrow().clone();
        self.with(|state| async move {
            let question = text_of(&question, "the question")?;
            let opts: AskOptions = read(&options, "ask")?;
            let mut hooks = JsHooks::from_options(&options)?;
            let gen_inner = generator.ok_or_else(|| {
                Error::NoGenerator(
                    "no generator: call setGenerator(await Generator.load(...)) first".into(),
                )
            })?;
            let generator = &gen_inner.generator;
            // Retrieval holds the knowledge base; generation only the model.
            let prepared = {
                let guard = state.lock().await;
                let kb = guard.as_ref().ok_or_else(closed)?;
                crate::rag::prepare(kb, generator, &question, &opts).await?
            };
            let mut answer = {
                let _busy = gen_inner.busy.lock().await;
                crate::rag::answer(generator, prepared, &opts, &mut hooks).await?
            };
            // Attribution embeds the answer's sentences: the knowledge base's embedder again.
            let guard = state.lock().await;
            let kb = guard.as_ref().ok_or_else(closed)?;
            crate::rag::attribute_answer(kb, &mut answer, &opts).await?;
            to_js(&answer)
        })
    }

    /// Counts, index layout, snapshot state and the origin's storage estimate.
    #[wasm_bindgen(unchecked_return_type = "Promise<KnowledgeBaseStats>")]
    pub fn stats(&self) -> Promise {
        self.with(|state| async move {
            let mut stats = {
                let guard = state.lock().await;
                guard.as_ref().ok_or_else(closed)?.stats()
            };
            if let Some((usage, quota)) = idb::estimate().await {
                stats.storage = Some(StorageEstimate {
                    usage,
                    quota,
                    persisted: idb::persisted().await,
                });
            }
            to_js(&stats)
        })
    }

    /// Closes the database connection; later calls fail with E_CLOSED.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn close(&self) -> Promise {
        self.with(|state| async move {
            if let Some(kb) = state.lock().await.take() {
                kb.into_store().close();
            }
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Closes and deletes the knowledge base and all it stored.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn destroy(&self) -> Promise {
        let name = self.name.clone();
        self.with(|state| async move {
            if let Some(kb) = state.lock().await.take() {
                kb.into_store().close();
            }
            IdbStore::delete(&name).await?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Deletes a knowledge base by name (close open instances first).
    #[wasm_bindgen(js_name = destroyByName, unchecked_return_type = "Promise<void>")]
    pub fn destroy_by_name(name: String) -> Promise {
        promise(async move {
            IdbStore::delete(&name).await?;
            Ok(JsValue::UNDEFINED)
        })
    }
}
