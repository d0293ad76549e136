//! `Embedder` for JavaScript: a sentence embedder loaded from the model's files as bytes.

use std::rc::Rc;

use js_sys::{Array, Float32Array, Promise};
use wasm_bindgen::prelude::*;

use super::device::choose_device;
use super::options::{read, strings};
use super::{promise, to_js_error};
use crate::device::BackendKind;
use crate::embed::{EmbedderLoad, Role};
use crate::error::{Error, Result};

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(typescript_type = "EmbedderLoadOptions")]
    pub type EmbedderLoadOptions;
}

/// A sentence embedder running in the page (or a Worker).
#[wasm_bindgen]
pub struct Embedder {
    pub(crate) inner: Rc<crate::Embedder>,
    backend: BackendKind,
    note: Option<String>,
}

#[wasm_bindgen]
impl Embedder {
    /// Picks the backend and loads the model from its files (bytes: fetching them is the
    /// caller's, see `LocalRag`).
    #[wasm_bindgen(js_name = load, unchecked_return_type = "Embedder")]
    pub async fn load(options: EmbedderLoadOptions) -> std::result::Result<Embedder, JsValue> {
        Self::load_inner(options.into())
            .await
            .map_err(|e| to_js_error(&e))
    }

    async fn load_inner(options: JsValue) -> Result<Embedder> {
        let load: EmbedderLoad = read(&options, "Embedder.load")?;
        let chosen = choose_device(load.device.backend, load.device.cpu_backend).await?;
        // The files move in: GGUF weights are shared by the model, not copied again.
        let inner = crate::Embedder::load_owned(load.files, load.options, &chosen.device)?;
        Ok(Embedder {
            inner: Rc::new(inner),
            backend: chosen.kind,
            note: chosen.note,
        })
    }

    /// `'webgpu'` or `'cpu'`.
    #[wasm_bindgen(getter, unchecked_return_type = "'webgpu' | 'cpu'")]
    pub fn backend(&self) -> String {
        self.backend.name().to_string()
    }

    /// The GPU adapter in use (as much as the browser tells); on the CPU, why `'auto'` did not
    /// take WebGPU, or `undefined` when the CPU was asked for.
    #[wasm_bindgen(getter)]
    pub fn adapter(&self) -> Option<String> {
        match self.backend {
            BackendKind::Gpu => crate::device::gpu_adapter_info(),
            BackendKind::Cpu => self.note.clone(),
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

    /// The prompts put before queries and before passages (`{ query, passage }`, each a string
    /// or `undefined`): from the model folder's `config_sentence_transformers.json` or the
    /// `prompts` option.
    #[wasm_bindgen(getter, unchecked_return_type = "{ query?: string; passage?: string }")]
    pub fn prompts(&self) -> JsValue {
        let p = self.inner.prompts();
        let o = js_sys::Object::new();
        for (key, value) in [("query", &p.query), ("passage", &p.passage)] {
            if let Some(v) = value {
                let _ = js_sys::Reflect::set(&o, &key.into(), &v.into());
            }
        }
        o.into()
    }

    /// Embeds an array of strings; resolves to one unit-length `Float32Array` per text, in order.
    /// With `role` (`'query'` or `'passage'`) each text is embedded after that role's prompt
    /// (E5 models expect it); without, as it is.
    #[wasm_bindgen(unchecked_return_type = "Promise<Float32Array[]>")]
    pub fn embed(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string[]")] texts: JsValue,
        #[wasm_bindgen(unchecked_param_type = "'query' | 'passage' | undefined")] role: JsValue,
    ) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            let texts = strings(&texts, "embed")?;
            let role: Option<Role> =
                if role.is_undefined() || role.is_null() {
                    None
                } else {
                    Some(serde_wasm_bindgen::from_value(role).map_err(|_| {
                        Error::Input("embed: role must be 'query' or 'passage'".into())
                    })?)
                };
            let vectors = match role {
                Some(role) => inner.embed_as(&texts, role).await?,
                None => inner.embed(&texts).await?,
            };
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
        let run = || -> Result<Array> {
            let out = Array::new();
            for t in self.inner.tokenize(&strings(&texts, "tokenize")?)? {
                out.push(&js_sys::Uint32Array::from(t.as_slice()));
            }
            Ok(out)
        };
        run().map_err(|e| to_js_error(&e))
    }
}
