//! `Generator` for JavaScript: a GGUF model on WebGPU or the CPU, generating with streamed text
//! deltas, cancellable through an `AbortSignal`.

use std::rc::Rc;

use futures_util::lock::Mutex;
use js_sys::{Array, Promise};
use wasm_bindgen::prelude::*;

use super::device::choose_device;
use super::options::{JsHooks, now_ms, read};
use super::{promise, to_js, to_js_error};
use crate::device::BackendKind;
use crate::error::{Error, Result};
use crate::generate::{GenerateOptions, GeneratorLoad, Message, Prompt};

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(typescript_type = "GeneratorLoadOptions")]
    pub type GeneratorLoadOptions;
}

pub(crate) struct Inner {
    pub generator: crate::Generator,
    /// One generation at a time per model.
    pub busy: Mutex<()>,
}

/// A text generator (a small LLM) running in the page or a Worker.
#[wasm_bindgen]
pub struct Generator {
    pub(crate) inner: Rc<Inner>,
    backend: BackendKind,
    load_ms: f64,
}

/// The prompt argument: a string (a user message, or raw text), an array of messages, or token
/// ids (a `Uint32Array`, used as they are).
fn prompt_of(prompt: &JsValue, raw: bool) -> Result<Prompt> {
    if let Some(ids) = prompt.dyn_ref::<js_sys::Uint32Array>() {
        return Ok(Prompt::Ids(ids.to_vec()));
    }
    if let Some(s) = prompt.as_string() {
        return Ok(if raw { Prompt::Raw(s) } else { Prompt::User(s) });
    }
    if raw {
        return Err(Error::Input("a raw prompt must be a string".into()));
    }
    if Array::is_array(prompt) {
        let messages: Vec<Message> =
            serde_wasm_bindgen::from_value(prompt.clone()).map_err(|e| {
                Error::Input(format!(
                    "messages must be objects {{ role, content }} with string values: {e}"
                ))
            })?;
        return Ok(Prompt::Chat(messages));
    }
    Err(Error::Input(
        "the prompt must be a string or an array of { role, content } messages".into(),
    ))
}

#[wasm_bindgen]
impl Generator {
    /// Picks the backend and loads the model from a GGUF file (bytes: fetching it is the
    /// caller's, see `LocalRag`).
    #[wasm_bindgen(js_name = load, unchecked_return_type = "Generator")]
    pub async fn load(options: GeneratorLoadOptions) -> std::result::Result<Generator, JsValue> {
        Self::load_inner(options.into())
            .await
            .map_err(|e| to_js_error(&e))
    }

    async fn load_inner(options: JsValue) -> Result<Generator> {
        Self::load_with(options, crate::Generator::from_gguf).await
    }

    /// The benchmarks' reference: [`Generator::load`] with the weights dequantized to f32.
    #[cfg(feature = "testing")]
    #[wasm_bindgen(js_name = __loadF32, unchecked_return_type = "Generator")]
    pub async fn load_f32(
        options: GeneratorLoadOptions,
    ) -> std::result::Result<Generator, JsValue> {
        Self::load_with(options.into(), crate::Generator::from_gguf_f32)
            .await
            .map_err(|e| to_js_error(&e))
    }

    async fn load_with(
        options: JsValue,
        build: fn(Vec<u8>, &burn::tensor::Device) -> Result<crate::Generator>,
    ) -> Result<Generator> {
        let load: GeneratorLoad = read(&options, "Generator.load")?;
        let chosen = choose_device(load.device.backend, load.device.cpu_backend).await?;
        let started = now_ms();
        let generator = build(load.model, &chosen.device)?;
        Ok(Generator {
            inner: Rc::new(Inner {
                generator,
                busy: Mutex::new(()),
            }),
            backend: chosen.kind,
            load_ms: now_ms() - started,
        })
    }

    /// `'webgpu'` or `'cpu'`.
    #[wasm_bindgen(getter, unchecked_return_type = "'webgpu' | 'cpu'")]
    pub fn backend(&self) -> String {
        self.backend.name().to_string()
    }

    /// Positions the model can attend to (prompt and answer together).
    #[wasm_bindgen(getter, js_name = contextLength)]
    pub fn context_length(&self) -> usize {
        self.inner.generator.context_length()
    }

    /// Milliseconds `load` spent building the model from the bytes.
    #[wasm_bindgen(getter, js_name = loadMs)]
    pub fn load_ms(&self) -> f64 {
        self.load_ms
    }

    /// Bytes of weights held on the device (GPU buffers, or wasm memory on the CPU backend).
    #[wasm_bindgen(getter, js_name = weightBytes)]
    pub fn weight_bytes(&self) -> f64 {
        self.inner.generator.model().weight_bytes() as f64
    }

    /// Token ids of a prompt exactly as `generate` would run it.
    #[wasm_bindgen(unchecked_return_type = "Uint32Array")]
    pub fn tokenize(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string | ChatMessage[]")] prompt: JsValue,
        raw: Option<bool>,
    ) -> std::result::Result<js_sys::Uint32Array, JsValue> {
        prompt_of(&prompt, raw.unwrap_or(false))
            .and_then(|p| self.inner.generator.prompt_ids(p))
            .map(|ids| js_sys::Uint32Array::from(ids.as_slice()))
            .map_err(|e| to_js_error(&e))
    }

    /// Generates an answer to `prompt` (a user message, raw text with `raw: true`, a list of chat
    /// messages, or token ids as a `Uint32Array`). Streams through `onToken`; one generation at
    /// a time per model.
    #[wasm_bindgen(unchecked_return_type = "Promise<Generation>")]
    pub fn generate(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string | ChatMessage[] | Uint32Array")]
        prompt: JsValue,
        #[wasm_bindgen(unchecked_param_type = "GenerateOptions | undefined")] options: JsValue,
    ) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            let opts: GenerateOptions = read(&options, "generate")?;
            let mut hooks = JsHooks::from_options(&options)?;
            let ids = inner.generator.prompt_ids(prompt_of(&prompt, opts.raw)?)?;
            let _busy = inner.busy.lock().await;
            hooks.check()?;
            let mut params = opts.params;
            params.ignore_eos = opts.ignore_eos;
            let mut g = inner.generator.start(ids, params)?;
            let timings = g.run(&mut hooks).await?;
            to_js(&g.result(timings).expect("finished"))
        })
    }
}
