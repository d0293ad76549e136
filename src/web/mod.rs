//! The browser layer: the only code that touches `web-sys`/`js-sys`. It fetches model files,
//! picks WebGPU or the CPU, and exposes the core to JavaScript through wasm-bindgen.

mod bench;
mod fetch;
mod generator;
pub mod idb;
mod kb;

pub use generator::Generator;
pub use kb::KnowledgeBase;

use std::rc::Rc;

use js_sys::{Array, Float32Array, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{JsFuture, future_to_promise};

use crate::config::Pooling;
use crate::device::{BackendKind, CpuBackend, gpu_device_async};
use crate::embedder::{EmbedderFiles, EmbedderOptions};
use crate::error::{Error, Result};

pub use fetch::{fetch_bytes, resolve_url};

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
/** Where a model file comes from: a URL (same origin unless `allowCrossOrigin`) or its bytes. */
export type ModelSource = string | ArrayBuffer | Uint8Array;

/** Which device runs the model. `'auto'` picks WebGPU when the browser gives an adapter. */
export type BackendChoice = 'auto' | 'webgpu' | 'cpu';

export interface EmbedderLoadOptions {
  /** Folder URL of a sentence-transformers model; fills in any file not given below. */
  baseUrl?: string;
  /** `model.safetensors`. */
  model?: ModelSource;
  /** `config.json`. */
  config?: ModelSource;
  /** `tokenizer.json`. */
  tokenizer?: ModelSource;
  /** `1_Pooling/config.json` (optional; mean pooling without it). */
  poolingConfig?: ModelSource;
  /** `sentence_bert_config.json` (optional; gives max_seq_length). */
  sentenceConfig?: ModelSource;
  /** Default `'auto'`. */
  backend?: BackendChoice;
  /** Overrides the pooling config. */
  pooling?: 'mean' | 'cls';
  /** Tokens read per text (default: the model's max_seq_length, 256 for all-MiniLM-L6-v2). */
  maxSeqLength?: number;
  /** Texts per forward pass, 1..1024 (default 16). */
  batchSize?: number;
  /** Which Burn CPU backend the CPU fallback uses (default 'flex'; 'ndarray' for comparison). */
  cpuBackend?: 'flex' | 'ndarray';
  /** Allow model URLs on another origin (default false: files come from the page's origin). */
  allowCrossOrigin?: boolean;
}

/** Every error localrag throws: a JS `Error` with a stable `code`. */
export interface LocalRagError extends Error {
  name: 'LocalRagError';
  code: 'E_MODEL_FORMAT' | 'E_CONFIG' | 'E_TOKENIZER' | 'E_INPUT' | 'E_BACKEND' | 'E_OUTPUT' | 'E_MODEL_FETCH'
    | 'E_STORAGE' | 'E_QUOTA' | 'E_MODEL_MISMATCH' | 'E_DIM_MISMATCH' | 'E_CORRUPT' | 'E_CLOSED'
    | 'E_ABORTED' | 'E_NO_GENERATOR' | 'E_BROKEN' | 'E_UNSUPPORTED';
}
"#;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(typescript_type = "EmbedderLoadOptions")]
    pub type EmbedderLoadOptions;
}

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

thread_local! {
    static PANIC_LISTENER: std::cell::RefCell<Option<js_sys::Function>> =
        const { std::cell::RefCell::new(None) };
}

#[wasm_bindgen(start)]
fn start() {
    // A panic is a bug. After it the module is in an unknown state (and the promise that was
    // running never settles), so tell the JS layer, which marks every instance broken and
    // rejects what is pending with E_BROKEN, instead of failing later with "unreachable".
    std::panic::set_hook(Box::new(|info| {
        let message = format!("localrag panicked: {info}");
        web_sys::console::error_1(&JsValue::from_str(&message));
        PANIC_LISTENER.with(|l| {
            if let Ok(l) = l.try_borrow() {
                if let Some(f) = l.as_ref() {
                    let _ = f.call1(&JsValue::NULL, &JsValue::from_str(&message));
                }
            }
        });
    }));
}

/// Registers the function called with the message when Rust panics (one listener per module).
#[wasm_bindgen(js_name = onPanic)]
pub fn on_panic(listener: js_sys::Function) {
    PANIC_LISTENER.with(|l| *l.borrow_mut() = Some(listener));
}

/// Lower-case hex SHA-256 of bytes (used where `crypto.subtle` is missing: insecure contexts).
#[wasm_bindgen(js_name = sha256Hex)]
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether the browser gives a WebGPU adapter (`navigator.gpu.requestAdapter()` not null).
pub async fn webgpu_available() -> bool {
    let global = js_sys::global();
    let Ok(navigator) = Reflect::get(&global, &"navigator".into()) else {
        return false;
    };
    let Ok(gpu) = Reflect::get(&navigator, &"gpu".into()) else {
        return false;
    };
    if gpu.is_undefined() || gpu.is_null() {
        return false;
    }
    let Ok(request) = Reflect::get(&gpu, &"requestAdapter".into()) else {
        return false;
    };
    let Ok(request) = request.dyn_into::<js_sys::Function>() else {
        return false;
    };
    let Ok(promise) = request.call0(&gpu) else {
        return false;
    };
    match JsFuture::from(Promise::from(promise)).await {
        Ok(adapter) => !adapter.is_null() && !adapter.is_undefined(),
        Err(_) => false,
    }
}

/// Picks the device for a backend choice (`"auto"`, `"webgpu"` or `"cpu"`).
pub async fn choose_device(
    choice: &str,
    cpu: CpuBackend,
) -> Result<(burn::tensor::Device, BackendKind)> {
    match choice {
        "cpu" => Ok((cpu.device(), BackendKind::Cpu)),
        "webgpu" => {
            if !webgpu_available().await {
                return Err(Error::Backend(
                    "WebGPU was requested but this browser gives no WebGPU adapter".into(),
                ));
            }
            Ok((gpu_device_async().await?, BackendKind::Gpu))
        }
        "auto" => {
            if webgpu_available().await {
                if let Ok(device) = gpu_device_async().await {
                    return Ok((device, BackendKind::Gpu));
                }
            }
            Ok((cpu.device(), BackendKind::Cpu))
        }
        other => Err(Error::Input(format!(
            "backend `{other}` is not one of 'auto', 'webgpu', 'cpu'"
        ))),
    }
}

fn get(options: &JsValue, key: &str) -> JsValue {
    Reflect::get(options, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

fn opt_string(options: &JsValue, key: &str) -> Result<Option<String>> {
    let v = get(options, key);
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    v.as_string()
        .map(Some)
        .ok_or_else(|| Error::Input(format!("option `{key}` must be a string")))
}

fn opt_count(options: &JsValue, key: &str) -> Result<Option<usize>> {
    let v = get(options, key);
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    match v.as_f64() {
        Some(n) if n.fract() == 0.0 && n >= 1.0 && n <= 1e9 => Ok(Some(n as usize)),
        _ => Err(Error::Input(format!(
            "option `{key}` must be a positive integer"
        ))),
    }
}

/// The `backend` (default `'auto'`, checked) and `cpuBackend` (default flex) options that every
/// model loader takes.
fn backend_options(options: &JsValue) -> Result<(String, CpuBackend)> {
    let backend = opt_string(options, "backend")?.unwrap_or_else(|| "auto".into());
    if !["auto", "webgpu", "cpu"].contains(&backend.as_str()) {
        return Err(Error::Input(format!(
            "backend `{backend}` is not one of 'auto', 'webgpu', 'cpu'"
        )));
    }
    let cpu = match opt_string(options, "cpuBackend")? {
        Some(name) => CpuBackend::from_name(&name)?,
        None => CpuBackend::DEFAULT,
    };
    Ok((backend, cpu))
}

/// Converts a result to a plain JS value (objects, arrays, numbers; no Maps).
fn to_js<T: serde::Serialize>(v: &T) -> Result<JsValue> {
    v.serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| Error::Output(format!("could not convert a result for JavaScript: {e}")))
}

/// A sentence embedder running in the page (or a Worker).
#[wasm_bindgen]
pub struct Embedder {
    inner: Rc<crate::Embedder>,
    backend: BackendKind,
}

#[wasm_bindgen]
impl Embedder {
    /// Fetches (or takes) the model files, picks the backend and loads the model.
    #[wasm_bindgen(js_name = load, unchecked_return_type = "Embedder")]
    pub async fn load(options: EmbedderLoadOptions) -> std::result::Result<Embedder, JsValue> {
        Self::load_inner(options.into())
            .await
            .map_err(|e| to_js_error(&e))
    }

    async fn load_inner(options: JsValue) -> Result<Embedder> {
        if !options.is_object() {
            return Err(Error::Input("Embedder.load needs an options object".into()));
        }
        let cross_origin = get(&options, "allowCrossOrigin").is_truthy();
        let base = opt_string(&options, "baseUrl")?;
        let (backend, cpu) = backend_options(&options)?;
        let pooling = opt_string(&options, "pooling")?
            .map(|p| Pooling::from_name(&p))
            .transpose()?;
        let embed_options = EmbedderOptions {
            max_seq_length: opt_count(&options, "maxSeqLength")?,
            pooling,
            batch_size: opt_count(&options, "batchSize")?.unwrap_or(16),
            normalize: true,
        };

        let source = |key: &str, file: &str, required: bool| {
            let v = get(&options, key);
            let base = base.clone();
            let key = key.to_string();
            let file = file.to_string();
            async move {
                if !(v.is_undefined() || v.is_null()) {
                    return fetch::source_bytes(&key, &v, cross_origin).await.map(Some);
                }
                match base {
                    Some(base) => {
                        let url = fetch::join_url(&base, &file)?;
                        let url = JsValue::from_str(&url);
                        if required {
                            fetch::source_bytes(&key, &url, cross_origin)
                                .await
                                .map(Some)
                        } else {
                            fetch::optional_source_bytes(&key, &url, cross_origin).await
                        }
                    }
                    None if required => Err(Error::Input(format!(
                        "option `{key}` is required (or give `baseUrl`)"
                    ))),
                    None => Ok(None),
                }
            }
        };
        let config = source("config", "config.json", true)
            .await?
            .unwrap_or_default();
        let tokenizer = source("tokenizer", "tokenizer.json", true)
            .await?
            .unwrap_or_default();
        let pooling_config = source("poolingConfig", "1_Pooling/config.json", false).await?;
        let sentence_config = source("sentenceConfig", "sentence_bert_config.json", false).await?;
        let model = source("model", "model.safetensors", true)
            .await?
            .unwrap_or_default();

        let (device, kind) = choose_device(&backend, cpu).await?;
        let files = EmbedderFiles {
            model: &model,
            config: &config,
            tokenizer: &tokenizer,
            pooling: pooling_config.as_deref(),
            sentence_config: sentence_config.as_deref(),
        };
        let inner = crate::Embedder::load(files, embed_options, &device)?;
        Ok(Embedder {
            inner: Rc::new(inner),
            backend: kind,
        })
    }

    /// `'webgpu'` or `'cpu'`.
    #[wasm_bindgen(getter, unchecked_return_type = "'webgpu' | 'cpu'")]
    pub fn backend(&self) -> String {
        self.backend.name().to_string()
    }

    /// The GPU adapter in use (as much as the browser tells), or `undefined` on the CPU.
    #[wasm_bindgen(getter)]
    pub fn adapter(&self) -> Option<String> {
        match self.backend {
            BackendKind::Gpu => crate::device::gpu_adapter_info(),
            BackendKind::Cpu => None,
        }
    }

    /// Length of every vector `embed` returns.
    #[wasm_bindgen(getter)]
    pub fn dim(&self) -> usize {
        self.inner.dim()
    }

    /// Tokens read per text; longer texts are truncated.
    #[wasm_bindgen(getter, js_name = maxSeqLength)]
    pub fn max_seq_length(&self) -> usize {
        self.inner.max_seq_length()
    }

    /// Embeds an array of strings; resolves to one unit-length `Float32Array` per text, in order.
    #[wasm_bindgen(unchecked_return_type = "Promise<Float32Array[]>")]
    pub fn embed(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string[]")] texts: JsValue,
    ) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move {
            let texts = strings(&texts).map_err(|e| to_js_error(&e))?;
            let vectors = inner.embed(&texts).await.map_err(|e| to_js_error(&e))?;
            let out = Array::new();
            for v in vectors {
                out.push(&Float32Array::from(v.as_slice()));
            }
            Ok(out.into())
        })
    }

    /// Token ids the model sees for each text (for debugging and parity tests).
    #[wasm_bindgen(unchecked_return_type = "Uint32Array[]")]
    pub fn tokenize(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string[]")] texts: JsValue,
    ) -> std::result::Result<Array, JsValue> {
        let texts = strings(&texts).map_err(|e| to_js_error(&e))?;
        let ids = self.inner.tokenize(&texts).map_err(|e| to_js_error(&e))?;
        let out = Array::new();
        for t in ids {
            out.push(&js_sys::Uint32Array::from(t.as_slice()));
        }
        Ok(out)
    }
}

/// Reads a JS array of strings. Lone UTF-16 surrogates become U+FFFD (JS→UTF-8 conversion).
fn strings(value: &JsValue) -> Result<Vec<String>> {
    if !Array::is_array(value) {
        return Err(Error::Input("expected an array of strings".into()));
    }
    Array::from(value)
        .iter()
        .enumerate()
        .map(|(i, v)| {
            v.as_string()
                .ok_or_else(|| Error::Input(format!("element {i} is not a string")))
        })
        .collect()
}
