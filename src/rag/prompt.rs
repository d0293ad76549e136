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
/// It is labelled with its document's title, its section ("Manual › Installation › Linux") and
/// its pages ("p. 4"), where the document has them.
fn passage(n: usize, h: &Hit) -> String {
    let mut label: Vec<&str> = Vec::new();
    for part in std::iter::once(h.title.as_str()).chain(h.heading_path.iter().map(String::as_str)) {
        let part = part.trim();
        if !part.is_empty() && label.last() != Some(&part) {
            label.push(part);
        }
    }
    let mut label = label.join(" › ");
    if let Some([a, b]) = h.pages {
        let pages = if a == b {
            format!("p. {a}")
        } else {
            format!("pp. {a}–{b}")
        };
        label = if label.is_empty() {
            pages
        } else {
            format!("{label} ({pages})")
        };
    }
    let text = h.text.trim();
    if label.is_empty() {
        format!("\n\n[{n}] {text}")
    } else {
        format!("\n\n[{n}] {label}: {text}")
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

#[cfg(test)]
mod tests {
    use super::passage;
    use crate::rag::citations::tests::hit;

    #[test]
    fn a_passage_is_labelled_with_its_title_section_and_pages() {
        let mut h = hit("d", "Run the installer.", None);
        assert_eq!(passage(1, &h), "\n\n[1] title d: Run the installer.");
        h.heading_path = vec!["title d".into(), "Installation".into(), "Linux".into()];
        h.pages = Some([4, 4]);
        assert_eq!(
            passage(2, &h),
            "\n\n[2] title d › Installation › Linux (p. 4): Run the installer."
        );
        h.title.clear();
        h.heading_path.clear();
        h.pages = Some([4, 5]);
        assert_eq!(passage(3, &h), "\n\n[3] pp. 4–5: Run the installer.");
    }
}
