//! The grounded prompt: the passages numbered `[1]..[n]` best first, as many whole passages as
//! leave room for the answer.
//!
//! The user message is assembled from pieces that each begin with a line break and end with
//! visible text (`Passages:`, `\n\n[1] title: text`, …, `\n\nQuestion: …`). A byte-level BPE
//! pre-tokenizer always splits between visible text and a following line break, so a piece has
//! the same tokens alone as inside the message: each passage is tokenized once, the counts add
//! up, and one encoding of the final chat confirms the total (dropping the last passage in the
//! rare case a tokenizer does merge across a boundary).

use crate::error::{Error, Result};
use crate::generate::{ChatTokenizer, Message};
use crate::kb::Hit;

/// Instructions given to the model with the passages.
pub const SYSTEM_PROMPT: &str = "You are a helpful assistant. Answer the question using only the numbered passages. \
After each fact, cite the passage it comes from as [n], for example [1]. \
If the passages do not contain the answer, say that you do not know.";

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

/// Passage `n` (from 1) as it appears in the prompt, with the line break before it.
fn passage(n: usize, h: &Hit) -> String {
    let (title, text) = (h.title.trim(), h.text.trim());
    if title.is_empty() {
        format!("\n\n[{n}] {text}")
    } else {
        format!("\n\n[{n}] {title}: {text}")
    }
}

fn question_piece(question: &str) -> String {
    format!("\n\nQuestion: {}", question.trim())
}

fn messages(question: &str, passages: &[String]) -> Vec<Message> {
    let mut user = String::from("Passages:");
    for p in passages {
        user.push_str(p);
    }
    user.push_str(&question_piece(question));
    vec![
        Message::new("system", SYSTEM_PROMPT),
        Message::new("user", user),
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
    let budget = context_tokens.saturating_sub(max_tokens);
    let bare = tokenizer.encode_chat(&messages(question, &[]))?;
    if bare.len() > budget {
        return Err(Error::Input(format!(
            "the question takes {} tokens with the instructions; with {max_tokens} for the answer that exceeds the context of {context_tokens}",
            bare.len()
        )));
    }
    // Whole passages, best first, while their tokens fit (each passage tokenized once).
    let mut pieces = Vec::new();
    let mut used = bare.len();
    for (i, h) in hits.iter().enumerate() {
        let piece = passage(i + 1, h);
        let n = tokenizer.encode_plain(&piece)?.len();
        if used + n > budget {
            break;
        }
        used += n;
        pieces.push(piece);
    }
    // The final prompt's exact count.
    let mut ids = tokenizer.encode_chat(&messages(question, &pieces))?;
    while ids.len() > budget {
        pieces.pop();
        ids = tokenizer.encode_chat(&messages(question, &pieces))?;
    }
    let chosen = pieces.len();
    Ok(GroundedPrompt {
        messages: messages(question, &pieces),
        ids,
        passages: hits[..chosen].to_vec(),
        left_out: hits.len() - chosen,
    })
}
