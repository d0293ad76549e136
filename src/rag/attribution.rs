//! Which given passage supports each sentence of an answer, whether or not the model wrote
//! `[n]`. Small models often answer from the right passage and cite nothing; a sentence the
//! model cited is `cited`, one it did not is linked to the passage that supports it best when
//! that support reaches a threshold (`inferred`), and otherwise marked `unsupported`.
//!
//! Support of a sentence by a passage mixes two signals, each 0..1: the cosine of their
//! embeddings (the passage's stored vector, the sentence embedded as a query) and the share of
//! the sentence's terms the passage contains (the lexical analyzer's terms; a term matches a
//! passage term it shares its first [`STEM_CHARS`] characters with, so "bleached" finds
//! "bleaching"). The weight and the threshold were measured on a labelled set of 70 answer
//! sentences (`tests/fixtures/attribution`, `scripts/attribution-threshold.py`; BENCHMARKS.md
//! "Attribution"): the words a sentence shares with a passage tell support from outside
//! knowledge better than the embeddings do, and one weight and threshold serve all three
//! embedders (the cosines of multilingual-e5-small run much higher than MiniLM's).

use std::collections::HashSet;

use serde::Serialize;
use ts_rs::TS;

use super::citations::cited_numbers;
use crate::embed::{Embed, Role};
use crate::error::Result;
use crate::text::analyze;
use crate::util::cosine;

/// Weight of the embedding cosine in a support score (the rest is lexical overlap).
pub const COSINE_WEIGHT: f32 = 0.2;
/// Default least support for an inferred link (`minSupport`).
pub const MIN_SUPPORT: f32 = 0.5;
/// Terms of at least this many characters match on this long a common prefix.
pub const STEM_CHARS: usize = 5;

/// How a sentence of an answer is backed by the passages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum Support {
    /// The model cited the passages (`[n]` in the sentence).
    Cited,
    /// Not cited; the passage that supports it best reaches `minSupport`.
    Inferred,
    /// Not cited, and no passage supports it enough.
    Unsupported,
}

/// A sentence of an answer and the passages behind it.
#[derive(Clone, Debug, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct AnswerSentence {
    /// UTF-16 offsets of the sentence in the answer (its citation marks included).
    pub start: usize,
    pub end: usize,
    pub support: Support,
    /// Passage numbers (`n` of `passages`): those cited, or the one inferred; empty when
    /// unsupported.
    pub passages: Vec<usize>,
    /// The best support any passage gives the sentence, 0..1 (null for a sentence without
    /// words).
    pub score: Option<f32>,
}

/// Byte ranges of the sentences of `text`: cut after `.`, `!`, `?` (and their CJK forms) that
/// end a sentence, and at line breaks; citation marks and closing quotes or brackets right after
/// the end stay with the sentence. Blank pieces are dropped and each range is trimmed.
pub fn sentences(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let end = match c {
            '\n' => Some(i),
            '。' | '！' | '？' => Some(i + c.len_utf8()),
            '.' | '!' | '?' => {
                // The end of a sentence is followed by a space, a line break or the end.
                let next = text[i + 1..].chars().next();
                match next {
                    None => Some(i + 1),
                    Some(n)
                        if n.is_whitespace() || matches!(n, '"' | '\'' | ')' | '”' | '’' | '[') =>
                    {
                        Some(i + 1)
                    }
                    _ => None,
                }
            }
            _ => None,
        };
        let Some(mut end) = end else { continue };
        if c != '\n' {
            // Keep closing quotes, brackets and `[n]` marks that follow with this sentence.
            end += trailing_marks(&text[end..]);
            while chars.peek().is_some_and(|&(j, _)| j < end) {
                chars.next();
            }
        }
        push_trimmed(text, start, end, &mut out);
        start = end;
    }
    push_trimmed(text, start, text.len(), &mut out);
    out
}

/// Bytes at the start of `rest` that belong to the sentence before: closing quotes and
/// brackets, and citation marks `[1]`, `[1, 2]` with the spaces before them.
fn trailing_marks(rest: &str) -> usize {
    let mut taken = 0;
    loop {
        let r = &rest[taken..];
        let spaces = r.len() - r.trim_start_matches([' ', '\t']).len();
        let after = &r[spaces..];
        if let Some(c) = after.chars().next()
            && matches!(c, '"' | '\'' | ')' | '”' | '’')
            && spaces == 0
        {
            taken += c.len_utf8();
            continue;
        }
        if after.starts_with('[')
            && let Some(close) = after.find(']')
            && !cited_numbers(&after[..=close]).is_empty()
        {
            taken += spaces + close + 1;
            continue;
        }
        return taken;
    }
}

fn push_trimmed(text: &str, start: usize, end: usize, out: &mut Vec<(usize, usize)>) {
    let piece = &text[start..end];
    let lead = piece.len() - piece.trim_start().len();
    let trimmed = piece.trim();
    if !trimmed.is_empty() {
        out.push((start + lead, start + lead + trimmed.len()));
    }
}

/// `text` without its citation marks (what is compared with the passages).
pub fn without_marks(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        out.push_str(&rest[..open]);
        let after = &rest[open..];
        match after.find(']') {
            Some(close) if !cited_numbers(&after[..=close]).is_empty() => {
                rest = &after[close + 1..];
            }
            _ => {
                out.push('[');
                rest = &after[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Whether term `a` of a sentence matches term `b` of a passage.
fn term_matches(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    // Numbers match exactly only; words on a common prefix of STEM_CHARS characters.
    if a.chars().any(|c| c.is_ascii_digit()) || b.chars().any(|c| c.is_ascii_digit()) {
        return false;
    }
    let mut n = 0;
    for (x, y) in a.chars().zip(b.chars()) {
        if x != y {
            break;
        }
        n += 1;
        if n == STEM_CHARS {
            return true;
        }
    }
    false
}

/// Share (0..1) of the distinct terms of `sentence` that `passage_terms` contains; 0 for a
/// sentence without terms.
pub fn lexical_support(sentence: &str, passage_terms: &HashSet<String>) -> f32 {
    let terms: HashSet<String> = analyze(sentence).into_iter().collect();
    if terms.is_empty() {
        return 0.0;
    }
    let found = terms
        .iter()
        .filter(|t| passage_terms.contains(*t) || passage_terms.iter().any(|p| term_matches(t, p)))
        .count();
    found as f32 / terms.len() as f32
}

/// The support score of a cosine and a lexical share.
pub fn support_score(cosine: f32, lexical: f32) -> f32 {
    COSINE_WEIGHT * cosine.max(0.0) + (1.0 - COSINE_WEIGHT) * lexical
}

/// A passage as attribution sees it: its text and its stored vector.
pub struct SupportPassage<'a> {
    pub text: &'a str,
    pub vector: &'a [f32],
}

/// The cosine and lexical share of each sentence (by row) against each passage (by column).
pub async fn support_signals<E: Embed>(
    embedder: &E,
    sentences: &[&str],
    passages: &[SupportPassage<'_>],
) -> Result<Vec<Vec<(f32, f32)>>> {
    let clean: Vec<String> = sentences.iter().map(|s| without_marks(s)).collect();
    let refs: Vec<&str> = clean.iter().map(String::as_str).collect();
    let vectors = if refs.is_empty() {
        Vec::new()
    } else {
        embedder.embed_texts(&refs, Role::Query).await?
    };
    let terms: Vec<HashSet<String>> = passages
        .iter()
        .map(|p| analyze(p.text).into_iter().collect())
        .collect();
    Ok(clean
        .iter()
        .zip(&vectors)
        .map(|(s, v)| {
            passages
                .iter()
                .zip(&terms)
                .map(|(p, t)| (cosine(v, p.vector), lexical_support(s, t)))
                .collect()
        })
        .collect())
}

/// Each sentence of `answer` with the passages behind it. `passages[i]` is passage `i + 1`.
pub async fn attribute<E: Embed>(
    embedder: &E,
    answer: &str,
    passages: &[SupportPassage<'_>],
    min_support: f32,
) -> Result<Vec<AnswerSentence>> {
    let spans = sentences(answer);
    let texts: Vec<&str> = spans.iter().map(|&(a, b)| &answer[a..b]).collect();
    let signals = support_signals(embedder, &texts, passages).await?;
    let utf16 = |b: usize| answer[..b].encode_utf16().count();
    Ok(spans
        .iter()
        .zip(&texts)
        .zip(&signals)
        .map(|((&(a, b), text), row)| {
            let has_words = !analyze(&without_marks(text)).is_empty();
            let scores: Vec<f32> = row.iter().map(|&(c, l)| support_score(c, l)).collect();
            let best = scores
                .iter()
                .enumerate()
                .max_by(|x, y| x.1.total_cmp(y.1))
                .map(|(i, &s)| (i + 1, s));
            let mut cited: Vec<usize> = Vec::new();
            for n in cited_numbers(text) {
                if (1..=passages.len()).contains(&n) && !cited.contains(&n) {
                    cited.push(n);
                }
            }
            let (support, linked) = if !cited.is_empty() {
                (Support::Cited, cited)
            } else {
                match best {
                    Some((n, s)) if has_words && s >= min_support => (Support::Inferred, vec![n]),
                    _ => (Support::Unsupported, Vec::new()),
                }
            };
            AnswerSentence {
                start: utf16(a),
                end: utf16(b),
                support,
                passages: linked,
                score: best.filter(|_| has_words).map(|(_, s)| s),
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(text: &str) -> Vec<&str> {
        sentences(text).iter().map(|&(a, b)| &text[a..b]).collect()
    }

    #[test]
    fn splits_sentences_keeping_their_citation_marks() {
        assert_eq!(
            split("It opened in 1937. [1] It is 2.7 km long [2]. Really?\n- a list item\n\n"),
            vec![
                "It opened in 1937. [1]",
                "It is 2.7 km long [2].",
                "Really?",
                "- a list item"
            ]
        );
        assert_eq!(
            split("He said \"yes.\" Then left."),
            vec!["He said \"yes.\"", "Then left."]
        );
        assert_eq!(
            split("长城很长。它在中国！"),
            vec!["长城很长。", "它在中国！"]
        );
        assert_eq!(split("   "), Vec::<&str>::new());
        assert_eq!(split("no end"), vec!["no end"]);
        assert_eq!(
            split("Version 1.5 is out. [x] is not a mark."),
            vec!["Version 1.5 is out.", "[x] is not a mark."]
        );
    }

    #[test]
    fn marks_are_removed_before_comparing() {
        assert_eq!(without_marks("a [1] b [2, 3].[x]"), "a  b .[x]");
    }

    #[test]
    fn lexical_support_counts_shared_terms_and_stems() {
        let p: HashSet<String> =
            analyze("Corals expel the algae and turn white, called bleaching in 1998.")
                .into_iter()
                .collect();
        assert_eq!(lexical_support("corals bleached", &p), 1.0);
        assert_eq!(lexical_support("corals in 1999", &p), 0.5);
        assert_eq!(lexical_support("", &p), 0.0);
        assert_eq!(lexical_support("the of a", &p), 0.0);
    }

    #[test]
    fn score_mixes_cosine_and_lexical() {
        assert!((support_score(1.0, 1.0) - 1.0).abs() < 1e-6);
        assert_eq!(support_score(-0.5, 0.0), 0.0);
        assert!(support_score(0.8, 0.2) > support_score(0.4, 0.2));
    }
}
