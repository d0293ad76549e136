//! The generator's tokenizer.
//!
//! A GGUF file carries its tokenizer as metadata (`tokenizer.ggml.*`); this module turns that into
//! a `tokenizers` byte-level BPE tokenizer with the same pre-tokenizer as the original
//! `tokenizer.json`, or takes a `tokenizer.json` directly. It also knows each token's raw bytes, so
//! generated text can be streamed without ever splitting a UTF-8 character, and it turns a chat
//! template's pieces into ids.

use std::collections::HashMap;

use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::{BPE, Vocab};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::{AddedToken, Tokenizer};

use super::template::{ChatTemplate, Message, Piece};
use crate::error::{Error, Result};
use crate::formats::Gguf;

/// ggml token types (llama.cpp's `llama_token_type`).
const TOKEN_CONTROL: i64 = 3;
const TOKEN_USER_DEFINED: i64 = 4;

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
    /// Parses special tokens in its input (for raw prompts and parity tests).
    tokenizer: Tokenizer,
    /// The same tokenizer with special-token parsing off (for message contents).
    plain: Tokenizer,
    token_bytes: Vec<Vec<u8>>,
    special: Vec<bool>,
    ids: HashMap<String, u32>,
    pub eos: u32,
    pub bos: Option<u32>,
    stop_ids: Vec<u32>,
    template: Option<ChatTemplate>,
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

fn tok_err(e: impl std::fmt::Display) -> Error {
    Error::Tokenizer(format!("{e}"))
}

impl ChatTokenizer {
    /// Builds the tokenizer from a GGUF file's `tokenizer.ggml.*` metadata (model `gpt2`).
    pub fn from_gguf(g: &Gguf) -> Result<Self> {
        let model = g.require_str("tokenizer.ggml.model")?;
        if model != "gpt2" {
            return Err(Error::Tokenizer(format!(
                "tokenizer model `{model}` is not supported (only byte-level BPE, `gpt2`)"
            )));
        }
        let strings = |key: &str| -> Result<Vec<String>> {
            g.require(key)?
                .as_array()
                .and_then(|a| a.iter().map(|v| v.as_str().map(str::to_string)).collect())
                .ok_or_else(|| Error::Tokenizer(format!("`{key}` is not an array of strings")))
        };
        let tokens = strings("tokenizer.ggml.tokens")?;
        let merges_raw = strings("tokenizer.ggml.merges")?;
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
        let byte_level = ByteLevel::new(false, true, true);
        let mut tokenizer = Tokenizer::new(bpe);
        // llama.cpp's pre-tokenizer names: `smollm` (and the StarCoder family it comes from)
        // split every digit on its own before the GPT-2 regex.
        match pre {
            "smollm" | "starcoder" | "refact" | "default" | "gpt-2" | "gpt2" => {
                if pre != "default" && pre != "gpt-2" && pre != "gpt2" {
                    tokenizer.with_pre_tokenizer(Some(Sequence::new(vec![
                        Digits::new(true).into(),
                        byte_level.into(),
                    ])));
                } else {
                    tokenizer.with_pre_tokenizer(Some(byte_level));
                }
            }
            other => {
                return Err(Error::Tokenizer(format!(
                    "pre-tokenizer `{other}` is not supported (known: smollm, starcoder, refact, gpt2)"
                )));
            }
        }
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
        let id = |key: &str| g.get(key).and_then(|v| v.as_u64()).map(|v| v as u32);
        let eos = id("tokenizer.ggml.eos_token_id")
            .ok_or_else(|| Error::Tokenizer("`tokenizer.ggml.eos_token_id` is missing".into()))?;
        let add_bos = g
            .get("tokenizer.ggml.add_bos_token")
            .and_then(|v| v.as_bool())
            .unwrap_or(false);
        let bos = if add_bos {
            id("tokenizer.ggml.bos_token_id")
        } else {
            None
        };
        let template = match g.get("tokenizer.chat_template").and_then(|v| v.as_str()) {
            Some(t) => ChatTemplate::recognise(t).ok(),
            None => None,
        };
        Self::finish(tokenizer, tokens, special, eos, bos, template)
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
            Some(t) => Some(ChatTemplate::recognise(t)?),
            None if tokenizer.token_to_id("<|im_start|>").is_some() => Some(ChatTemplate::ChatMl {
                default_system: None,
            }),
            None => None,
        };
        Self::finish(tokenizer, tokens, special, eos, None, template)
    }

    fn finish(
        tokenizer: Tokenizer,
        tokens: Vec<String>,
        special: Vec<bool>,
        eos: u32,
        bos: Option<u32>,
        template: Option<ChatTemplate>,
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
        let mut plain = tokenizer.clone();
        plain.set_encode_special_tokens(true);
        Ok(ChatTokenizer {
            tokenizer,
            plain,
            token_bytes,
            special,
            ids,
            eos,
            bos,
            stop_ids,
            template,
        })
    }

    /// The tokenizer as a `tokenizer.json` document (what [`ChatTokenizer::from_json`] reads).
    pub fn to_json(&self) -> Result<String> {
        self.tokenizer.to_string(false).map_err(tok_err)
    }

    pub fn vocab_size(&self) -> usize {
        self.token_bytes.len()
    }

    /// Tokenizes text in which special tokens such as `<|im_start|>` are recognised (a raw
    /// prompt). A BOS token is prepended when the model asks for one.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self.tokenizer.encode(text, false).map_err(tok_err)?;
        let mut ids = Vec::with_capacity(enc.len() + 1);
        ids.extend(self.bos);
        ids.extend_from_slice(enc.get_ids());
        Ok(ids)
    }

    /// Tokenizes text as plain text: special-token strings in it are ordinary characters.
    pub fn encode_plain(&self, text: &str) -> Result<Vec<u32>> {
        Ok(self
            .plain
            .encode(text, false)
            .map_err(tok_err)?
            .get_ids()
            .to_vec())
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

    pub fn template(&self) -> Option<&ChatTemplate> {
        self.template.as_ref()
    }

    fn special_id(&self, name: &str) -> Result<u32> {
        self.ids.get(name).copied().ok_or_else(|| {
            Error::Tokenizer(format!("the chat token `{name}` is not in the vocabulary"))
        })
    }

    fn pieces(&self, messages: &[Message]) -> Result<Vec<Piece>> {
        match &self.template {
            Some(t) => t.pieces(messages),
            None => Err(Error::Config(
                "this model has no chat template localrag can apply; use a raw prompt".into(),
            )),
        }
    }

    /// The chat as the model sees it, as text (for display and for the reference script).
    pub fn apply_template(&self, messages: &[Message]) -> Result<String> {
        let mut s = String::new();
        for p in self.pieces(messages)? {
            match p {
                Piece::Special(name) => s.push_str(name),
                Piece::Text(t) => s.push_str(&t),
            }
        }
        Ok(s)
    }

    /// The chat's token ids, with its contents tokenized as plain text. For benign contents this
    /// equals `encode(apply_template(messages))`.
    pub fn encode_chat(&self, messages: &[Message]) -> Result<Vec<u32>> {
        let mut ids: Vec<u32> = self.bos.into_iter().collect();
        for p in self.pieces(messages)? {
            match p {
                Piece::Special(name) => ids.push(self.special_id(name)?),
                Piece::Text(t) => ids.extend(self.encode_plain(&t)?),
            }
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
