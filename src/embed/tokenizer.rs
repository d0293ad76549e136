//! The embedder's tokenizer: the `tokenizers` crate for WordPiece, BPE and the rest, the compact
//! [`Unigram`] for SentencePiece vocabularies (whose `tokenizers` form is too large for a tab).

use tokenizers::{Tokenizer, TruncationParams};

use super::unigram::Unigram;
use crate::error::{Error, Result};

pub enum TextTokenizer {
    Hf {
        /// Special tokens added, truncated to the model's length.
        full: Tokenizer,
        /// Neither: the chunker measures text with it.
        splitter: Tokenizer,
    },
    Unigram {
        tokenizer: Unigram,
        max_len: usize,
    },
}

impl TextTokenizer {
    /// Reads a `tokenizer.json`; ids are cut to `max_len` tokens, special tokens included.
    pub fn from_json(bytes: &[u8], max_len: usize) -> Result<Self> {
        if Unigram::is_unigram(bytes) {
            return Ok(TextTokenizer::Unigram {
                tokenizer: Unigram::from_json(bytes)?,
                max_len,
            });
        }
        let tokenizer = Tokenizer::from_bytes(bytes)
            .map_err(|e| Error::Tokenizer(format!("tokenizer.json is not valid: {e}")))?;
        Self::from_hf(tokenizer, max_len)
    }

    /// The WordPiece tokenizer a GGUF file of llama.cpp's `bert` family carries
    /// (`tokenizer.ggml.model = bert`): its vocabulary in "phantom space" spelling turned back
    /// into WordPiece's (a leading `▁` marks a word start, anything else but a control token is
    /// a `##` continuation), with BERT's uncased normalisation and `[CLS] … [SEP]` around the
    /// text, as llama.cpp's WordPiece tokenizer applies them.
    pub fn from_gguf(g: &crate::formats::Gguf, max_len: usize) -> Result<Self> {
        use serde_json::{Map, Value, json};
        let bad = |msg: String| Error::Tokenizer(format!("GGUF tokenizer: {msg}"));
        let model = g
            .get("tokenizer.ggml.model")
            .and_then(|v| v.as_str())
            .ok_or_else(|| bad("the file carries none: give a tokenizer.json".into()))?;
        if model != "bert" {
            return Err(bad(format!(
                "`{model}` vocabularies are not read from GGUF for embedding (only `bert` \
                 WordPiece): give a tokenizer.json"
            )));
        }
        let tokens = g
            .get("tokenizer.ggml.tokens")
            .and_then(|v| v.as_array())
            .ok_or_else(|| bad("no token list".into()))?;
        let types: Vec<i64> = g
            .get("tokenizer.ggml.token_type")
            .and_then(|v| v.as_array())
            .map(|a| a.iter().map(|t| t.as_i64().unwrap_or(1)).collect())
            .unwrap_or_default();
        const CONTROL: i64 = 3;
        let id = |key: &str| -> Result<u32> {
            g.get(key)
                .and_then(|v| v.as_u64())
                .and_then(|v| u32::try_from(v).ok())
                .filter(|&v| (v as usize) < tokens.len())
                .ok_or_else(|| bad(format!("`{key}` is missing or out of range")))
        };
        let (cls, sep, unk) = (
            id("tokenizer.ggml.bos_token_id")?,
            id("tokenizer.ggml.eos_token_id")
                .or_else(|_| id("tokenizer.ggml.seperator_token_id"))?,
            id("tokenizer.ggml.unknown_token_id")?,
        );
        let mut vocab = Map::with_capacity(tokens.len());
        let mut added = Vec::new();
        let mut names = Vec::with_capacity(tokens.len());
        for (i, t) in tokens.iter().enumerate() {
            let t = t
                .as_str()
                .ok_or_else(|| bad(format!("token {i} is not a string")))?;
            let control = types.get(i) == Some(&CONTROL);
            let piece = if control {
                t.to_string()
            } else if let Some(word) = t.strip_prefix('\u{2581}') {
                word.to_string()
            } else {
                format!("##{t}")
            };
            if control {
                added.push(
                    json!({"id": i, "content": piece, "single_word": false, "lstrip": false,
                    "rstrip": false, "normalized": false, "special": true}),
                );
            }
            vocab.insert(piece.clone(), json!(i));
            names.push(piece);
        }
        let special = |i: u32| {
            let name = &names[i as usize];
            json!({"id": name, "ids": [i], "tokens": [name]})
        };
        let file = json!({
            "version": "1.0",
            "added_tokens": added,
            "normalizer": {"type": "BertNormalizer", "clean_text": true,
                "handle_chinese_chars": true, "strip_accents": null, "lowercase": true},
            "pre_tokenizer": {"type": "BertPreTokenizer"},
            "post_processor": {"type": "TemplateProcessing",
                "single": [{"SpecialToken": {"id": names[cls as usize], "type_id": 0}},
                           {"Sequence": {"id": "A", "type_id": 0}},
                           {"SpecialToken": {"id": names[sep as usize], "type_id": 0}}],
                "pair": [{"Sequence": {"id": "A", "type_id": 0}},
                         {"Sequence": {"id": "B", "type_id": 1}}],
                "special_tokens": Value::Object(Map::from_iter([
                    (names[cls as usize].clone(), special(cls)),
                    (names[sep as usize].clone(), special(sep)),
                ]))},
            "model": {"type": "WordPiece", "unk_token": names[unk as usize],
                "continuing_subword_prefix": "##", "max_input_chars_per_word": 100,
                "vocab": Value::Object(vocab)},
        });
        let bytes = serde_json::to_vec(&file).map_err(|e| bad(e.to_string()))?;
        let tokenizer = Tokenizer::from_bytes(&bytes).map_err(|e| bad(e.to_string()))?;
        Self::from_hf(tokenizer, max_len)
    }

    /// Wraps a `tokenizers` tokenizer (truncation and padding are set here).
    pub fn from_hf(mut tokenizer: Tokenizer, max_len: usize) -> Result<Self> {
        tokenizer.with_padding(None);
        let mut splitter = tokenizer.clone();
        splitter
            .with_truncation(None)
            .map_err(|e| Error::Tokenizer(format!("cannot turn truncation off: {e}")))?;
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: max_len,
                ..Default::default()
            }))
            .map_err(|e| Error::Tokenizer(format!("cannot truncate at {max_len} tokens: {e}")))?;
        Ok(TextTokenizer::Hf {
            full: tokenizer,
            splitter,
        })
    }

    /// Special tokens put around each text.
    pub fn added_tokens(&self) -> usize {
        match self {
            TextTokenizer::Hf { full, .. } => full
                .get_post_processor()
                .map_or(0, |p| tokenizers::PostProcessor::added_tokens(p, false)),
            TextTokenizer::Unigram { tokenizer, .. } => tokenizer.added_tokens(),
        }
    }

    /// Entries of the vocabulary (ids must stay below the model's table).
    pub fn vocab_size(&self) -> usize {
        match self {
            TextTokenizer::Hf { full, .. } => full.get_vocab_size(true),
            TextTokenizer::Unigram { tokenizer, .. } => tokenizer.vocab_size(),
        }
    }

    /// Token ids of `text`, special tokens included, truncated.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        match self {
            TextTokenizer::Hf { full, .. } => full
                .encode(text, true)
                .map(|e| e.get_ids().to_vec())
                .map_err(|e| Error::Tokenizer(format!("text could not be tokenized: {e}"))),
            TextTokenizer::Unigram { tokenizer, max_len } => Ok(tokenizer.encode(text, *max_len)),
        }
    }

    /// The share of `text`'s tokens that are the unknown token (0 for an empty text or a
    /// vocabulary without one, such as byte-level BPE).
    pub fn unknown_share(&self, text: &str) -> Result<f32> {
        let (ids, unk) = match self {
            TextTokenizer::Hf { splitter, .. } => {
                use tokenizers::models::ModelWrapper;
                let name = match splitter.get_model() {
                    ModelWrapper::WordPiece(w) => Some(w.unk_token.clone()),
                    ModelWrapper::WordLevel(w) => Some(w.unk_token.clone()),
                    ModelWrapper::BPE(b) => b.unk_token.clone(),
                    _ => None,
                };
                let Some(unk) = name.and_then(|n| splitter.token_to_id(&n)) else {
                    return Ok(0.0);
                };
                let ids = splitter
                    .encode(text, false)
                    .map_err(|e| Error::Tokenizer(format!("text could not be tokenized: {e}")))?
                    .get_ids()
                    .to_vec();
                (ids, unk)
            }
            TextTokenizer::Unigram { tokenizer, .. } => {
                (tokenizer.encode_spans(text).0, tokenizer.unk_id())
            }
        };
        if ids.is_empty() {
            return Ok(0.0);
        }
        Ok(ids.iter().filter(|&&i| i == unk).count() as f32 / ids.len() as f32)
    }

    /// Byte spans of the tokens of `text`, without special tokens or truncation.
    pub fn spans(&self, text: &str) -> Result<Vec<(usize, usize)>> {
        match self {
            TextTokenizer::Hf { splitter, .. } => splitter
                .encode(text, false)
                .map(|e| e.get_offsets().to_vec())
                .map_err(|e| Error::Tokenizer(format!("text could not be tokenized: {e}"))),
            TextTokenizer::Unigram { tokenizer, .. } => Ok(tokenizer.encode_spans(text).1),
        }
    }
}
