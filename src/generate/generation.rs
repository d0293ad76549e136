//! One generation in progress: the prompt's forward pass, then one token per step, until the
//! model ends its turn, a stop string appears, the budget or the context runs out, or the host
//! cancels.
//!
//! [`Generation::next`] runs one model step (the first runs the whole prompt) and returns the text
//! that became final with it, so a host can drive the loop itself; [`Generation::run`] is that
//! loop with [`Hooks`] for streaming, cancellation and pausing.

use serde::Serialize;
use ts_rs::TS;

use super::sampler::Sampler;
use super::stream::TextStream;
use super::{FinishReason, GenerateParams, Generator, Timings, Usage};
use crate::error::{Error, Result};
use crate::hooks::Hooks;
use crate::models::decoder::Cache;

/// Prompts are run through the model in pieces of at most this many tokens, which bounds the
/// size of the attention scores of a long prompt.
const PREFILL_CHUNK: usize = 256;

/// One generation in progress.
pub struct Generation<'g> {
    owner: &'g Generator,
    cache: Cache,
    sampler: Sampler,
    ids: Vec<u32>,
    prompt_len: usize,
    budget: usize,
    limited_by_context: bool,
    ignore_eos: bool,
    stream: TextStream,
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

/// A finished generation, as `Generator.generate` returns it.
#[derive(Clone, Debug, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(rename = "Generation")]
pub struct GenerationResult {
    pub text: String,
    pub finish_reason: FinishReason,
    pub usage: Usage,
    pub timings: Timings,
    pub prompt_ids: Vec<u32>,
    pub ids: Vec<u32>,
}

impl<'g> Generation<'g> {
    pub(super) fn new(
        owner: &'g Generator,
        prompt: Vec<u32>,
        params: GenerateParams,
        context: usize,
    ) -> Result<Self> {
        let budget = params.max_tokens.min(context - prompt.len());
        Ok(Generation {
            owner,
            cache: owner
                .model()
                .new_cache(context.min(prompt.len() + params.max_tokens))?,
            sampler: Sampler::new(params.sampling)?,
            prompt_len: prompt.len(),
            ids: prompt,
            budget,
            limited_by_context: budget < params.max_tokens,
            ignore_eos: params.ignore_eos,
            stream: TextStream::new(params.stop),
            finished: None,
            first_logits: None,
        })
    }

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
        let model = self.owner.model();
        let mut logits = if self.cache.is_empty() {
            let mut last = Vec::new();
            for piece in self.ids.chunks(PREFILL_CHUNK) {
                last = model.logits(piece, &mut self.cache).await?;
            }
            self.first_logits = Some(last.clone());
            last
        } else {
            let last = *self.ids.last().expect("prompt is not empty");
            model.logits(&[last], &mut self.cache).await?
        };
        let token = self.sampler.sample(&mut logits, &self.ids);
        self.ids.push(token);
        let tokenizer = self.owner.tokenizer();
        if !self.ignore_eos && tokenizer.is_stop(token) {
            let mut step = self.finish(FinishReason::Eos);
            step.token = Some(token);
            return Ok(Some(step));
        }
        let (delta, stopped) = self.stream.push(tokenizer.token_bytes(token));
        if stopped {
            self.finished = Some(FinishReason::Stop);
        }
        Ok(Some(Step {
            token: Some(token),
            delta,
        }))
    }

    fn finish(&mut self, reason: FinishReason) -> Step {
        self.finished = Some(reason);
        Step {
            token: None,
            delta: self.stream.finish(),
        }
    }

    /// Records a cancellation: the text so far stands, nothing more is generated.
    pub fn cancel(&mut self) -> String {
        if self.finished.is_none() {
            self.finish(FinishReason::Cancelled).delta
        } else {
            String::new()
        }
    }

    /// Runs to the end: each delta goes to `hooks.token`, the host gets a pause after every
    /// step, and a cancellation (checked before each step) stops with `E_ABORTED`. Returns the
    /// time to the first token (prefill) and of the rest (decode) on the host's clock.
    pub async fn run(&mut self, hooks: &mut impl Hooks) -> Result<Timings> {
        let start = hooks.now_ms();
        let mut first: Option<f64> = None;
        loop {
            if hooks.cancelled() {
                self.cancel();
                return Err(Error::aborted());
            }
            let step = self.next().await?;
            first.get_or_insert_with(|| hooks.now_ms());
            let Some(step) = step else { break };
            if !step.delta.is_empty() {
                hooks.token(&step.delta);
            }
            hooks.pause().await;
        }
        let end = hooks.now_ms();
        let first = first.unwrap_or(end);
        Ok(Timings {
            prefill_ms: first - start,
            decode_ms: end - first,
        })
    }

    /// The whole generation, once it has finished (`None` before).
    pub fn result(&self, timings: Timings) -> Option<GenerationResult> {
        Some(GenerationResult {
            text: self.text().to_string(),
            finish_reason: self.finished?,
            usage: self.usage(),
            timings,
            prompt_ids: self.prompt_ids().to_vec(),
            ids: self.generated_ids().to_vec(),
        })
    }

    pub fn finish_reason(&self) -> Option<FinishReason> {
        self.finished
    }

    /// The text generated so far (final once finished).
    pub fn text(&self) -> &str {
        self.stream.text()
    }

    pub fn prompt_ids(&self) -> &[u32] {
        &self.ids[..self.prompt_len]
    }

    /// Generated token ids (including the final end-of-turn token, if any).
    /// GPU dispatches of the last forward pass (on the GPU engine), for the benchmarks.
    pub fn dispatches(&self) -> Option<usize> {
        self.cache.dispatches()
    }

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
}
