//! The browser layer: the only code that touches `web-sys`/`js-sys`. It exposes the core to
//! JavaScript through wasm-bindgen: model loaders that take the files as bytes (fetching,
//! caching and hashing them is `js/models.js`'s), the knowledge base over IndexedDB, and the
//! choice of WebGPU or the CPU.
//!
//! - `options`: JS objects as option sources, and the hooks (callbacks, `AbortSignal`);
//! - `device`: which device, and why;
//! - `embedder`, `generator`, `kb`: the classes of `localrag/raw`;
//! - `idb`: the IndexedDB store;
//! - `threads` (feature `threads`): the threaded module's rayon pool of Web Workers;
//! - `testing` (feature `testing`): benchmark and test exports, never in the npm package.

mod device;
mod embedder;
mod generator;
pub mod idb;
mod kb;
mod options;
#[cfg(feature = "testing")]
mod testing;
#[cfg(feature = "threads")]
mod threads;

use std::future::Future;

use js_sys::{Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

pub use device::webgpu_available;
pub use embedder::Embedder;
pub use generator::Generator;
pub use kb::KnowledgeBase;

use crate::error::{Error, Result};

/// Every type that crosses the boundary, generated from the Rust types (`crate::contract`).
#[wasm_bindgen(typescript_custom_section)]
const TYPES: &'static str = include_str!("types.d.ts");

/// Turns a core error into a JS `Error` with `name = "LocalRagError"` and a `code`.
pub fn to_js_error(e: &Error) -> JsValue {
    let err = js_sys::Error::new(e.message());
    err.set_name("LocalRagError");
    let _ = Reflect::set(
        &err,
        &JsValue::from_str("code"),
        &JsValue::from_str(e.code()),
    );
    err.into()
}

/// Converts a result to a plain JS value (objects, arrays, numbers; no Maps).
fn to_js<T: serde::Serialize>(v: &T) -> Result<JsValue> {
    v.serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| Error::Output(format!("could not convert a result for JavaScript: {e}")))
}

/// A `Promise` of a core computation: its error becomes a `LocalRagError`.
fn promise(f: impl Future<Output = Result<JsValue>> + 'static) -> Promise {
    future_to_promise(async move { f.await.map_err(|e| to_js_error(&e)) })
}

thread_local! {
    static PANIC_LISTENER: std::cell::RefCell<Option<js_sys::Function>> =
        const { std::cell::RefCell::new(None) };
}

unsafe extern "C" {
    /// Synthesized by the linker: runs the static constructors (cubecl registers its IR
    /// dialects through `inventory`).
    fn __wasm_call_ctors();
}

#[wasm_bindgen(start)]
fn start() {
    // Run the constructors once, here. A module none of whose exports calls
    // `__wasm_call_ctors` is linked "command-style": wasm-ld then runs every constructor at
    // the top of every exported function, that is on each call from JavaScript (each
    // externref handed over is such a call) — it made a one-document `list()` take 31 ms.
    // SAFETY: the constructors are idempotent registrations (`inventory` guards against a
    // second run); this is the module's first code to run in this instance.
    unsafe { __wasm_call_ctors() };
    // A panic is a bug. After it the module is in an unknown state (and the promise that was
    // running never settles), so tell the JS layer, which marks every instance broken and
    // rejects what is pending with E_BROKEN, instead of failing later with "unreachable".
    std::panic::set_hook(Box::new(|info| {
        let message = format!("localrag panicked: {info}");
        web_sys::console::error_1(&JsValue::from_str(&message));
        // On a pool thread (the threaded module) this thread is about to abort: its caller,
        // waiting for it, panics in turn and the listener below runs there.
        crate::kernels::pool::pool_thread_panicked(&info.to_string());
        PANIC_LISTENER.with(|l| {
            if let Ok(l) = l.try_borrow()
                && let Some(f) = l.as_ref()
            {
                let _ = f.call1(&JsValue::NULL, &JsValue::from_str(&message));
            }
        });
    }));
}

/// Registers the function called with the message when Rust panics (one listener per module).
#[wasm_bindgen(js_name = onPanic)]
pub fn on_panic(listener: js_sys::Function) {
    PANIC_LISTENER.with(|l| *l.borrow_mut() = Some(listener));
}

/// The parallel tasks of the CPU products each pool thread has run (then those run outside the
/// pool); empty in the single-threaded module.
#[wasm_bindgen(js_name = threadTasks)]
pub fn thread_tasks() -> Vec<f64> {
    crate::kernels::tasks_per_thread()
        .into_iter()
        .map(|n| n as f64)
        .collect()
}

/// Lower-case hex SHA-256 of bytes (used where `crypto.subtle` is missing: insecure contexts).
#[wasm_bindgen(js_name = sha256Hex)]
pub fn sha256_hex(bytes: &[u8]) -> String {
    crate::util::sha256_hex(bytes)
}

/// Checks the options of `LocalRag.open` (`import: true`: of `LocalRag.import`) that the wasm
/// side reads, before anything is downloaded. `jsKeys` are the keys the JavaScript side reads
/// itself (model sources, cache, callbacks).
#[wasm_bindgen(js_name = checkOpenOptions)]
pub fn check_open_options(
    options: JsValue,
    import: bool,
    #[wasm_bindgen(js_name = jsKeys)] js_keys: Vec<String>,
) -> std::result::Result<(), JsValue> {
    options::check_open(&options, import, &js_keys).map_err(|e| to_js_error(&e))
}
