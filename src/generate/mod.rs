//! Text generation: a Llama-family model with its tokenizer, and a step-by-step generation that
//! streams text deltas.
//!
//! [`Generation::next`] runs one model step (the first runs the whole prompt) and returns the text
//! that became final with it. The caller owns the loop, so it decides where to yield, how to
//! report progress and when to stop (cancellation is simply not calling `next` again, or
//! [`Generation::cancel`] to record it).

use burn::tensor::Device;
use serde::Serialize;

use crate::chat::{ChatTokenizer, Message, Utf8Stream};
use crate::error::{Error, Result};
use crate::gguf::Gguf;
use crate::models::llama::{KvCache, Llama, LlamaConfig};
use crate::sample::{Sampler, SamplingParams};

/// Prompts are run through the model in pieces of at most this many tokens, which bounds the
/// size of the attention scores of a long prompt.
const PREFILL_CHUNK: usize = 256;

/// Options of one generation.
#[derive(Clone, Debug)]
pub struct GenerateParams {
    pub max_tokens: usize,
    pub sampling: SamplingParams,
    /// Generation stops before any of these strings; they are not part of the text.
    pub stop: Vec<String>,
    /// The context to stay within (prompt + generated); `None` uses the model's.
    pub context_tokens: Option<usize>,
    /// Keep going past end-of-turn tokens (benchmarks need a fixed number of tokens).
    pub ignore_eos: bool,
}

impl Default for GenerateParams {
    fn default() -> Self {
        GenerateParams {
            max_tokens: 256,
            sampling: SamplingParams::default(),
            stop: Vec::new(),
            context_tokens: None,
            ignore_eos: false,
        }
    }
}

/// Why generation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
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
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    pub prompt_tokens: usize,
    pub completion_tokens: usize,
}

/// A model and its tokenizer, ready to generate.
pub struct Generator {
    model: Llama,
    tokenizer: ChatTokenizer,
}

impl Generator {
    /// From the bytes of a GGUF file: config, tokenizer and weights all come from it.
    pub fn from_gguf(bytes: &[u8], device: &Device) -> Result<Self> {
        let g = Gguf::parse(bytes)?;
        let tokenizer = ChatTokenizer::from_gguf(&g)?;
        let model = Llama::from_gguf(&g, device)?;
        Self::new(model, tokenizer)
    }

    /// From a Hugging Face checkpoint: `model.safetensors`, `config.json`, `tokenizer.json` and
    /// optionally `tokenizer_config.json` (for the chat template and the EOS token).
    pub fn from_safetensors(
        weights: &[u8],
        config: &[u8],
        tokenizer: &[u8],
        tokenizer_config: Option<&[u8]>,
        device: &Device,
    ) -> Result<Self> {
        let config = LlamaConfig::from_json(config)?;
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
        let model = Llama::from_safetensors(weights, config, device)?;
        Self::new(model, tokenizer)
    }

    fn new(model: Llama, tokenizer: ChatTokenizer) -> Result<Self> {
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

    pub fn model(&self) -> &Llama {
        &self.model
    }

    pub fn device(&self) -> &Device {
        self.model.device()
    }

    /// The model's context length.
    pub fn context_length(&self) -> usize {
        self.model.config().context_length
    }

    /// Token ids of a chat, template applied.
    pub fn chat_ids(&self, messages: &[Message]) -> Result<Vec<u32>> {
        self.tokenizer.encode_chat(messages)
    }

    /// Starts generating after `prompt` (token ids). Fails when the prompt leaves no room in the
    /// context.
    pub fn start(&self, prompt: Vec<u32>, params: GenerateParams) -> Result<Generation<'_>> {
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
        if params.max_tokens == 0 {
            return Err(Error::Input("maxTokens must be at least 1".into()));
        }
        if params.stop.iter().any(String::is_empty) {
            return Err(Error::Input("stop strings must not be empty".into()));
        }
        let budget = params.max_tokens.min(context - prompt.len());
        let sampler = Sampler::new(params.sampling.clone())?;
        Ok(Generation {
            owner: self,
            cache: self.model.new_cache(),
            sampler,
            prompt_len: prompt.len(),
            ids: prompt,
            budget,
            limited_by_context: budget < params.max_tokens,
            stop: params.stop,
            ignore_eos: params.ignore_eos,
            utf8: Utf8Stream::default(),
            text: String::new(),
            emitted: 0,
            finished: None,
            first_logits: None,
        })
    }
}

/// One generation in progress.
pub struct Generation<'g> {
    owner: &'g Generator,
    cache: KvCache,
    sampler: Sampler,
    ids: Vec<u32>,
    prompt_len: usize,
    budget: usize,
    limited_by_context: bool,
    stop: Vec<String>,
    ignore_eos: bool,
    utf8: Utf8Stream,
    /// Everything decoded so far (up to a stop string once one is found).
    text: String,
    /// How much of `text` has been handed out.
    emitted: usize,
    finished: Option<FinishReason>,
    first_logits: Option<Vec<f32>>,
}

/// What one step produced.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// The token chosen (absent when the step only ended the generation).
    pub token: Option<u32>,
    /// Text that became final with this step (may be empty: half a character, or text that
    /// could still turn out to be the start of a stop string).
    pub delta: String,
}

impl Generation<'_> {
    /// Runs one step. `Ok(None)` once generation has finished.
    pub async fn next(&mut self) -> Result<Option<Step>> {
        if self.finished.is_some() {
            return Ok(None);
        }
        let generated = self.ids.len() - self.prompt_len;
        if generated >= self.budget {
            return Ok(Some(self.finish(if self.limited_by_context {
                FinishReason::Context
            } else {
                FinishReason::Length
            })));
        }
        let mut logits = if self.cache.is_empty() {
            let mut last = Vec::new();
            for piece in self.ids.chunks(PREFILL_CHUNK) {
                last = self.owner.model.logits(piece, &mut self.cache).await?;
            }
            self.first_logits = Some(last.clone());
            last
        } else {
            let last = *self.ids.last().expect("prompt is not empty");
            self.owner.model.logits(&[last], &mut self.cache).await?
        };
        let token = self.sampler.sample(&mut logits, &self.ids);
        self.ids.push(token);
        if !self.ignore_eos && self.owner.tokenizer.is_stop(token) {
            let mut step = self.finish(FinishReason::Eos);
            step.token = Some(token);
            return Ok(Some(step));
        }
        let piece = self.utf8.push(self.owner.tokenizer.token_bytes(token));
        self.text.push_str(&piece);
        if self.cut_at_stop() {
            let mut step = self.finish(FinishReason::Stop);
            step.token = Some(token);
            return Ok(Some(step));
        }
        // Hold back a tail that could still become a stop string.
        let hold = self
            .stop
            .iter()
            .map(|s| longest_prefix_suffix(&self.text[self.emitted..], s))
            .max()
            .unwrap_or(0);
        let upto = self.text.len() - hold;
        let delta = self.text[self.emitted..upto].to_string();
        self.emitted = upto;
        Ok(Some(Step {
            token: Some(token),
            delta,
        }))
    }

    /// Truncates `text` at the first stop string, if one is there now.
    fn cut_at_stop(&mut self) -> bool {
        let from = self.emitted;
        let hit = self
            .stop
            .iter()
            .filter_map(|s| self.text[from..].find(s.as_str()).map(|i| from + i))
            .min();
        match hit {
            Some(at) => {
                self.text.truncate(at);
                true
            }
            None => false,
        }
    }

    fn finish(&mut self, reason: FinishReason) -> Step {
        if reason != FinishReason::Stop {
            let rest = self.utf8.finish();
            self.text.push_str(&rest);
            self.cut_at_stop();
        }
        self.finished = Some(reason);
        let delta = self.text[self.emitted..].to_string();
        self.emitted = self.text.len();
        Step { token: None, delta }
    }

    /// Records a cancellation: the text so far stands, nothing more is generated.
    pub fn cancel(&mut self) -> String {
        if self.finished.is_none() {
            self.finish(FinishReason::Cancelled).delta
        } else {
            String::new()
        }
    }

    pub fn finish_reason(&self) -> Option<FinishReason> {
        self.finished
    }

    /// The text generated so far (final once finished).
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn prompt_ids(&self) -> &[u32] {
        &self.ids[..self.prompt_len]
    }

    /// Generated token ids (including the final end-of-turn token, if any).
    pub fn generated_ids(&self) -> &[u32] {
        &self.ids[self.prompt_len..]
    }

    /// Logits at the first generated position (after the prefill step).
    pub fn first_logits(&self) -> Option<&[f32]> {
        self.first_logits.as_deref()
    }

    pub fn usage(&self) -> Usage {
        Usage {
            prompt_tokens: self.prompt_len,
            completion_tokens: self.ids.len() - self.prompt_len,
        }
    }

    /// Runs to the end, calling `on_delta` with each non-empty delta.
    pub async fn run(&mut self, mut on_delta: impl FnMut(&str)) -> Result<()> {
        while let Some(step) = self.next().await? {
            if !step.delta.is_empty() {
                on_delta(&step.delta);
            }
        }
        Ok(())
    }
}

/// Length of the longest suffix of `text` that is a proper prefix of `stop` (at a char boundary).
fn longest_prefix_suffix(text: &str, stop: &str) -> usize {
    let max = text.len().min(stop.len().saturating_sub(1));
    (1..=max)
        .rev()
        .find(|&n| {
            text.is_char_boundary(text.len() - n)
                && stop.is_char_boundary(n)
                && text.ends_with(&stop[..n])
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_suffix_overlap() {
        assert_eq!(longest_prefix_suffix("hello <|", "<|im_end|>"), 2);
        assert_eq!(longest_prefix_suffix("hello", "<|im_end|>"), 0);
        assert_eq!(longest_prefix_suffix("ab", "ab"), 0);
        assert_eq!(longest_prefix_suffix("xa", "ab"), 1);
        assert_eq!(longest_prefix_suffix("é", "éa"), 2);
    }
}
