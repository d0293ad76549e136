//! SentencePiece-style tokenizer (`tokenizer.ggml.model = llama`), as Gemma, Llama 2 and
//! TinyLlama GGUF files carry it: a vocabulary with a score per piece, `▁` for the space, byte
//! pieces `<0xXX>` for anything the vocabulary lacks.
//!
//! The algorithm is SentencePiece's BPE encoder, which llama.cpp's `llm_tokenizer_spm`
//! reproduces: start from the text's characters, repeatedly merge the adjacent pair whose
//! concatenation is the vocabulary piece of highest score (leftmost first on ties), then write
//! each remaining symbol as its piece or as its bytes. User-defined pieces (Gemma's runs of
//! newlines, spaces and tabs, its HTML tags) are cut out of the text first and never merged
//! with their neighbours; control pieces (`<start_of_turn>`) only when the caller asks for
//! special tokens. The `tokenizers` crate's BPE needs explicit merge rules, which these files
//! do not have (deriving them from the scores is lossy on ties), hence this small encoder.
//! Parity with Python `sentencepiece` on the test model: `tests/generator_models.rs`.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

use aho_corasick::{AhoCorasick, MatchKind};

use crate::error::{Error, Result};

/// ggml token types (llama.cpp's `llama_token_type`, SentencePiece's piece types).
pub const NORMAL: i64 = 1;
pub const UNKNOWN: i64 = 2;
pub const CONTROL: i64 = 3;
pub const USER_DEFINED: i64 = 4;
pub const UNUSED: i64 = 5;
pub const BYTE: i64 = 6;

const SPACE: &str = "\u{2581}";

pub struct Spm {
    ids: HashMap<String, u32>,
    scores: Vec<f32>,
    /// Per id, whether a merge may produce it (normal and user-defined pieces).
    mergeable: Vec<bool>,
    bytes: [Option<u32>; 256],
    unknown: u32,
    add_space_prefix: bool,
    /// User-defined pieces, and the same plus control pieces.
    user: Splitter,
    user_and_control: Splitter,
}

/// Finds whole pieces in raw text, leftmost-longest.
struct Splitter {
    matcher: Option<AhoCorasick>,
    ids: Vec<u32>,
}

impl Splitter {
    fn new(pieces: Vec<(&str, u32)>) -> Result<Self> {
        if pieces.is_empty() {
            return Ok(Splitter {
                matcher: None,
                ids: Vec::new(),
            });
        }
        let matcher = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(pieces.iter().map(|(t, _)| t))
            .map_err(|e| Error::Tokenizer(format!("special pieces: {e}")))?;
        Ok(Splitter {
            matcher: Some(matcher),
            ids: pieces.iter().map(|(_, i)| *i).collect(),
        })
    }
}

#[derive(Clone, Copy)]
struct Symbol {
    start: usize,
    len: usize,
    prev: Option<usize>,
    next: Option<usize>,
}

/// A candidate merge of symbols `left` and `left`'s next, producing a piece of `score`.
#[derive(PartialEq)]
struct Bigram {
    score: f32,
    left: usize,
    right: usize,
    len: usize,
}

impl Eq for Bigram {}

impl Ord for Bigram {
    fn cmp(&self, other: &Self) -> Ordering {
        // Highest score first, then leftmost (BinaryHeap pops the greatest).
        self.score
            .total_cmp(&other.score)
            .then_with(|| other.left.cmp(&self.left))
    }
}

impl PartialOrd for Bigram {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Spm {
    /// `tokens`, `scores` and `types` as the GGUF lists them (equal lengths, checked by the
    /// caller).
    pub fn new(
        tokens: &[String],
        scores: &[f32],
        types: &[i64],
        unknown: Option<u32>,
        add_space_prefix: bool,
    ) -> Result<Self> {
        let mut ids = HashMap::with_capacity(tokens.len());
        let mut bytes = [None; 256];
        let mut user = Vec::new();
        let mut control = Vec::new();
        for (i, (t, &ty)) in tokens.iter().zip(types).enumerate() {
            let id = i as u32;
            ids.entry(t.clone()).or_insert(id);
            match ty {
                BYTE => {
                    let b = t
                        .strip_prefix("<0x")
                        .and_then(|h| h.strip_suffix('>'))
                        .and_then(|h| u8::from_str_radix(h, 16).ok())
                        .ok_or_else(|| {
                            Error::Tokenizer(format!("byte piece `{t}` is not of the form <0xXX>"))
                        })?;
                    bytes[b as usize] = Some(id);
                }
                USER_DEFINED if !t.is_empty() => user.push((t.as_str(), id)),
                CONTROL if !t.is_empty() => control.push((t.as_str(), id)),
                _ => {}
            }
        }
        let unknown = unknown
            .or_else(|| types.iter().position(|&t| t == UNKNOWN).map(|i| i as u32))
            .ok_or_else(|| Error::Tokenizer("the vocabulary has no unknown piece".into()))?;
        let mergeable = types
            .iter()
            .map(|&t| t == NORMAL || t == USER_DEFINED)
            .collect();
        let user_and_control = Splitter::new(user.iter().chain(&control).copied().collect())?;
        Ok(Spm {
            ids,
            scores: scores.to_vec(),
            mergeable,
            bytes,
            unknown,
            add_space_prefix,
            user: Splitter::new(user)?,
            user_and_control,
        })
    }

    /// The ids of `text`; control pieces in it are recognised when `special` is set,
    /// user-defined pieces always.
    pub fn encode(&self, text: &str, special: bool, out: &mut Vec<u32>) {
        let splitter = if special {
            &self.user_and_control
        } else {
            &self.user
        };
        let mut after_piece = true;
        let mut at = 0;
        if let Some(m) = &splitter.matcher {
            for found in m.find_iter(text) {
                if found.start() > at {
                    self.encode_fragment(&text[at..found.start()], after_piece, out);
                }
                out.push(splitter.ids[found.pattern().as_usize()]);
                after_piece = true;
                at = found.end();
            }
        }
        if at < text.len() {
            self.encode_fragment(&text[at..], after_piece, out);
        }
    }

    fn piece(&self, text: &str) -> Option<u32> {
        self.ids.get(text).copied()
    }

    fn encode_fragment(&self, raw: &str, after_piece: bool, out: &mut Vec<u32>) {
        let mut text = String::with_capacity(raw.len() * 2);
        if self.add_space_prefix && after_piece {
            text.push_str(SPACE);
        }
        for c in raw.chars() {
            if c == ' ' {
                text.push_str(SPACE);
            } else {
                text.push(c);
            }
        }
        let mut symbols: Vec<Symbol> = Vec::with_capacity(text.len());
        for (i, (start, c)) in text.char_indices().enumerate() {
            symbols.push(Symbol {
                start,
                len: c.len_utf8(),
                prev: i.checked_sub(1),
                next: Some(i + 1),
            });
        }
        if let Some(last) = symbols.last_mut() {
            last.next = None;
        }
        let mut queue = BinaryHeap::new();
        let bigram = |symbols: &[Symbol], left: Option<usize>, right: Option<usize>| {
            let (l, r) = (left?, right?);
            let (a, b) = (symbols[l], symbols[r]);
            let id = self.piece(&text[a.start..a.start + a.len + b.len])?;
            if !self.mergeable[id as usize] {
                return None;
            }
            Some(Bigram {
                score: self.scores[id as usize],
                left: l,
                right: r,
                len: a.len + b.len,
            })
        };
        for i in 1..symbols.len() {
            queue.extend(bigram(&symbols, Some(i - 1), Some(i)));
        }
        while let Some(b) = queue.pop() {
            let (l, r) = (symbols[b.left], symbols[b.right]);
            if l.len == 0 || r.len == 0 || l.len + r.len != b.len || l.next != Some(b.right) {
                continue;
            }
            symbols[b.left].len += r.len;
            symbols[b.right].len = 0;
            symbols[b.left].next = r.next;
            if let Some(n) = r.next {
                symbols[n].prev = Some(b.left);
            }
            queue.extend(bigram(&symbols, symbols[b.left].prev, Some(b.left)));
            queue.extend(bigram(&symbols, Some(b.left), symbols[b.left].next));
        }
        let mut i = if symbols.is_empty() { None } else { Some(0) };
        while let Some(s) = i.map(|i| symbols[i]) {
            let piece = &text[s.start..s.start + s.len];
            match self.piece(piece) {
                Some(id) => out.push(id),
                None => out.extend(
                    piece
                        .bytes()
                        .map(|b| self.bytes[b as usize].unwrap_or(self.unknown)),
                ),
            }
            i = s.next;
        }
    }
}

/// The bytes a SentencePiece token stands for when generated: `▁` is a space, byte pieces
/// their byte, control and unused pieces nothing.
pub fn token_bytes(token: &str, kind: i64) -> Vec<u8> {
    match kind {
        CONTROL | UNUSED => Vec::new(),
        BYTE => token
            .strip_prefix("<0x")
            .and_then(|h| h.strip_suffix('>'))
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .map(|b| vec![b])
            .unwrap_or_default(),
        USER_DEFINED => token.as_bytes().to_vec(),
        _ => token.replace(SPACE, " ").into_bytes(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocab() -> Spm {
        let pieces = [
            ("<unk>", 0.0, UNKNOWN),
            ("<s>", 0.0, CONTROL),
            ("<0x21>", 0.0, BYTE),
            ("<0xC3>", 0.0, BYTE),
            ("<0xA9>", 0.0, BYTE),
            ("\n", 0.0, USER_DEFINED),
            ("▁", -1.0, NORMAL),
            ("a", -2.0, NORMAL),
            ("b", -3.0, NORMAL),
            ("ab", -4.0, NORMAL),
            ("▁a", -5.0, NORMAL),
            ("▁ab", -6.0, NORMAL),
            ("ba", -0.5, NORMAL),
        ];
        let tokens: Vec<String> = pieces.iter().map(|p| p.0.to_string()).collect();
        let scores: Vec<f32> = pieces.iter().map(|p| p.1).collect();
        let types: Vec<i64> = pieces.iter().map(|p| p.2).collect();
        Spm::new(&tokens, &scores, &types, None, false).unwrap()
    }

    fn ids(s: &Spm, text: &str, special: bool) -> Vec<u32> {
        let mut out = Vec::new();
        s.encode(text, special, &mut out);
        out
    }

    #[test]
    fn merges_by_score_then_leftmost_and_falls_back_to_bytes() {
        let s = vocab();
        // "aba": "ba" (score −0.5) beats "ab" (−4).
        assert_eq!(ids(&s, "aba", false), [7, 12]);
        // " ab": "▁a" then "▁ab".
        assert_eq!(ids(&s, " ab", false), [11]);
        // "é" and "!" are not pieces: their UTF-8 bytes.
        assert_eq!(ids(&s, "é!", false), [3, 4, 2]);
        // A user-defined piece is cut out and never merged; a control piece only on request.
        assert_eq!(ids(&s, "a\nb", false), [7, 5, 8]);
        assert_eq!(ids(&s, "<s>", true), [1]);
        assert_ne!(ids(&s, "<s>", false), [1]);
        assert_eq!(ids(&s, "", false), Vec::<u32>::new());
    }

    #[test]
    fn a_space_prefix_is_added_when_the_file_asks() {
        let pieces = ["<unk>", "▁", "a"];
        let s = Spm::new(
            &pieces.map(String::from),
            &[0.0, -1.0, -2.0],
            &[UNKNOWN, NORMAL, NORMAL],
            None,
            true,
        )
        .unwrap();
        assert_eq!(ids(&s, "a", false), [1, 2]);
    }

    #[test]
    fn generated_bytes() {
        assert_eq!(token_bytes("▁the", NORMAL), b" the");
        assert_eq!(token_bytes("<0x0A>", BYTE), b"\n");
        assert_eq!(token_bytes("<eos>", CONTROL), b"");
        assert_eq!(token_bytes("  ", USER_DEFINED), b"  ");
    }
}
