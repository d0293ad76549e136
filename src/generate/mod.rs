//! Text generation: a Llama-family model with its tokenizer, and a step-by-step generation that
//! streams text deltas.
//!
//! - `tokenizer`: the model's tokenizer from GGUF metadata or `tokenizer.json`;
//! - `template`: chat messages and the chat templates localrag applies;
//! - `sampler`: choosing the next token;
//! - `stream`: token bytes to final text (UTF-8, stop strings);
//! - `generation`: the generation loop.

mod generation;
mod sampler;
mod spm;
mod stream;
mod template;
mod tokenizer;

use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

pub use generation::{Generation, GenerationResult, Step};
pub use sampler::{SamplingParams, argmax, top_k};
pub use template::{ChatTemplate, Message};
pub use tokenizer::ChatTokenizer;

use crate::device::{DeviceOptions, kind_of};
use crate::error::{Error, Result};
use crate::formats::Gguf;
use crate::formats::ModelBytes;
use crate::models::decoder::{Decoder, DecoderWeights, SafetensorsSource};
use crate::options::composite_options;
use std::sync::Arc;

/// Tokens generated at most when the caller does not say.
pub const DEFAULT_MAX_TOKENS: usize = 256;

/// Options of one generation (what `generate` and `ask` share). In JavaScript the sampling
/// parameters sit in the same object.
#[derive(Clone, Debug, PartialEq, Deserialize, TS)]
#[serde(rename_all = "camelCase", default)]
#[ts(rename = "SamplingOptions")]
pub struct GenerateParams {
    /// Tokens to generate at most (default 256). The context is never exceeded.
    #[ts(as = "Option<_>", optional)]
    pub max_tokens: usize,
    /// Read from the same object as the other options.
    #[serde(skip_deserializing)]
    #[ts(skip)]
    pub sampling: SamplingParams,
    /// Strings that end generation; they are not part of the text.
    #[ts(as = "Option<_>", optional)]
    pub stop: Vec<String>,
    /// The context to stay within (prompt + generated); `None` uses the model's.
    #[serde(skip)]
    #[ts(skip)]
    pub context_tokens: Option<usize>,
    /// Keep going past end-of-turn tokens (benchmarks need a fixed number of tokens).
    #[serde(skip)]
    #[ts(skip)]
    pub ignore_eos: bool,
    /// Called with each piece of new text (never half a character).
    #[serde(skip_deserializing)]
    #[ts(optional, type = "(delta: string) => void")]
    pub on_token: Option<()>,
    /// Aborting rejects with E_ABORTED between two tokens.
    #[serde(skip_deserializing)]
    #[ts(optional, type = "AbortSignal")]
    pub signal: Option<()>,
}

impl Default for GenerateParams {
    fn default() -> Self {
        GenerateParams {
            max_tokens: DEFAULT_MAX_TOKENS,
            sampling: SamplingParams::default(),
            stop: Vec::new(),
            context_tokens: None,
            ignore_eos: false,
            on_token: None,
            signal: None,
        }
    }
}

impl GenerateParams {
    /// Checks what can be checked without the model and the prompt.
    pub fn validate(&self) -> Result<()> {
        if self.max_tokens == 0 {
            return Err(Error::Input("maxTokens must be at least 1".into()));
        }
        if self.stop.iter().any(String::is_empty) {
            return Err(Error::Input("stop strings must not be empty".into()));
        }
        self.sampling.validate()
    }
}

/// The options of `Generator.generate` besides the sampling options.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, TS)]
#[serde(rename_all = "camelCase", default)]
pub struct GenerateOptions {
    /// Use the prompt string as it is (special tokens such as `<|im_start|>` recognised) instead
    /// of as a user message in the model's chat template.
    #[ts(as = "Option<_>", optional)]
    pub raw: bool,
    /// Benchmarks: do not stop at end-of-turn tokens.
    #[ts(as = "Option<_>", optional)]
    pub ignore_eos: bool,
    /// Read from the same object.
    #[serde(skip_deserializing)]
    #[ts(skip)]
    pub params: GenerateParams,
}

/// What the browser's `Generator.load` takes: the GGUF file as bytes and the device.
#[derive(Clone, Debug, Default, Deserialize, TS)]
#[serde(rename_all = "camelCase", default)]
#[ts(rename = "GeneratorLoadOptions")]
pub struct GeneratorLoad {
    /// A GGUF file (architectures: see `ARCHITECTURES`; weights of any type `GgmlType::READABLE`).
    #[serde(with = "serde_bytes")]
    #[ts(as = "ModelBytes")]
    pub model: Vec<u8>,
    #[serde(skip_deserializing)]
    #[ts(skip)]
    pub device: DeviceOptions,
}

composite_options!(GeneratorLoad { device: DeviceOptions }, validate: |l: &GeneratorLoad| {
    if l.model.is_empty() {
        return Err(Error::Input(
            "option `model` is required: the GGUF file's bytes".into(),
        ));
    }
    Ok(())
});

/// Why generation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub enum FinishReason {
    /// The model ended its turn.
    Eos,
    /// A stop string was produced.
    Stop,
    /// `max_tokens` was reached.
    Length,
    /// The context was full.
    Context,
    /// The caller cancelled.
    Cancelled,
}

/// Token counts of one generation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    pub prompt_tokens: usize,
    pub completion_tokens: usize,
}

/// Where the time of a generation went.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct Timings {
    /// Time to the first generated token (the prompt's forward pass and the first read-back).
    pub prefill_ms: f64,
    /// Time of the remaining tokens.
    pub decode_ms: f64,
}

/// What to generate from: a user message (the chat template applied), raw text (special tokens
/// recognised), a chat, or token ids used as they are.
#[derive(Clone, Debug, PartialEq)]
pub enum Prompt {
    User(String),
    Raw(String),
    Chat(Vec<Message>),
    Ids(Vec<u32>),
}

/// A model and its tokenizer, ready to generate.
pub struct Generator {
    model: Decoder,
    tokenizer: ChatTokenizer,
}

impl Generator {
    /// From the bytes of a GGUF file: config, tokenizer and weights all come from it. The
    /// weights stay in the file's blocks and share its bytes, which the generator keeps.
    pub fn from_gguf(bytes: Vec<u8>, device: &Device) -> Result<Self> {
        let bytes = Arc::new(bytes);
        let g = Gguf::parse(&bytes)?;
        let tokenizer = ChatTokenizer::from_gguf(&g)?;
        let model = Decoder::from_gguf(&g, bytes.clone(), kind_of(device))?;
        Self::new(model, tokenizer)
    }

    /// [`Generator::from_gguf`] as the generator ran before it kept the blocks: every weight
    /// matrix dequantized to f32 on load and run by Burn's tensor operations on `device`. The
    /// benchmarks' side-by-side reference.
    #[cfg(feature = "testing")]
    pub fn from_gguf_f32(bytes: Vec<u8>, device: &Device) -> Result<Self> {
        let bytes = Arc::new(bytes);
        let g = Gguf::parse(&bytes)?;
        let tokenizer = ChatTokenizer::from_gguf(&g)?;
        let config = crate::models::decoder::config_of(&g)?;
        let weights = crate::models::decoder::load_weights(
            &config,
            &crate::models::decoder::GgufSource {
                gguf: &g,
                bytes: bytes.clone(),
            },
        )?
        .to_f32();
        drop(g);
        drop(bytes);
        let model = Decoder::burn(config, weights, device);
        Self::new(model, tokenizer)
    }

    /// From a Hugging Face checkpoint: `model.safetensors`, `config.json`, `tokenizer.json` and
    /// optionally `tokenizer_config.json` (for the chat template and the EOS token).
    pub fn from_safetensors(
        weights: Vec<u8>,
        config: &[u8],
        tokenizer: &[u8],
        tokenizer_config: Option<&[u8]>,
        device: &Device,
    ) -> Result<Self> {
        let config = crate::models::llama::config_from_json(config)?;
        config.check()?;
        let tc: Option<serde_json::Value> = match tokenizer_config {
            Some(b) => Some(serde_json::from_slice(b).map_err(|e| {
                Error::Config(format!("tokenizer_config.json is not valid JSON: {e}"))
            })?),
            None => None,
        };
        let field = |k: &str| {
            tc.as_ref().and_then(|v| v.get(k)).and_then(|v| {
                v.as_str().map(str::to_string).or_else(|| {
                    v.get("content")
                        .and_then(|c| c.as_str())
                        .map(str::to_string)
                })
            })
        };
        let eos = field("eos_token").unwrap_or_else(|| "<|im_end|>".to_string());
        let tokenizer =
            ChatTokenizer::from_json(tokenizer, &eos, field("chat_template").as_deref())?;
        let bytes = Arc::new(weights);
        let file = safetensors::SafeTensors::deserialize(&bytes)
            .map_err(|e| Error::ModelFormat(format!("not a valid safetensors file: {e}")))?;
        let weights: DecoderWeights = crate::models::decoder::load_weights(
            &config,
            &SafetensorsSource {
                file,
                bytes: bytes.clone(),
            },
        )?;
        let model = Decoder::new(config, weights, kind_of(device))?;
        Self::new(model, tokenizer)
    }

    fn new(model: Decoder, tokenizer: ChatTokenizer) -> Result<Self> {
        if tokenizer.vocab_size() > model.config().vocab_size {
            return Err(Error::Tokenizer(format!(
                "the tokenizer has {} tokens, the model only {}",
                tokenizer.vocab_size(),
                model.config().vocab_size
            )));
        }
        Ok(Generator { model, tokenizer })
    }

    pub fn tokenizer(&self) -> &ChatTokenizer {
        &self.tokenizer
    }

    pub fn model(&self) -> &Decoder {
        &self.model
    }

    /// The model's context length.
    pub fn context_length(&self) -> usize {
        self.model.config().context_length
    }

    /// Token ids of a chat, template applied.
    pub fn chat_ids(&self, messages: &[Message]) -> Result<Vec<u32>> {
        self.tokenizer.encode_chat(messages)
    }

    /// The token ids a prompt runs as.
    pub fn prompt_ids(&self, prompt: Prompt) -> Result<Vec<u32>> {
        let nonempty = |s: &str| {
            if s.trim().is_empty() {
                Err(Error::Input("the prompt is empty".into()))
            } else {
                Ok(())
            }
        };
        match prompt {
            Prompt::User(s) => {
                nonempty(&s)?;
                self.chat_ids(&[Message::new("user", s)])
            }
            Prompt::Raw(s) => {
                nonempty(&s)?;
                self.tokenizer.encode(&s)
            }
            Prompt::Chat(messages) => self.chat_ids(&messages),
            Prompt::Ids(ids) => {
                let vocab = self.model.config().vocab_size;
                match ids.iter().find(|&&i| i as usize >= vocab) {
                    Some(bad) => Err(Error::Input(format!(
                        "token id {bad} is outside the vocabulary of {vocab}"
                    ))),
                    None => Ok(ids),
                }
            }
        }
    }

    /// Starts generating after `prompt` (token ids). Fails when the prompt leaves no room in the
    /// context.
    pub fn start(&self, prompt: Vec<u32>, params: GenerateParams) -> Result<Generation<'_>> {
        params.validate()?;
        let context = params
            .context_tokens
            .unwrap_or(usize::MAX)
            .min(self.context_length());
        if prompt.is_empty() {
            return Err(Error::Input("the prompt is empty".into()));
        }
        if prompt.len() >= context {
            return Err(Error::Input(format!(
                "the prompt has {} tokens, the context only {context}",
                prompt.len()
            )));
        }
        Generation::new(self, prompt, params, context)
    }
}

composite_options!(GenerateParams { sampling: SamplingParams }, validate: GenerateParams::validate);
composite_options!(GenerateOptions { params: GenerateParams }, validate: |o: &GenerateOptions| o.params.validate());
