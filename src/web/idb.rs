//! The [`Store`] on IndexedDB: database `localrag:<name>`, one object store per key space,
//! string keys, `Uint8Array` values. A batch is one readwrite transaction over all three object
//! stores: IndexedDB commits all of it or none (a closed tab, a crash or a quota error aborts
//! it). Loading reads everything in one readonly transaction with `getAllKeys`/`getAll`. A note
//! in the Cache API says which knowledge bases exist, so that one whose database the browser
//! deleted is reported lost instead of opening empty.

use std::cell::Cell;
use std::rc::Rc;

use js_sys::{Array, Function, Promise, Reflect, Uint8Array};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    DomException, IdbDatabase, IdbFactory, IdbOpenDbRequest, IdbRequest, IdbTransaction,
    IdbTransactionMode,
};

use super::options::sleep;
use crate::error::{Error, Result};
use crate::kb::{Contents, Op, Space, Store};

/// Database name prefix, so a page's other databases are never touched.
pub const DB_PREFIX: &str = "localrag:";
const DB_VERSION: u32 = 1;

fn factory() -> Result<IdbFactory> {
    let global = js_sys::global();
    let idb = Reflect::get(&global, &JsValue::from_str("indexedDB"))
        .map_err(|_| Error::Storage("IndexedDB is not available here".into()))?;
    if idb.is_undefined() || idb.is_null() {
        return Err(Error::Storage(
            "IndexedDB is not available in this context (private mode or an opaque origin?)".into(),
        ));
    }
    idb.dyn_into::<IdbFactory>()
        .map_err(|_| Error::Storage("indexedDB is not an IDBFactory".into()))
}

/// Maps a DOMException (or anything thrown) to a typed error. `QuotaExceededError` becomes
/// [`Error::Quota`].
pub fn map_error(what: &str, err: &JsValue) -> Error {
    let (name, message) = match err.dyn_ref::<DomException>() {
        Some(d) => (d.name(), d.message()),
        None => match err.dyn_ref::<js_sys::Error>() {
            Some(e) => (String::from(e.name()), String::from(e.message())),
            None => ("Error".to_string(), format!("{err:?}")),
        },
    };
    if name == "QuotaExceededError" {
        let detail = if message.is_empty() {
            String::new()
        } else {
            format!(" ({message})")
        };
        Error::Quota(format!(
            "{what}: the browser's storage quota for this site is exhausted{detail}; nothing of \
             this write was stored. Remove documents, or free space used by other data of the site."
        ))
    } else {
        Error::Storage(format!("{what}: {name}: {message}"))
    }
}

/// Two one-shot event handlers attached to `target`, detached and freed when this is dropped —
/// after the wait for their event, or with an abandoned wait. (`Closure::once_into_js` frees a
/// handler only when it runs, so the one of each pair that never runs leaked: a few hundred
/// bytes of wasm memory per write, found by the long-session test.)
struct Attached<T> {
    target: T,
    set: fn(&T, Option<&Function>, Option<&Function>),
    _handlers: [Closure<dyn FnMut(web_sys::Event)>; 2],
}

impl<T> Drop for Attached<T> {
    fn drop(&mut self) {
        (self.set)(&self.target, None, None);
    }
}

/// A promise settled by the first of two events of `target`: resolved with `value` of the one,
/// rejected with `error` of the other. `set` installs (or, with `None`s, removes) the two
/// handlers. The handlers are attached at once, not when a future is first polled: a request
/// issued beside others may succeed before an earlier one's await resumes (in the threaded
/// module a wake-up is a task of its own), and an event with no handler yet would be lost. Keep
/// the second value until the promise settles: it holds the handlers.
fn settled_by<T: Clone>(
    target: &T,
    set: fn(&T, Option<&Function>, Option<&Function>),
    value: impl FnOnce(web_sys::Event) -> JsValue + 'static,
    error: impl FnOnce(web_sys::Event) -> JsValue + 'static,
) -> (Promise, Attached<T>) {
    let mut handlers = None;
    let mut settle = Some((value, error));
    let promise = Promise::new(&mut |resolve: Function, reject: Function| {
        let (value, error) = settle.take().expect("a Promise runs its executor once");
        handlers = Some([
            Closure::once(move |e: web_sys::Event| {
                let _ = resolve.call1(&JsValue::NULL, &value(e));
            }),
            Closure::once(move |e: web_sys::Event| {
                let _ = reject.call1(&JsValue::NULL, &error(e));
            }),
        ]);
    });
    let handlers = handlers.expect("a Promise runs its executor at once");
    set(
        target,
        Some(handlers[0].as_ref().unchecked_ref()),
        Some(handlers[1].as_ref().unchecked_ref()),
    );
    let attached = Attached {
        target: target.clone(),
        set,
        _handlers: handlers,
    };
    (promise, attached)
}

/// Resolves when the request succeeds (with its result), rejects with its error.
fn request(
    req: &IdbRequest,
    what: &str,
) -> impl std::future::Future<Output = Result<JsValue>> + use<> {
    let (ok, bad) = (req.clone(), req.clone());
    let (promise, handlers) = settled_by(
        req,
        |r, success, error| {
            r.set_onsuccess(success);
            r.set_onerror(error);
        },
        move |_| ok.result().unwrap_or(JsValue::UNDEFINED),
        move |e| {
            e.prevent_default();
            bad.error()
                .ok()
                .flatten()
                .map(JsValue::from)
                .unwrap_or_else(|| JsValue::from_str("request failed"))
        },
    );
    let what = what.to_string();
    async move {
        let out = JsFuture::from(promise).await;
        drop(handlers);
        out.map_err(|e| map_error(&what, &e))
    }
}

/// Resolves when the transaction commits; rejects with its error when it aborts. Keep the
/// second value until then: it holds the handlers.
fn completion(tx: &IdbTransaction) -> (Promise, Attached<IdbTransaction>) {
    let t = tx.clone();
    settled_by(
        tx,
        |t, complete, abort| {
            t.set_oncomplete(complete);
            t.set_onabort(abort);
        },
        |_| JsValue::NULL,
        move |_| {
            t.error().map(JsValue::from).unwrap_or_else(|| {
                DomException::new_with_message_and_name("the transaction was aborted", "AbortError")
                    .map(JsValue::from)
                    .unwrap_or(JsValue::from_str("aborted"))
            })
        },
    )
}

fn space_names() -> Array {
    Space::ALL
        .iter()
        .map(|s| JsValue::from_str(s.name()))
        .collect()
}

/// Why a transaction could not start: a closed connection (E_CLOSED) or another failure.
fn transaction_error(e: &JsValue) -> Error {
    match e.dyn_ref::<DomException>().map(|d| d.name()) {
        Some(n) if n == "InvalidStateError" => {
            Error::Closed("the knowledge base's database connection is closed".into())
        }
        _ => map_error("starting a transaction", e),
    }
}

/// Whether `e` is a transaction or request aborted by the browser (`AbortError`), not one of
/// the causes with a code of their own (quota, a closed connection).
fn aborted(e: &Error) -> bool {
    matches!(e, Error::Storage(m) if m.contains(": AbortError:"))
}

/// A knowledge base's IndexedDB database. Clones share the connection.
#[derive(Clone)]
pub struct IdbStore {
    db: IdbDatabase,
    name: String,
    /// Set when the connection is let go of: the browser's forced close (the database deleted
    /// underneath, the site's data cleared) or another tab's deletion or upgrade.
    closed: Rc<Cell<bool>>,
}

impl IdbStore {
    /// Opens (creating if needed) the database for knowledge base `name`.
    pub async fn open(name: &str) -> Result<IdbStore> {
        if name.is_empty() || name.len() > 200 {
            return Err(Error::Input(
                "a knowledge base name must be 1 to 200 bytes".into(),
            ));
        }
        let req: IdbOpenDbRequest = factory()?
            .open_with_u32(&format!("{DB_PREFIX}{name}"), DB_VERSION)
            .map_err(|e| map_error("opening the database", &e))?;
        let r = req.clone();
        let on_upgrade = Closure::<dyn FnMut(web_sys::Event)>::new(move |_: web_sys::Event| {
            if let Ok(db) = r
                .result()
                .and_then(|d| d.dyn_into::<IdbDatabase>().map_err(JsValue::from))
            {
                let names = db.object_store_names();
                for s in Space::ALL {
                    if !names.contains(s.name()) {
                        let _ = db.create_object_store(s.name());
                    }
                }
            }
        });
        req.set_onupgradeneeded(Some(on_upgrade.as_ref().unchecked_ref()));
        let db = request(&req, "opening the database").await;
        req.set_onupgradeneeded(None);
        drop(on_upgrade);
        let db: IdbDatabase = db?
            .dyn_into()
            .map_err(|_| Error::Storage("open did not give a database".into()))?;
        // Another tab deleting or upgrading the database: let go of it.
        let closed = Rc::new(Cell::new(false));
        let (d, flag) = (db.clone(), closed.clone());
        let on_version = Closure::<dyn FnMut(web_sys::Event)>::new(move |_: web_sys::Event| {
            flag.set(true);
            d.close()
        });
        db.set_onversionchange(Some(on_version.as_ref().unchecked_ref()));
        on_version.forget();
        // The browser closing it (`close` fires only for a forced close).
        let flag = closed.clone();
        let on_close =
            Closure::<dyn FnMut(web_sys::Event)>::new(move |_: web_sys::Event| flag.set(true));
        db.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        on_close.forget();
        Ok(IdbStore {
            db,
            name: name.to_string(),
            closed,
        })
    }

    /// `e`, or E_CLOSED where `e` is an abort that came with the connection's forced close. When
    /// the browser deletes the database or clears the site's data, it aborts the transactions
    /// under way before the page gets the connection's `close` event; one that the page started
    /// meanwhile fails with a bare `AbortError`. So such an abort waits (up to half a second) for
    /// that event before it is reported as a storage failure.
    async fn explain(&self, e: Error) -> Error {
        if !aborted(&e) {
            return e;
        }
        for _ in 0..50 {
            if self.closed.get() {
                return Error::Closed(
                    "the knowledge base's database was closed by the browser while this call \
                     ran (deleted, or the site's data cleared)"
                        .into(),
                );
            }
            sleep(10).await;
        }
        e
    }

    /// `r`, its error passed through [`IdbStore::explain`].
    async fn explained<T>(&self, r: Result<T>) -> Result<T> {
        match r {
            Err(e) => Err(self.explain(e).await),
            ok => ok,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Closes the connection (pending transactions still finish).
    pub fn close(&self) {
        self.db.close();
    }

    /// Deletes the database of knowledge base `name`, then the note that it existed.
    pub async fn delete(name: &str) -> Result<()> {
        let req = factory()?
            .delete_database(&format!("{DB_PREFIX}{name}"))
            .map_err(|e| map_error("deleting the database", &e))?;
        request(&req, "deleting the database").await?;
        unmark(name).await
    }

    fn tx(&self, mode: IdbTransactionMode) -> Result<IdbTransaction> {
        self.db
            .transaction_with_str_sequence_and_mode(&space_names(), mode)
            .map_err(|e| transaction_error(&e))
    }

    /// Issues the operations in one transaction. With `abort_after = Some(n)` the transaction is
    /// aborted after `n` operations, like a tab closed in the middle of a batch (for tests).
    #[doc(hidden)]
    pub async fn write_with(&self, ops: Vec<Op>, abort_after: Option<usize>) -> Result<()> {
        let tx = self.tx(IdbTransactionMode::Readwrite)?;
        let (done, _handlers) = completion(&tx);
        let mut stores = Vec::new();
        for s in Space::ALL {
            stores.push(
                tx.object_store(s.name())
                    .map_err(|e| map_error("opening an object store", &e))?,
            );
        }
        let store_of = |s: Space| {
            &stores[Space::ALL
                .iter()
                .position(|x| *x == s)
                .expect("known space")]
        };
        let mut failure = None;
        for (i, op) in ops.into_iter().enumerate() {
            if abort_after == Some(i) {
                break;
            }
            let res = match op {
                Op::Put(s, k, v) => store_of(s)
                    .put_with_key(&Uint8Array::from(v.as_slice()), &JsValue::from_str(&k)),
                Op::Delete(s, k) => store_of(s).delete(&JsValue::from_str(&k)),
            };
            if let Err(e) = res {
                failure = Some(map_error("writing the batch", &e));
                break;
            }
        }
        if abort_after.is_some() || failure.is_some() {
            let _ = tx.abort();
        }
        let outcome = JsFuture::from(done).await;
        if let Some(f) = failure {
            return Err(f);
        }
        outcome
            .map(|_| ())
            .map_err(|e| map_error("writing the batch", &e))
    }
}

impl Store for IdbStore {
    async fn marked(&self) -> Option<bool> {
        marked(&self.name).await
    }

    async fn mark(&self) {
        mark(&self.name).await
    }

    async fn get(&self, space: Space, key: &str) -> Result<Option<Vec<u8>>> {
        self.explained(self.get_record(space, key).await).await
    }

    async fn load(&self) -> Result<Contents> {
        self.explained(self.load_all().await).await
    }

    async fn write(&self, ops: Vec<Op>) -> Result<()> {
        if ops.is_empty() {
            return Ok(());
        }
        self.explained(self.write_with(ops, None).await).await
    }
}

impl IdbStore {
    async fn get_record(&self, space: Space, key: &str) -> Result<Option<Vec<u8>>> {
        let tx = self
            .db
            .transaction_with_str(space.name())
            .map_err(|e| transaction_error(&e))?;
        let req = tx
            .object_store(space.name())
            .and_then(|os| os.get(&JsValue::from_str(key)))
            .map_err(|e| map_error("reading a record", &e))?;
        let v = request(&req, "reading a record").await?;
        Ok(v.dyn_ref::<Uint8Array>().map(|a| a.to_vec()))
    }

    async fn load_all(&self) -> Result<Contents> {
        let tx = self.tx(IdbTransactionMode::Readonly)?;
        let mut reqs = Vec::new();
        for s in Space::ALL {
            let os = tx
                .object_store(s.name())
                .map_err(|e| map_error("opening an object store", &e))?;
            let keys = os
                .get_all_keys()
                .map_err(|e| map_error("reading keys", &e))?;
            let values = os.get_all().map_err(|e| map_error("reading values", &e))?;
            reqs.push((
                request(&keys, "reading keys"),
                request(&values, "reading values"),
            ));
        }
        let mut lists = Vec::new();
        for (keys, values) in reqs {
            let keys = Array::from(&keys.await?);
            let values = Array::from(&values.await?);
            if keys.length() != values.length() {
                return Err(Error::Storage("keys and values disagree in length".into()));
            }
            let mut list = Vec::with_capacity(keys.length() as usize);
            for (k, v) in keys.iter().zip(values.iter()) {
                let Some(k) = k.as_string() else { continue };
                let Some(v) = v.dyn_ref::<Uint8Array>() else {
                    continue;
                };
                list.push((k, v.to_vec()));
            }
            lists.push(list);
        }
        let chunks = lists.pop().unwrap_or_default();
        let docs = lists.pop().unwrap_or_default();
        let meta = lists.pop().unwrap_or_default();
        Ok(Contents { meta, docs, chunks })
    }
}

/// `navigator.storage`, in a page or a Worker, if the browser has it.
fn storage_manager() -> Option<JsValue> {
    let nav = Reflect::get(&js_sys::global(), &JsValue::from_str("navigator")).ok()?;
    let storage = Reflect::get(&nav, &JsValue::from_str("storage")).ok()?;
    (!storage.is_undefined() && !storage.is_null()).then_some(storage)
}

/// `target[method](...args)`, awaited; `Err` when it is missing, throws or rejects.
async fn call(
    target: &JsValue,
    method: &str,
    args: &[JsValue],
) -> std::result::Result<JsValue, JsValue> {
    let f: Function = Reflect::get(target, &JsValue::from_str(method))?
        .dyn_into()
        .map_err(|_| JsValue::from_str(&format!("{method} is not a function")))?;
    let p: Promise = f
        .apply(target, &args.iter().collect::<Array>())?
        .dyn_into()
        .map_err(|_| JsValue::from_str(&format!("{method} did not return a promise")))?;
    JsFuture::from(p).await
}

async fn call_storage(method: &str) -> Option<JsValue> {
    call(&storage_manager()?, method, &[]).await.ok()
}

/// The Cache API cache that holds a note for each knowledge base that exists (see
/// `Store::marked`). It lives apart from IndexedDB, so it outlives a database that Chromium
/// deletes as damaged; clearing the site's data or evicting it takes both.
const MARKERS: &str = "localrag-knowledge-bases";

/// The cache of notes and the URL of `name`'s note; `None` without the Cache API (an insecure
/// origin) or where it fails.
async fn marker(name: &str) -> Option<std::result::Result<(JsValue, String), JsValue>> {
    let global = js_sys::global();
    let caches = Reflect::get(&global, &JsValue::from_str("caches")).ok()?;
    if caches.is_undefined() || caches.is_null() {
        return None;
    }
    let origin = Reflect::get(&global, &JsValue::from_str("location"))
        .and_then(|l| Reflect::get(&l, &JsValue::from_str("origin")))
        .ok()?
        .as_string()?;
    // Absolute, so that a page and a Worker (whose base URLs differ) name the same note.
    let url = format!(
        "{origin}/.localrag/knowledge-bases/{}",
        String::from(js_sys::encode_uri_component(name))
    );
    Some(
        call(&caches, "open", &[JsValue::from_str(MARKERS)])
            .await
            .map(|cache| (cache, url)),
    )
}

/// Whether `name`'s note is there (`None`: no Cache API, or it failed).
async fn marked(name: &str) -> Option<bool> {
    let (cache, url) = marker(name).await?.ok()?;
    let found = call(&cache, "match", &[JsValue::from_str(&url)])
        .await
        .ok()?;
    Some(!found.is_undefined() && !found.is_null())
}

/// Leaves `name`'s note (best effort).
async fn mark(name: &str) {
    let Some(Ok((cache, url))) = marker(name).await else {
        return;
    };
    if let Ok(body) = web_sys::Response::new_with_opt_str(Some("localrag knowledge base")) {
        let _ = call(&cache, "put", &[JsValue::from_str(&url), body.into()]).await;
    }
}

/// Removes `name`'s note, after its database was deleted.
async fn unmark(name: &str) -> Result<()> {
    let failed = |e: JsValue| {
        map_error(
            "the database was deleted, but the note that it existed (Cache API) could not be \
             removed, so the next open would report it lost; call destroy again",
            &e,
        )
    };
    let Some(found) = marker(name).await else {
        return Ok(());
    };
    let (cache, url) = found.map_err(failed)?;
    call(&cache, "delete", &[JsValue::from_str(&url)])
        .await
        .map(|_| ())
        .map_err(failed)
}

/// Asks the browser to keep this origin's storage under pressure (`navigator.storage.persist()`).
/// Returns whether storage is persistent; `None` where the API is missing.
pub async fn persist() -> Option<bool> {
    call_storage("persist").await.and_then(|v| v.as_bool())
}

/// Whether storage is already persistent (`navigator.storage.persisted()`).
pub async fn persisted() -> Option<bool> {
    call_storage("persisted").await.and_then(|v| v.as_bool())
}

/// `navigator.storage.estimate()`: (usage, quota) in bytes for the whole origin.
pub async fn estimate() -> Option<(f64, f64)> {
    let e = call_storage("estimate").await?;
    let usage = Reflect::get(&e, &JsValue::from_str("usage"))
        .ok()?
        .as_f64()?;
    let quota = Reflect::get(&e, &JsValue::from_str("quota"))
        .ok()?
        .as_f64()?;
    Some((usage, quota))
}
