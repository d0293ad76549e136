//! `Generator` for JavaScript: a GGUF model on WebGPU or the CPU, generating with streamed text
//! deltas, cancellable through an `AbortSignal`.

use std::rc::Rc;

use futures_util::lock::Mutex;
use js_sys::{Array, Function, Promise, Reflect};
use serde::Serialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{JsFuture, future_to_promise};

use super::{backend_options, choose_device, fetch, get, to_js, to_js_error};
use crate::chat::Message;
use crate::device::BackendKind;
use crate::error::{Error, Result};
use crate::generator::{FinishReason, GenerateParams, Generation, Usage};
use crate::sample::SamplingParams;

#[wasm_bindgen(typescript_custom_section)]
const TS_GENERATOR: &'static str = r#"
export interface GeneratorLoadOptions {
  /** A GGUF file (llama architecture; F32, F16, Q8_0, Q4_0 or Q4_1 tensors): URL or bytes. */
  model: ModelSource;
  /** Default `'auto'`. */
  backend?: BackendChoice;
  /** Which Burn CPU backend the CPU fallback uses (default 'flex'). */
  cpuBackend?: 'flex' | 'ndarray';
  /** Allow a model URL on another origin (default false). */
  allowCrossOrigin?: boolean;
}

export interface ChatMessage { role: 'system' | 'user' | 'assistant'; content: string; }

export interface SamplingOptions {
  /** Tokens to generate at most (default 256). The context is never exceeded. */
  maxTokens?: number;
  /** 0 (default) is greedy; higher is more random. */
  temperature?: number;
  /** Keep the k most likely tokens when sampling, 0 = all (default 40). */
  topK?: number;
  /** Nucleus sampling, (0, 1] (default 0.95). */
  topP?: number;
  /** > 1 discourages repeating the last 64 tokens (default 1, off). */
  repetitionPenalty?: number;
  /** Seed of the sampler (default 0): the same seed gives the same text. */
  seed?: number;
  /** Strings that end generation; they are not part of the text. */
  stop?: string[];
  /** Called with each piece of new text (never half a character). */
  onToken?: (delta: string) => void;
  /** Aborting rejects with E_ABORTED between two tokens. */
  signal?: AbortSignal;
}

export interface GenerateOptions extends SamplingOptions {
  /** Use the prompt string as it is (special tokens such as `<|im_start|>` recognised) instead of
   * as a user message in the model's chat template. */
  raw?: boolean;
  /** Benchmarks: do not stop at end-of-turn tokens. */
  ignoreEos?: boolean;
}

export type FinishReason = 'eos' | 'stop' | 'length' | 'context' | 'cancelled';

export interface Usage { promptTokens: number; completionTokens: number; }

export interface Timings {
  /** Time to the first generated token (the prompt's forward pass and the first read-back). */
  prefillMs: number;
  /** Time of the remaining tokens. */
  decodeMs: number;
}

export interface Generation {
  text: string;
  finishReason: FinishReason;
  usage: Usage;
  timings: Timings;
  promptIds: number[];
  ids: number[];
}
"#;

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

/// Resolves after a macrotask, so that the page (or Worker) can run events between tokens,
/// including the `abort` of a signal.
pub(crate) async fn yield_to_event_loop() {
    let promise = Promise::new(&mut |resolve, _| {
        let global = js_sys::global();
        let set_timeout = Reflect::get(&global, &"setTimeout".into())
            .ok()
            .and_then(|f| f.dyn_into::<Function>().ok());
        match set_timeout {
            Some(f) => {
                let _ = f.call2(&global, &resolve, &JsValue::from(0));
            }
            None => {
                let _ = resolve.call0(&JsValue::NULL);
            }
        }
    });
    let _ = JsFuture::from(promise).await;
}

fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// The `signal` option: absent, or an `AbortSignal`-like object with `aborted`.
pub(crate) fn signal_of(options: &JsValue) -> Result<Option<JsValue>> {
    let s = get(options, "signal");
    if s.is_undefined() || s.is_null() {
        return Ok(None);
    }
    if !s.is_object()
        || Reflect::get(&s, &"aborted".into())
            .map(|a| a.as_bool().is_none())
            .unwrap_or(true)
    {
        return Err(Error::Input("signal must be an AbortSignal".into()));
    }
    Ok(Some(s))
}

pub(crate) fn aborted(signal: &Option<JsValue>) -> bool {
    signal
        .as_ref()
        .and_then(|s| Reflect::get(s, &"aborted".into()).ok())
        .is_some_and(|a| a.is_truthy())
}

pub(crate) fn aborted_error() -> Error {
    Error::Aborted("the operation was aborted".into())
}

/// A function-valued option, or none.
pub(crate) fn callback(options: &JsValue, key: &str) -> Result<Option<Function>> {
    let v = get(options, key);
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    v.dyn_into::<Function>()
        .map(Some)
        .map_err(|_| Error::Input(format!("{key} must be a function")))
}

fn number(options: &JsValue, key: &str) -> Result<Option<f64>> {
    let v = get(options, key);
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    match v.as_f64() {
        Some(n) if n.is_finite() => Ok(Some(n)),
        _ => Err(Error::Input(format!("{key} must be a finite number"))),
    }
}

fn integer(options: &JsValue, key: &str, min: f64, max: f64) -> Result<Option<u64>> {
    match number(options, key)? {
        None => Ok(None),
        Some(n) if n.fract() == 0.0 && n >= min && n <= max => Ok(Some(n as u64)),
        Some(n) => Err(Error::Input(format!(
            "{key} must be an integer from {min} to {max}, got {n}"
        ))),
    }
}

/// Reads the sampling options shared by `generate` and `ask`.
pub(crate) fn generate_params(o: &JsValue, default_max: usize) -> Result<GenerateParams> {
    if !(o.is_undefined() || o.is_null() || o.is_object()) {
        return Err(Error::Input("options must be an object".into()));
    }
    let d = SamplingParams::default();
    let sampling = SamplingParams {
        temperature: number(o, "temperature")?.map_or(d.temperature, |v| v as f32),
        top_k: integer(o, "topK", 0.0, 1e9)?.map_or(d.top_k, |v| v as usize),
        top_p: number(o, "topP")?.map_or(d.top_p, |v| v as f32),
        repetition_penalty: number(o, "repetitionPenalty")?
            .map_or(d.repetition_penalty, |v| v as f32),
        repeat_last_n: d.repeat_last_n,
        seed: integer(o, "seed", 0.0, 9_007_199_254_740_991.0)?.map_or(d.seed, |v| v),
    };
    sampling.validate()?;
    let stop = {
        let v = get(o, "stop");
        if v.is_undefined() || v.is_null() {
            Vec::new()
        } else if Array::is_array(&v) {
            Array::from(&v)
                .iter()
                .map(|s| {
                    s.as_string().filter(|s| !s.is_empty()).ok_or_else(|| {
                        Error::Input("stop must be an array of non-empty strings".into())
                    })
                })
                .collect::<Result<Vec<_>>>()?
        } else {
            return Err(Error::Input("stop must be an array of strings".into()));
        }
    };
    Ok(GenerateParams {
        max_tokens: integer(o, "maxTokens", 1.0, 1e6)?.map_or(default_max, |v| v as usize),
        sampling,
        stop,
        context_tokens: None,
        ignore_eos: get(o, "ignoreEos").is_truthy(),
    })
}

/// What a finished generation reports to JavaScript.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Timings {
    pub prefill_ms: f64,
    pub decode_ms: f64,
}

/// Runs a generation to its end: calls `on_token` with each delta, yields to the event loop
/// between tokens and stops with E_ABORTED when the signal is aborted.
pub(crate) async fn drive(
    g: &mut Generation<'_>,
    on_token: &Option<Function>,
    signal: &Option<JsValue>,
) -> Result<Timings> {
    let start = now_ms();
    let mut first: Option<f64> = None;
    loop {
        if aborted(signal) {
            g.cancel();
            return Err(aborted_error());
        }
        let step = g.next().await?;
        if first.is_none() {
            first = Some(now_ms());
        }
        let Some(step) = step else { break };
        if let (Some(f), false) = (on_token, step.delta.is_empty()) {
            let _ = f.call1(&JsValue::NULL, &JsValue::from_str(&step.delta));
        }
        yield_to_event_loop().await;
    }
    let end = now_ms();
    let first = first.unwrap_or(end);
    Ok(Timings {
        prefill_ms: first - start,
        decode_ms: end - first,
    })
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GenerationOut<'a> {
    text: &'a str,
    finish_reason: Option<FinishReason>,
    usage: Usage,
    timings: Timings,
    prompt_ids: &'a [u32],
    ids: &'a [u32],
}

/// The prompt argument: a string (a user message, or raw text), an array of messages, or token
/// ids (a `Uint32Array`, used as they are).
fn prompt_ids(inner: &Inner, prompt: &JsValue, raw: bool) -> Result<Vec<u32>> {
    let tok = inner.generator.tokenizer();
    if let Some(ids) = prompt.dyn_ref::<js_sys::Uint32Array>() {
        let ids = ids.to_vec();
        let vocab = inner.generator.model().config().vocab_size;
        if let Some(bad) = ids.iter().find(|&&i| i as usize >= vocab) {
            return Err(Error::Input(format!(
                "token id {bad} is outside the vocabulary of {vocab}"
            )));
        }
        return Ok(ids);
    }
    if let Some(s) = prompt.as_string() {
        if s.trim().is_empty() {
            return Err(Error::Input("the prompt is empty".into()));
        }
        return if raw {
            tok.encode(&s)
        } else {
            tok.encode_chat(&[Message::new("user", s)])
        };
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
        return tok.encode_chat(&messages);
    }
    Err(Error::Input(
        "the prompt must be a string or an array of { role, content } messages".into(),
    ))
}

#[wasm_bindgen]
impl Generator {
    /// Fetches (or takes) a GGUF file, picks the backend and loads the model.
    #[wasm_bindgen(js_name = load, unchecked_return_type = "Generator")]
    pub async fn load(options: GeneratorLoadOptions) -> std::result::Result<Generator, JsValue> {
        Self::load_inner(options.into())
            .await
            .map_err(|e| to_js_error(&e))
    }

    async fn load_inner(options: JsValue) -> Result<Generator> {
        if !options.is_object() {
            return Err(Error::Input(
                "Generator.load needs an options object with `model`".into(),
            ));
        }
        let cross_origin = get(&options, "allowCrossOrigin").is_truthy();
        let (backend, cpu) = backend_options(&options)?;
        let model = get(&options, "model");
        if model.is_undefined() || model.is_null() {
            return Err(Error::Input(
                "option `model` is required (a GGUF URL or its bytes)".into(),
            ));
        }
        let bytes = fetch::source_bytes("model", &model, cross_origin).await?;
        let (device, kind) = choose_device(&backend, cpu).await?;
        let started = now_ms();
        let generator = crate::Generator::from_gguf(&bytes, &device)?;
        drop(bytes);
        Ok(Generator {
            inner: Rc::new(Inner {
                generator,
                busy: Mutex::new(()),
            }),
            backend: kind,
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

    /// Milliseconds `load` spent building the model from the bytes (after fetching).
    #[wasm_bindgen(getter, js_name = loadMs)]
    pub fn load_ms(&self) -> f64 {
        self.load_ms
    }

    /// Bytes of weights held on the device (GPU buffers, or wasm memory on the CPU backend).
    #[wasm_bindgen(getter, js_name = weightBytes)]
    pub fn weight_bytes(&self) -> f64 {
        let (device, cpu) = self.inner.generator.model().weight_bytes();
        (device + cpu) as f64
    }

    /// Token ids of a prompt exactly as `generate` would run it.
    #[wasm_bindgen(unchecked_return_type = "Uint32Array")]
    pub fn tokenize(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string | ChatMessage[]")] prompt: JsValue,
        raw: Option<bool>,
    ) -> std::result::Result<js_sys::Uint32Array, JsValue> {
        prompt_ids(&self.inner, &prompt, raw.unwrap_or(false))
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
        future_to_promise(async move {
            let run = async {
                let params = generate_params(&options, 256)?;
                let on_token = callback(&options, "onToken")?;
                let signal = signal_of(&options)?;
                let raw = get(&options, "raw").is_truthy();
                let ids = prompt_ids(&inner, &prompt, raw)?;
                let _busy = inner.busy.lock().await;
                if aborted(&signal) {
                    return Err(aborted_error());
                }
                let mut g = inner.generator.start(ids, params)?;
                let timings = drive(&mut g, &on_token, &signal).await?;
                to_js(&GenerationOut {
                    text: g.text(),
                    finish_reason: g.finish_reason(),
                    usage: g.usage(),
                    timings,
                    prompt_ids: g.prompt_ids(),
                    ids: g.generated_ids(),
                })
            };
            run.await.map_err(|e| to_js_error(&e))
        })
    }
}
