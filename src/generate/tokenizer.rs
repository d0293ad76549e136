//! The generator's tokenizer.
//!
//! A GGUF file carries its tokenizer as metadata (`tokenizer.ggml.*`); this module turns that into
//! a `tokenizers` byte-level BPE tokenizer with the same pre-tokenizer as the original
//! `tokenizer.json` (model `gpt2`) or a SentencePiece-style one (model `llama`, see `spm`), or
//! takes a `tokenizer.json` directly. It also knows each token's raw bytes, so
//! generated text can be streamed without ever splitting a UTF-8 character, and it turns a chat
//! template's pieces into ids.

use std::collections::HashMap;

use aho_corasick::{AhoCorasick, MatchKind};

use tokenizers::SplitDelimiterBehavior;
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::{BPE, Vocab};
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{AddedToken, Tokenizer};

use super::spm::{self, Spm};
use super::template::{ChatTemplate, Message, Piece};
use crate::error::{Error, Result};
use crate::formats::Gguf;

use spm::{CONTROL as TOKEN_CONTROL, USER_DEFINED as TOKEN_USER_DEFINED};

/// Special tokens that end a turn in the model families localrag knows.
const END_OF_TURN: &[&str] = &[
    "<|im_end|>",
    "<|endoftext|>",
    "<|eot_id|>",
    "</s>",
    "<end_of_turn>",
];

/// The generator's tokenizer.
pub struct ChatTokenizer {
    engine: Engine,
    token_bytes: Vec<Vec<u8>>,
    special: Vec<bool>,
    pub eos: u32,
    pub bos: Option<u32>,
    stop_ids: Vec<u32>,
    /// The chat template, or why the model's own cannot be used.
    template: std::result::Result<ChatTemplate, String>,
    /// Finds the special tokens in template markup.
    special_matcher: Option<AhoCorasick>,
    special_ids: Vec<u32>,
}

/// GPT-2's byte ↔ printable-character table (the alphabet of byte-level BPE): printable Latin-1
/// bytes stand for themselves, the others are shifted to U+0100 and up in byte order.
fn byte_of_char() -> HashMap<char, u8> {
    let printable = |b: u8| {
        (b'!'..=b'~').contains(&b) || (0xA1..=0xAC).contains(&b) || (0xAE..=0xFF).contains(&b)
    };
    let mut map = HashMap::with_capacity(256);
    let mut shifted = 0u32;
    for b in 0..=255u8 {
        let c = if printable(b) {
            char::from(b)
        } else {
            shifted += 1;
            char::from_u32(255 + shifted).expect("valid code point")
        };
        map.insert(c, b);
    }
    map
}

enum Engine {
    Bpe {
        /// Parses special tokens in its input (for raw prompts and parity tests).
        tokenizer: Box<Tokenizer>,
        /// The same tokenizer with special-token parsing off (for message contents).
        plain: Box<Tokenizer>,
    },
    Spm(Box<Spm>),
}

impl Engine {
    fn encode(&self, text: &str, special: bool, out: &mut Vec<u32>) -> Result<()> {
        match self {
            Engine::Bpe { tokenizer, plain } => {
                let t = if special { tokenizer } else { plain };
                out.extend_from_slice(t.encode(text, false).map_err(tok_err)?.get_ids());
            }
            Engine::Spm(s) => s.encode(text, special, out),
        }
        Ok(())
    }
}

/// The split rules of llama.cpp's pre-tokenizer names (`tokenizer.ggml.pre`), as the models'
/// own `tokenizer.json` files state them.
fn pre_tokenizer(pre: &str) -> Result<PreTokenizerWrapper> {
    // Llama 3 keeps runs of up to three digits together, Qwen2 splits every digit.
    const LLAMA3: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
    const QWEN2: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
    let split = |pattern: &str| -> Result<PreTokenizerWrapper> {
        let split = Split::new(
            SplitPattern::Regex(pattern.into()),
            SplitDelimiterBehavior::Isolated,
            false,
        )
        .map_err(tok_err)?;
        Ok(Sequence::new(vec![
            split.into(),
            ByteLevel::new(false, false, false).into(),
        ])
        .into())
    };
    match pre {
        // GPT-2's own regex inside the byte-level step.
        "default" | "gpt-2" | "gpt2" => Ok(ByteLevel::new(false, true, true).into()),
        // SmolLM and the StarCoder family split every digit on its own first.
        "smollm" | "starcoder" | "refact" => Ok(Sequence::new(vec![
            Digits::new(true).into(),
            ByteLevel::new(false, true, true).into(),
        ])
        .into()),
        "llama-bpe" | "llama3" | "smaug-bpe" => split(LLAMA3),
        "qwen2" | "deepseek-r1-qwen" => split(QWEN2),
        other => Err(Error::Tokenizer(format!(
            "pre-tokenizer `{other}` is not supported (known: gpt2, smollm, starcoder, refact, \
             llama-bpe, qwen2)"
        ))),
    }
}

fn tok_err(e: impl std::fmt::Display) -> Error {
    Error::Tokenizer(format!("{e}"))
}

impl ChatTokenizer {
    /// Builds the tokenizer from a GGUF file's `tokenizer.ggml.*` metadata (model `gpt2` or
    /// `llama`).
    pub fn from_gguf(g: &Gguf) -> Result<Self> {
        let model = g.require_str("tokenizer.ggml.model")?;
        if model != "gpt2" && model != "llama" {
            return Err(Error::Tokenizer(format!(
                "tokenizer model `{model}` is not supported (byte-level BPE `gpt2`, \
                 SentencePiece `llama`)"
            )));
        }
        let strings = |key: &str| -> Result<Vec<String>> {
            g.require(key)?
                .as_array()
                .and_then(|a| a.iter().map(|v| v.as_str().map(str::to_string)).collect())
                .ok_or_else(|| Error::Tokenizer(format!("`{key}` is not an array of strings")))
        };
        let tokens = strings("tokenizer.ggml.tokens")?;
        let types: Vec<i64> = match g.get("tokenizer.ggml.token_type") {
            Some(v) => v
                .as_array()
                .and_then(|a| a.iter().map(|x| x.as_i64()).collect())
                .ok_or_else(|| {
                    Error::Tokenizer(
                        "`tokenizer.ggml.token_type` is not an array of integers".into(),
                    )
                })?,
            None => vec![1; tokens.len()],
        };
        if types.len() != tokens.len() {
            return Err(Error::Tokenizer(format!(
                "{} token types for {} tokens",
                types.len(),
                tokens.len()
            )));
        }
        let id = |key: &str| g.get(key).and_then(|v| v.as_u64()).map(|v| v as u32);
        let flag =
            |key: &str, default: bool| g.get(key).and_then(|v| v.as_bool()).unwrap_or(default);
        let eos = id("tokenizer.ggml.eos_token_id")
            .ok_or_else(|| Error::Tokenizer("`tokenizer.ggml.eos_token_id` is missing".into()))?;
        let bos = if flag("tokenizer.ggml.add_bos_token", model == "llama") {
            id("tokenizer.ggml.bos_token_id")
        } else {
            None
        };
        let text_of = |id: Option<u32>| {
            id.and_then(|i| tokens.get(i as usize))
                .cloned()
                .unwrap_or_default()
        };
        let template = match g.get("tokenizer.chat_template").and_then(|v| v.as_str()) {
            Some(t) => ChatTemplate::new(
                t,
                &text_of(id("tokenizer.ggml.bos_token_id")),
                &text_of(Some(eos)),
            )
            .map_err(|e| e.to_string()),
            None => Ok(ChatTemplate::chatml()),
        };
        if let Some(bad) = [Some(eos), bos]
            .into_iter()
            .flatten()
            .find(|&i| i as usize >= tokens.len())
        {
            return Err(Error::Tokenizer(format!(
                "token id {bad} is outside the vocabulary"
            )));
        }
        if model == "llama" {
            let scores: Vec<f32> = g
                .require("tokenizer.ggml.scores")?
                .as_array()
                .and_then(|a| a.iter().map(|x| x.as_f64().map(|v| v as f32)).collect())
                .ok_or_else(|| {
                    Error::Tokenizer("`tokenizer.ggml.scores` is not an array of numbers".into())
                })?;
            if scores.len() != tokens.len() {
                return Err(Error::Tokenizer(format!(
                    "{} scores for {} tokens",
                    scores.len(),
                    tokens.len()
                )));
            }
            let spm = Spm::new(
                &tokens,
                &scores,
                &types,
                id("tokenizer.ggml.unknown_token_id"),
                flag("tokenizer.ggml.add_space_prefix", true),
            )?;
            let token_bytes = tokens
                .iter()
                .zip(&types)
                .map(|(t, &ty)| spm::token_bytes(t, ty))
                .collect();
            let special = types.iter().map(|&t| t == TOKEN_CONTROL).collect();
            return Self::finish(
                Engine::Spm(Box::new(spm)),
                tokens,
                special,
                token_bytes,
                eos,
                bos,
                template,
            );
        }
        let merges_raw = strings("tokenizer.ggml.merges")?;
        let vocab: Vocab = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as u32))
            .collect();
        let mut merges = Vec::with_capacity(merges_raw.len());
        for m in &merges_raw {
            let (a, b) = m
                .split_once(' ')
                .ok_or_else(|| Error::Tokenizer(format!("merge `{m}` is not two tokens")))?;
            merges.push((a.to_string(), b.to_string()));
        }
        let bpe = BPE::builder()
            .vocab_and_merges(vocab, merges)
            .build()
            .map_err(tok_err)?;
        let pre = g
            .get("tokenizer.ggml.pre")
            .and_then(|v| v.as_str())
            .unwrap_or("default");
        let mut tokenizer = Tokenizer::new(bpe);
        tokenizer.with_pre_tokenizer(Some(pre_tokenizer(pre)?));
        tokenizer.with_decoder(Some(ByteLevelDecoder::default()));
        let specials: Vec<AddedToken> = tokens
            .iter()
            .zip(&types)
            .filter(|(_, t)| **t == TOKEN_CONTROL || **t == TOKEN_USER_DEFINED)
            .map(|(s, _)| AddedToken::from(s.clone(), true))
            .collect();
        tokenizer.add_special_tokens(specials).map_err(tok_err)?;
        let special: Vec<bool> = types
            .iter()
            .map(|t| *t == TOKEN_CONTROL || *t == TOKEN_USER_DEFINED)
            .collect();
        Self::bpe(tokenizer, tokens, special, eos, bos, template)
    }

    /// Takes a `tokenizer.json` (a model shipped as safetensors). `chat_template` comes from
    /// `tokenizer_config.json` when there is one; without it ChatML is assumed when the
    /// vocabulary has `<|im_start|>`.
    pub fn from_json(json: &[u8], eos_token: &str, chat_template: Option<&str>) -> Result<Self> {
        let tokenizer = Tokenizer::from_bytes(json)
            .map_err(|e| Error::Tokenizer(format!("tokenizer.json could not be read: {e}")))?;
        let size = tokenizer.get_vocab_size(true);
        let mut tokens = vec![String::new(); size];
        let mut special = vec![false; size];
        for (t, i) in tokenizer.get_vocab(true) {
            if let Some(slot) = tokens.get_mut(i as usize) {
                *slot = t;
            }
        }
        for (i, added) in tokenizer.get_added_tokens_decoder() {
            if let Some(slot) = special.get_mut(i as usize) {
                *slot = added.special;
            }
        }
        let eos = tokenizer.token_to_id(eos_token).ok_or_else(|| {
            Error::Tokenizer(format!(
                "the end-of-sequence token `{eos_token}` is not in the vocabulary"
            ))
        })?;
        let template = match chat_template {
            Some(t) => ChatTemplate::new(t, "", eos_token)?,
            None => ChatTemplate::chatml(),
        };
        Self::bpe(tokenizer, tokens, special, eos, None, Ok(template))
    }

    /// A byte-level BPE tokenizer: token strings are in GPT-2's byte alphabet.
    fn bpe(
        tokenizer: Tokenizer,
        tokens: Vec<String>,
        special: Vec<bool>,
        eos: u32,
        bos: Option<u32>,
        template: std::result::Result<ChatTemplate, String>,
    ) -> Result<Self> {
        let table = byte_of_char();
        let token_bytes: Vec<Vec<u8>> = tokens
            .iter()
            .zip(&special)
            .map(|(t, &s)| {
                if s {
                    // Control tokens are not text: they stream as nothing.
                    Vec::new()
                } else {
                    let mut out = Vec::with_capacity(t.len());
                    for c in t.chars() {
                        match table.get(&c) {
                            Some(&b) => out.push(b),
                            None => out.extend(c.to_string().as_bytes()),
                        }
                    }
                    out
                }
            })
            .collect();
        let mut plain = tokenizer.clone();
        plain.set_encode_special_tokens(true);
        let engine = Engine::Bpe {
            tokenizer: Box::new(tokenizer),
            plain: Box::new(plain),
        };
        Self::finish(engine, tokens, special, token_bytes, eos, bos, template)
    }

    fn finish(
        engine: Engine,
        tokens: Vec<String>,
        special: Vec<bool>,
        token_bytes: Vec<Vec<u8>>,
        eos: u32,
        bos: Option<u32>,
        template: std::result::Result<ChatTemplate, String>,
    ) -> Result<Self> {
        let ids: HashMap<String, u32> = tokens
            .iter()
            .zip(&special)
            .enumerate()
            .filter(|(_, (_, s))| **s)
            .map(|(i, (t, _))| (t.clone(), i as u32))
            .collect();
        let mut stop_ids = vec![eos];
        for name in END_OF_TURN {
            if let Some(&i) = ids.get(*name) {
                if !stop_ids.contains(&i) {
                    stop_ids.push(i);
                }
            }
        }
        let (names, special_ids): (Vec<&String>, Vec<u32>) = ids
            .iter()
            .filter(|(t, _)| !t.is_empty())
            .map(|(t, &i)| (t, i))
            .unzip();
        let special_matcher = if names.is_empty() {
            None
        } else {
            Some(
                AhoCorasick::builder()
                    .match_kind(MatchKind::LeftmostLongest)
                    .build(names)
                    .map_err(|e| Error::Tokenizer(format!("special tokens: {e}")))?,
            )
        };
        Ok(ChatTokenizer {
            special_matcher,
            special_ids,
            engine,
            token_bytes,
            special,
            eos,
            bos,
            stop_ids,
            template,
        })
    }

    /// The tokenizer as a `tokenizer.json` document (what [`ChatTokenizer::from_json`] reads);
    /// only byte-level BPE tokenizers have one.
    pub fn to_json(&self) -> Result<String> {
        match &self.engine {
            Engine::Bpe { tokenizer, .. } => tokenizer.to_string(false).map_err(tok_err),
            Engine::Spm(_) => Err(Error::Tokenizer(
                "a SentencePiece tokenizer from a GGUF file has no tokenizer.json form".into(),
            )),
        }
    }

    pub fn vocab_size(&self) -> usize {
        self.token_bytes.len()
    }

    /// Tokenizes text in which special tokens such as `<|im_start|>` are recognised (a raw
    /// prompt). A BOS token is prepended when the model asks for one.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let mut ids: Vec<u32> = self.bos.into_iter().collect();
        self.engine.encode(text, true, &mut ids)?;
        Ok(ids)
    }

    /// Tokenizes text as plain text: special-token strings in it are ordinary characters.
    pub fn encode_plain(&self, text: &str) -> Result<Vec<u32>> {
        let mut ids = Vec::new();
        self.engine.encode(text, false, &mut ids)?;
        Ok(ids)
    }

    /// The raw bytes a token stands for (empty for control tokens).
    pub fn token_bytes(&self, id: u32) -> &[u8] {
        self.token_bytes
            .get(id as usize)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Whether generating this token ends the answer.
    pub fn is_stop(&self, id: u32) -> bool {
        self.stop_ids.contains(&id)
    }

    pub fn is_special(&self, id: u32) -> bool {
        self.special.get(id as usize).copied().unwrap_or(false)
    }

    /// Text of a sequence of generated tokens (control tokens dropped, invalid UTF-8 replaced).
    pub fn decode(&self, ids: &[u32]) -> String {
        let bytes: Vec<u8> = ids
            .iter()
            .flat_map(|&i| self.token_bytes(i).to_vec())
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// The chat template: the model's own, or ChatML when it has none.
    pub fn template(&self) -> Result<&ChatTemplate> {
        self.template.as_ref().map_err(|e| Error::Config(e.clone()))
    }

    /// The chat as the model sees it, as text (for display and for the reference script).
    pub fn apply_template(&self, messages: &[Message]) -> Result<String> {
        let mut s = String::new();
        for p in self.template()?.pieces(messages)? {
            match p {
                Piece::Markup(t) | Piece::Text(t) => s.push_str(&t),
            }
        }
        Ok(s)
    }

    /// The chat's token ids. Special tokens come only from the template's markup; message
    /// contents, and the markup's text around them, are tokenized as plain text in one run, so
    /// for benign contents this equals `encode(apply_template(messages))`.
    pub fn encode_chat(&self, messages: &[Message]) -> Result<Vec<u32>> {
        let mut ids = Vec::new();
        let mut text = String::new();
        let flush = |text: &mut String, ids: &mut Vec<u32>| -> Result<()> {
            if !text.is_empty() {
                self.engine.encode(text, false, ids)?;
                text.clear();
            }
            Ok(())
        };
        for p in self.template()?.pieces(messages)? {
            match p {
                Piece::Text(t) => text.push_str(&t),
                Piece::Markup(m) => {
                    let mut at = 0;
                    if let Some(matcher) = &self.special_matcher {
                        for found in matcher.find_iter(&m) {
                            text.push_str(&m[at..found.start()]);
                            flush(&mut text, &mut ids)?;
                            ids.push(self.special_ids[found.pattern().as_usize()]);
                            at = found.end();
                        }
                    }
                    text.push_str(&m[at..]);
                }
            }
        }
        flush(&mut text, &mut ids)?;
        // A template that prints the BOS itself gets no second one.
        if let Some(bos) = self.bos
            && ids.first() != Some(&bos)
        {
            ids.insert(0, bos);
        }
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_table_is_a_bijection() {
        let t = byte_of_char();
        assert_eq!(t.len(), 256);
        let mut seen = [false; 256];
        for &b in t.values() {
            seen[b as usize] = true;
        }
        assert!(seen.iter().all(|&s| s));
        assert_eq!(t[&'Ġ'], b' ');
        assert_eq!(t[&'Ċ'], b'\n');
        assert_eq!(t[&'!'], b'!');
    }
}
