//! Grounded answers, the one `ask` flow every front end calls:
//!
//! 1. [`prepare`]: search the knowledge base, keep the hits that pass the score threshold, and
//!    build the numbered prompt ([`prompt`]); with nothing relevant the answer is
//!    [`NO_ANSWER`] and the model is not called.
//! 2. [`answer`]: generate from the prompt (streaming, cancellation and pauses through
//!    [`Hooks`]) and map the `[n]` citations back to the passages ([`citations`]).
//!
//! 3. [`attribute_answer`]: which passage backs each sentence of the answer, cited or not
//!    ([`attribution`]).
//!
//! [`ask`] does all three. The browser runs the two steps under different locks (retrieval holds the
//! knowledge base, generation only the model).

mod attribution;
mod citations;
mod prompt;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

pub use attribution::{
    AnswerSentence, MIN_SUPPORT, Support, SupportPassage, attribute, support_score, support_signals,
};
pub use citations::{Citation, cited_numbers, parse_citations};
pub use prompt::{GroundedPrompt, SYSTEM_PROMPT, build_prompt};

use crate::embed::Embed;
use crate::error::{Error, Result};
use crate::generate::{FinishReason, GenerateParams, Generator, Timings, Usage};
use crate::hooks::Hooks;
use crate::kb::{Hit, KnowledgeBase, SearchOptions, Store};
use crate::options::composite_options;

/// The answer when no passage is relevant enough (the model is not run).
pub const NO_ANSWER: &str = "I could not find anything about that in your documents.";

/// How `ask` answers: the search options, the generation options and its own.
#[derive(Clone, Debug, PartialEq, Deserialize, TS)]
#[serde(rename_all = "camelCase", default)]
pub struct AskOptions {
    /// Read from the same object.
    #[serde(skip_deserializing)]
    #[ts(skip)]
    pub search: SearchOptions,
    /// Read from the same object.
    #[serde(skip_deserializing)]
    #[ts(skip)]
    pub generate: GenerateParams,
    /// Least cosine similarity between question and passage, -1..1 (default 0.25). With no
    /// passage above it, the answer says so and the model is not run.
    #[ts(as = "Option<_>", optional)]
    pub min_score: f32,
    /// Tokens the prompt and the answer share (default 2048, at most the model's context).
    #[ts(as = "Option<_>", optional)]
    pub context_tokens: usize,
    /// Least support, 0..1, for linking a sentence the model did not cite to the passage that
    /// supports it best (`support: "inferred"`); below it the sentence is `"unsupported"`
    /// (default 0.5, measured: BENCHMARKS.md "Attribution").
    #[ts(as = "Option<_>", optional)]
    pub min_support: f32,
}

impl Default for AskOptions {
    fn default() -> Self {
        AskOptions {
            search: SearchOptions::default(),
            generate: GenerateParams::default(),
            min_score: 0.25,
            context_tokens: 2048,
            min_support: MIN_SUPPORT,
        }
    }
}

impl AskOptions {
    /// Checks the ranges.
    pub fn validate(&self) -> Result<()> {
        self.search.validate()?;
        self.generate.validate()?;
        if !(-1.0..=1.0).contains(&self.min_score) {
            return Err(Error::Input(format!(
                "minScore must be a number from -1 to 1, got {}",
                self.min_score
            )));
        }
        if !(0.0..=1.0).contains(&self.min_support) {
            return Err(Error::Input(format!(
                "minSupport must be a number from 0 to 1, got {}",
                self.min_support
            )));
        }
        if self.context_tokens == 0 {
            return Err(Error::Input("contextTokens must be at least 1".into()));
        }
        Ok(())
    }
}

/// What `ask` returns.
#[derive(Clone, Debug, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct Answer {
    pub answer: String,
    /// Passages the answer cites, in order of first citation.
    pub citations: Vec<Citation>,
    /// Numbers the answer cites that were never given (dropped from `citations`).
    pub invalid_citations: Vec<usize>,
    /// Every passage given to the model, numbered from 1.
    pub passages: Vec<Citation>,
    /// Each sentence of the answer with the passages behind it: cited by the model, inferred
    /// (not cited, but a passage supports it), or unsupported. Empty when the model did not run.
    pub sentences: Vec<AnswerSentence>,
    pub usage: Usage,
    /// null when no passage was relevant and the model did not run.
    pub finish_reason: Option<FinishReason>,
    /// null when the model did not run.
    pub timings: Option<Timings>,
}

impl Answer {
    /// The answer when nothing relevant was found.
    pub fn none() -> Answer {
        Answer {
            answer: NO_ANSWER.to_string(),
            citations: Vec::new(),
            invalid_citations: Vec::new(),
            passages: Vec::new(),
            sentences: Vec::new(),
            usage: Usage::default(),
            finish_reason: None,
            timings: None,
        }
    }
}

/// The first step's outcome: an answer already (nothing relevant), or a prompt to generate from.
#[derive(Clone, Debug)]
pub enum Prepared {
    Answered(Answer),
    Prompt(GroundedPrompt),
}

/// The hits whose vector similarity reaches `min_score`. Hits found by the lexical retriever
/// alone (no vector score) count when they matched at all.
pub fn relevant(hits: &[Hit], min_score: f32) -> Vec<Hit> {
    hits.iter()
        .filter(|h| match (h.scores.vector, h.scores.lexical) {
            (Some(v), _) => v >= min_score,
            (None, Some(l)) => l > 0.0,
            (None, None) => false,
        })
        .cloned()
        .collect()
}

/// Step 1: retrieval, relevance and the prompt.
pub async fn prepare<S: Store, E: Embed>(
    kb: &KnowledgeBase<S, E>,
    generator: &Generator,
    question: &str,
    opts: &AskOptions,
) -> Result<Prepared> {
    opts.validate()?;
    crate::kb::check_query(question, "the question")?;
    let hits = kb.search(question, &opts.search).await?;
    let hits = relevant(&hits, opts.min_score);
    if hits.is_empty() {
        return Ok(Prepared::Answered(Answer::none()));
    }
    let context = opts.context_tokens.min(generator.context_length());
    build_prompt(
        generator.tokenizer(),
        question,
        &hits,
        opts.generate.max_tokens,
        context,
    )
    .map(Prepared::Prompt)
}

/// Step 2: the answer. Without a prompt the prepared answer is streamed as it is.
pub async fn answer(
    generator: &Generator,
    prepared: Prepared,
    opts: &AskOptions,
    hooks: &mut impl Hooks,
) -> Result<Answer> {
    let prompt = match prepared {
        Prepared::Answered(a) => {
            hooks.token(&a.answer);
            return Ok(a);
        }
        Prepared::Prompt(p) => p,
    };
    if hooks.cancelled() {
        return Err(Error::aborted());
    }
    let params = GenerateParams {
        context_tokens: Some(opts.context_tokens.min(generator.context_length())),
        ..opts.generate.clone()
    };
    let mut g = generator.start(prompt.ids.clone(), params)?;
    let timings = g.run(hooks).await?;
    let text = g.text().trim().to_string();
    let (citations, invalid_citations) = parse_citations(&text, &prompt.passages);
    Ok(Answer {
        answer: text,
        citations,
        invalid_citations,
        passages: prompt
            .passages
            .iter()
            .enumerate()
            .map(|(i, h)| citations::citation(i + 1, h))
            .collect(),
        sentences: Vec::new(),
        usage: g.usage(),
        finish_reason: g.finish_reason(),
        timings: Some(timings),
    })
}

/// Step 3: which passage backs each sentence of the answer (`sentences`). The passages'
/// stored vectors are used; a passage removed since it was retrieved is embedded again.
pub async fn attribute_answer<S: Store, E: Embed>(
    kb: &KnowledgeBase<S, E>,
    answer: &mut Answer,
    opts: &AskOptions,
) -> Result<()> {
    if answer.passages.is_empty() {
        return Ok(());
    }
    let mut vectors: Vec<Vec<f32>> = Vec::with_capacity(answer.passages.len());
    let missing: Vec<&str> = answer
        .passages
        .iter()
        .filter(|p| kb.index().vector(p.chunk_id).is_none())
        .map(|p| p.text.as_str())
        .collect();
    let mut again = if missing.is_empty() {
        Vec::new()
    } else {
        kb.embedder()
            .embed_texts(&missing, crate::embed::Role::Passage)
            .await?
    }
    .into_iter();
    for p in &answer.passages {
        match kb.index().vector(p.chunk_id) {
            Some(v) => vectors.push(v.0.to_vec()),
            None => vectors.push(again.next().unwrap_or_default()),
        }
    }
    let passages: Vec<SupportPassage> = answer
        .passages
        .iter()
        .zip(&vectors)
        .map(|(p, v)| SupportPassage {
            text: &p.text,
            vector: v,
        })
        .collect();
    answer.sentences =
        attribute(kb.embedder(), &answer.answer, &passages, opts.min_support).await?;
    Ok(())
}

/// All three steps.
pub async fn ask<S: Store, E: Embed>(
    kb: &KnowledgeBase<S, E>,
    generator: &Generator,
    question: &str,
    opts: &AskOptions,
    hooks: &mut impl Hooks,
) -> Result<Answer> {
    let prepared = prepare(kb, generator, question, opts).await?;
    let mut a = answer(generator, prepared, opts, hooks).await?;
    attribute_answer(kb, &mut a, opts).await?;
    Ok(a)
}

composite_options!(AskOptions { search: SearchOptions, generate: GenerateParams }, validate: AskOptions::validate);

#[cfg(test)]
mod tests {
    use super::*;
    use citations::tests::hit;

    #[test]
    fn threshold_keeps_relevant_hits() {
        let hits = vec![
            hit("a", "x", Some(0.5)),
            hit("b", "y", Some(0.1)),
            hit("c", "z", None),
        ];
        let kept = relevant(&hits, 0.25);
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].doc_id, "a");
        let mut lex = hit("d", "w", None);
        lex.scores.lexical = Some(2.0);
        assert_eq!(relevant(&[lex], 0.25).len(), 1);
    }

    #[test]
    fn options_are_checked() {
        let mut o = AskOptions::default();
        assert!(o.validate().is_ok());
        o.min_score = 1.5;
        assert_eq!(o.validate().unwrap_err().code(), "E_INPUT");
        let mut o = AskOptions::default();
        o.search.k = 0;
        assert_eq!(o.validate().unwrap_err().code(), "E_INPUT");
        let mut o = AskOptions::default();
        o.generate.max_tokens = 0;
        assert_eq!(o.validate().unwrap_err().code(), "E_INPUT");
    }
}
