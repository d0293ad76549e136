//! The embedder's tokenizer: the `tokenizers` crate for WordPiece, BPE and the rest, the compact
//! [`Unigram`] for SentencePiece vocabularies (whose `tokenizers` form is too large for a tab).

use tokenizers::{Tokenizer, TruncationParams};

use super::unigram::Unigram;
use crate::error::{Error, Result};

pub(crate) enum TextTokenizer {
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
