//! Grounded answers: retrieved passages become a numbered prompt, the model answers citing
//! `[n]`, and the citations are mapped back to the documents.
//!
//! 1. [`relevant`] keeps the hits that pass the score threshold; none left means the answer is
//!    [`NO_ANSWER`] and the model is not called.
//! 2. [`build_prompt`] numbers the passages `[1]..[n]` best first and packs whole passages while
//!    the prompt and the answer (`max_tokens`) fit the context.
//! 3. [`parse_citations`] reads `[n]`, `[n, m]` and `[n][m]` in the answer and maps each number to
//!    its passage; numbers that were never given are dropped and reported.

use serde::Serialize;

use crate::chat::{ChatTokenizer, Message};
use crate::error::{Error, Result};
use crate::generator::{FinishReason, Generation, Usage};
use crate::kb::Hit;

/// The answer when no passage is relevant enough (the model is not run).
pub const NO_ANSWER: &str = "I could not find anything about that in your documents.";

/// Instructions given to the model with the passages.
pub const SYSTEM_PROMPT: &str = "You are a helpful assistant. Answer the question using only the numbered passages. \
After each fact, cite the passage it comes from as [n], for example [1]. \
If the passages do not contain the answer, say that you do not know.";

/// How an answer is produced.
#[derive(Clone, Debug, PartialEq)]
pub struct AskOptions {
    /// Passages retrieved.
    pub k: usize,
    /// Tokens the answer may take.
    pub max_tokens: usize,
    /// The context the prompt and the answer share (at most the model's).
    pub context_tokens: usize,
    /// Least cosine similarity between question and passage for the passage to be used.
    pub min_score: f32,
}

impl Default for AskOptions {
    fn default() -> Self {
        AskOptions {
            k: 5,
            max_tokens: 256,
            context_tokens: 2048,
            min_score: 0.25,
        }
    }
}

/// A passage the answer cites.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Citation {
    /// The number the passage had in the prompt.
    pub n: usize,
    pub doc_id: String,
    pub chunk_id: u64,
    pub title: String,
    /// UTF-16 offsets of the passage in its document.
    pub start: usize,
    pub end: usize,
    pub text: String,
}

/// What `ask` returns.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Answer {
    pub answer: String,
    /// Cited passages, in order of first citation.
    pub citations: Vec<Citation>,
    /// Numbers cited that were not given in the prompt (dropped from `citations`).
    pub invalid_citations: Vec<usize>,
    /// Passages given to the model, numbered from 1 (cited or not).
    pub passages: Vec<Citation>,
    pub usage: Usage,
    /// Why the answer ended (`None` when the model was not run).
    pub finish_reason: Option<FinishReason>,
}

/// A prompt with the passages it numbers.
#[derive(Clone, Debug)]
pub struct GroundedPrompt {
    pub messages: Vec<Message>,
    pub ids: Vec<u32>,
    /// Passage `n` is `passages[n - 1]`.
    pub passages: Vec<Hit>,
    /// Relevant hits left out because they did not fit.
    pub left_out: usize,
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

fn passage_block(hits: &[Hit]) -> String {
    let mut s = String::new();
    for (i, h) in hits.iter().enumerate() {
        let title = h.title.trim();
        let text = h.text.trim();
        if title.is_empty() {
            s.push_str(&format!("[{}] {text}\n\n", i + 1));
        } else {
            s.push_str(&format!("[{}] {title}: {text}\n\n", i + 1));
        }
    }
    s
}

fn messages(question: &str, hits: &[Hit]) -> Vec<Message> {
    vec![
        Message::new("system", SYSTEM_PROMPT),
        Message::new(
            "user",
            format!(
                "Passages:\n\n{}Question: {}",
                passage_block(hits),
                question.trim()
            ),
        ),
    ]
}

/// Builds the prompt: passages best first, whole, as many as leave `max_tokens` for the answer
/// within `context_tokens`. The token count is that of the final prompt, so it can never
/// overflow.
pub fn build_prompt(
    tokenizer: &ChatTokenizer,
    question: &str,
    hits: &[Hit],
    max_tokens: usize,
    context_tokens: usize,
) -> Result<GroundedPrompt> {
    if question.trim().is_empty() {
        return Err(Error::Input("the question is empty".into()));
    }
    let budget = context_tokens.checked_sub(max_tokens).unwrap_or(0);
    let bare = tokenizer.encode_chat(&messages(question, &[]))?;
    if bare.len() > budget {
        return Err(Error::Input(format!(
            "the question takes {} tokens with the instructions; with {max_tokens} for the answer that exceeds the context of {context_tokens}",
            bare.len()
        )));
    }
    // Grow while the exact count fits; each passage is whole or absent.
    let mut chosen = 0;
    let mut ids = bare;
    for n in 1..=hits.len() {
        let candidate = tokenizer.encode_chat(&messages(question, &hits[..n]))?;
        if candidate.len() > budget {
            break;
        }
        chosen = n;
        ids = candidate;
    }
    Ok(GroundedPrompt {
        messages: messages(question, &hits[..chosen]),
        ids,
        passages: hits[..chosen].to_vec(),
        left_out: hits.len() - chosen,
    })
}

fn citation(n: usize, h: &Hit) -> Citation {
    Citation {
        n,
        doc_id: h.doc_id.clone(),
        chunk_id: h.chunk_id,
        title: h.title.clone(),
        start: h.start,
        end: h.end,
        text: h.text.clone(),
    }
}

/// Every number cited in `text`, in order of appearance (repeats kept): `[1]`, `[1, 2]`,
/// `[1,2,3]`, `[1][2]`. Brackets holding anything else (`[a]`, `[1.5]`) are not citations.
pub fn cited_numbers(text: &str) -> Vec<usize> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        let Some(close) = after.find(']') else { break };
        let inner = &after[..close];
        let parts: Vec<&str> = inner.split(',').map(str::trim).collect();
        let numbers: Option<Vec<usize>> = parts
            .iter()
            .map(|p| {
                (!p.is_empty() && p.len() <= 6 && p.bytes().all(|b| b.is_ascii_digit()))
                    .then(|| p.parse().ok())
                    .flatten()
            })
            .collect();
        match numbers {
            Some(ns) => {
                out.extend(ns);
                rest = &after[close + 1..];
            }
            // Not a citation: look again from just after this `[` (it may contain another).
            None => rest = after,
        }
    }
    out
}

/// Maps cited numbers to passages: `(citations in order of first appearance, invalid numbers)`.
pub fn parse_citations(text: &str, passages: &[Hit]) -> (Vec<Citation>, Vec<usize>) {
    let mut cites: Vec<Citation> = Vec::new();
    let mut invalid = Vec::new();
    for n in cited_numbers(text) {
        if n >= 1 && n <= passages.len() {
            if !cites.iter().any(|c| c.n == n) {
                cites.push(citation(n, &passages[n - 1]));
            }
        } else if !invalid.contains(&n) {
            invalid.push(n);
        }
    }
    (cites, invalid)
}

/// The answer when nothing relevant was found.
pub fn no_answer() -> Answer {
    Answer {
        answer: NO_ANSWER.to_string(),
        citations: Vec::new(),
        invalid_citations: Vec::new(),
        passages: Vec::new(),
        usage: Usage::default(),
        finish_reason: None,
    }
}

/// The answer once `generation` has finished (or was cancelled).
pub fn answer(prompt: &GroundedPrompt, generation: &Generation<'_>) -> Answer {
    let text = generation.text().trim().to_string();
    let (citations, invalid_citations) = parse_citations(&text, &prompt.passages);
    Answer {
        answer: text,
        citations,
        invalid_citations,
        passages: prompt
            .passages
            .iter()
            .enumerate()
            .map(|(i, h)| citation(i + 1, h))
            .collect(),
        usage: generation.usage(),
        finish_reason: generation.finish_reason(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kb::HitScores;

    pub(crate) fn hit(doc: &str, text: &str, vector: Option<f32>) -> Hit {
        Hit {
            doc_id: doc.into(),
            chunk_id: 7,
            text: text.into(),
            start: 3,
            end: 3 + text.encode_utf16().count(),
            title: format!("title {doc}"),
            source: String::new(),
            metadata: serde_json::Value::Null,
            score: 1.0,
            scores: HitScores {
                vector,
                lexical: None,
                fused: 0.0,
                rerank: 0.0,
            },
        }
    }

    #[test]
    fn reads_every_citation_form() {
        assert_eq!(
            cited_numbers("a [1] b [2, 3] c [4][5] [x] [1.5] [ 6 ]"),
            vec![1, 2, 3, 4, 5, 6]
        );
        assert_eq!(cited_numbers("[[2]] [] [,] [12345678] ["), vec![2]);
        assert_eq!(cited_numbers("no citations"), Vec::<usize>::new());
    }

    #[test]
    fn maps_citations_and_reports_invalid_ones() {
        let passages = vec![hit("a", "alpha", Some(0.9)), hit("b", "beta", Some(0.8))];
        let (c, bad) = parse_citations("B is beta [2]. A [1][2]. Wrong [3] [0] [3].", &passages);
        assert_eq!(c.iter().map(|c| c.n).collect::<Vec<_>>(), vec![2, 1]);
        assert_eq!(c[0].doc_id, "b");
        assert_eq!(c[0].text, "beta");
        assert_eq!((c[0].start, c[0].end), (3, 7));
        assert_eq!(bad, vec![3, 0]);
    }

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
}
