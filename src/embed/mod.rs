//! Sentence embeddings: tokenize, encode in length-sorted batches, pool, normalise, validate.
//!
//! - `files`: the model's files (the one list of them) and reading a folder;
//! - `config`: pooling, length and batch options around the encoder.
//!
//! The encoder itself is a model architecture (`crate::models::bert`).

mod config;
mod files;

use std::rc::Rc;
use std::sync::Arc;

use burn::tensor::{Device, Tensor};
use tokenizers::{Tokenizer, TruncationParams};

pub use config::{EmbedderOptions, MAX_BATCH_SIZE, Pooling, max_seq_length_from_json};
pub use files::{EmbedderFile, EmbedderFileBytes, EmbedderFiles, EmbedderLoad, FILES};

use crate::error::{Error, Result};
use crate::models::bert::{Bert, BertConfig};
use crate::text::TokenSpans;
use crate::util::{hex, not_unit};
use config::check_batch_size;

/// What a knowledge base needs from an embedding model.
#[allow(async_fn_in_trait)]
pub trait Embed: TokenSpans {
    /// Identifies the model and the settings that shape its vectors.
    fn fingerprint(&self) -> String;
    fn dim(&self) -> usize;
    /// Tokens the model reads, special tokens included.
    fn max_seq_length(&self) -> usize;
    /// One unit vector per text, in order.
    async fn embed_texts(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>>;
}

/// Shared embedders (the browser's `Embedder` and its knowledge bases hold one model).
macro_rules! forward_embed {
    ($($ptr:ty),*) => {$(
        impl<T: Embed + ?Sized> TokenSpans for $ptr {
            fn token_spans(&self, text: &str) -> Result<Vec<(usize, usize)>> {
                (**self).token_spans(text)
            }
        }
        impl<T: Embed + ?Sized> Embed for $ptr {
            fn fingerprint(&self) -> String {
                (**self).fingerprint()
            }
            fn dim(&self) -> usize {
                (**self).dim()
            }
            fn max_seq_length(&self) -> usize {
                (**self).max_seq_length()
            }
            async fn embed_texts(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
                (**self).embed_texts(texts).await
            }
        }
    )*};
}
forward_embed!(&T, Rc<T>, Arc<T>);

impl TokenSpans for Embedder {
    fn token_spans(&self, text: &str) -> Result<Vec<(usize, usize)>> {
        Embedder::token_spans(self, text)
    }
}

impl Embed for Embedder {
    fn fingerprint(&self) -> String {
        Embedder::fingerprint(self).to_string()
    }
    fn dim(&self) -> usize {
        Embedder::dim(self)
    }
    fn max_seq_length(&self) -> usize {
        Embedder::max_seq_length(self)
    }
    async fn embed_texts(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        self.embed(texts).await
    }
}
/// Texts longer than this (in UTF-8 bytes) are refused rather than tokenized: the model only
/// reads the first `max_seq_length` tokens anyway, and tokenizing megabytes costs seconds.
pub const MAX_TEXT_BYTES: usize = 1 << 20;

/// A loaded sentence embedder on one device.
pub struct Embedder {
    model: Bert,
    tokenizer: Tokenizer,
    /// The same tokenizer without truncation or special tokens: the chunker measures with it.
    splitter: Tokenizer,
    fingerprint: String,
    pooling: Pooling,
    max_seq_length: usize,
    batch_size: usize,
    normalize: bool,
}

impl Embedder {
    /// Loads the model onto `device`. Everything is checked here, so that `embed` only fails on
    /// bad input or a failing device.
    pub fn load(
        files: EmbedderFiles<'_>,
        options: EmbedderOptions,
        device: &Device,
    ) -> Result<Self> {
        let config = BertConfig::from_json(files.config)?;
        let pooling = match (options.pooling, files.pooling) {
            (Some(p), _) => p,
            (None, Some(bytes)) => Pooling::from_json(bytes)?,
            (None, None) => Pooling::Mean,
        };
        let max_seq_length = match (options.max_seq_length, files.sentence_config) {
            (Some(n), _) => n,
            (None, Some(bytes)) => max_seq_length_from_json(bytes)?,
            (None, None) => 256,
        };
        if max_seq_length < 2 || max_seq_length > config.max_position_embeddings {
            return Err(Error::Config(format!(
                "max_seq_length {max_seq_length} must be between 2 and the model's {} positions",
                config.max_position_embeddings
            )));
        }
        check_batch_size(options.batch_size).map_err(|e| Error::Config(e.message().into()))?;
        let tokenizer = load_tokenizer(files.tokenizer, max_seq_length, &config)?;
        let mut splitter = tokenizer.clone();
        splitter
            .with_truncation(None)
            .map_err(|e| Error::Tokenizer(format!("cannot turn truncation off: {e}")))?;
        let model = Bert::load(files.model, &config, device)?;
        let fingerprint = fingerprint(&files, pooling, max_seq_length, options.normalize);
        Ok(Embedder {
            model,
            tokenizer,
            splitter,
            fingerprint,
            pooling,
            max_seq_length,
            batch_size: options.batch_size,
            normalize: options.normalize,
        })
    }

    /// Length of the output vectors.
    pub fn dim(&self) -> usize {
        self.model.config().hidden_size
    }

    /// Tokens read per text.
    pub fn max_seq_length(&self) -> usize {
        self.max_seq_length
    }

    /// Pooling in use.
    pub fn pooling(&self) -> Pooling {
        self.pooling
    }

    /// Texts per forward pass.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// Changes the batch size (1..=1024).
    pub fn set_batch_size(&mut self, batch_size: usize) -> Result<()> {
        check_batch_size(batch_size)?;
        self.batch_size = batch_size;
        Ok(())
    }

    /// Identifies the model and every setting that changes its vectors (hex, 16 bytes of a
    /// SHA-256 over config, tokenizer, pooling, length, normalisation, the weights' size and 64
    /// evenly spaced 4 KiB windows of them). A knowledge base refuses vectors from another one.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Byte spans of the tokens of `text` as the model would see them, without special tokens
    /// and without truncation. The chunker packs text by these.
    pub fn token_spans(&self, text: &str) -> Result<Vec<(usize, usize)>> {
        let enc = self
            .splitter
            .encode(text, false)
            .map_err(|e| Error::Tokenizer(format!("text could not be tokenized: {e}")))?;
        Ok(enc.get_offsets().to_vec())
    }

    /// The device the model runs on.
    pub fn device(&self) -> &Device {
        self.model.device()
    }

    /// Token ids the model sees for each text (special tokens included, truncated).
    pub fn tokenize<S: AsRef<str>>(&self, texts: &[S]) -> Result<Vec<Vec<u32>>> {
        texts
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let t = t.as_ref();
                if t.len() > MAX_TEXT_BYTES {
                    return Err(Error::Input(format!(
                        "text {i} is {} bytes; the limit is {MAX_TEXT_BYTES} (split long documents into chunks first)",
                        t.len()
                    )));
                }
                self.tokenizer
                    .encode(t, true)
                    .map(|e| e.get_ids().to_vec())
                    .map_err(|e| Error::Tokenizer(format!("text {i} could not be tokenized: {e}")))
            })
            .collect()
    }

    /// Embeds texts; the result is in input order, one `dim()`-long vector per text.
    pub async fn embed<S: AsRef<str>>(&self, texts: &[S]) -> Result<Vec<Vec<f32>>> {
        let ids = self.tokenize(texts)?;
        let mut order: Vec<usize> = (0..ids.len()).collect();
        // Longest first: similar lengths share a batch, so little compute goes to padding.
        order.sort_by_key(|&i| std::cmp::Reverse(ids[i].len()));
        let mut out: Vec<Vec<f32>> = vec![Vec::new(); ids.len()];
        for group in order.chunks(self.batch_size) {
            let batch: Vec<&[u32]> = group.iter().map(|&i| ids[i].as_slice()).collect();
            let vectors = self.embed_batch(&batch).await?;
            for (&i, v) in group.iter().zip(vectors) {
                out[i] = v;
            }
        }
        Ok(out)
    }

    /// One padded forward pass, read back asynchronously (the only way on WebGPU), validated.
    async fn embed_batch(&self, batch: &[&[u32]]) -> Result<Vec<Vec<f32>>> {
        let rows = batch.len();
        let seq = batch.iter().map(|t| t.len()).max().unwrap_or(0).max(1);
        let mut ids = vec![0i32; rows * seq];
        let mut mask = vec![0f32; rows * seq];
        for (r, tokens) in batch.iter().enumerate() {
            for (c, &t) in tokens.iter().enumerate() {
                ids[r * seq + c] = i32::try_from(t).unwrap_or(-1);
                mask[r * seq + c] = 1.0;
            }
        }
        let mask_t = Tensor::<2>::from_data(
            burn::tensor::TensorData::new(mask.clone(), [rows, seq]),
            self.device(),
        );
        let hidden = self.model.encode(ids, mask, rows, seq)?;
        let dim = self.dim();
        let pooled: Tensor<2> = match self.pooling {
            Pooling::Mean => {
                let m = mask_t.unsqueeze_dim::<3>(2);
                let summed = (hidden * m.clone()).sum_dim(1);
                let count = m.sum_dim(1).clamp_min(1e-9);
                (summed / count).reshape([rows, dim])
            }
            Pooling::Cls => hidden.narrow(1, 0, 1).reshape([rows, dim]),
        };
        let pooled = if self.normalize {
            let norm = pooled
                .clone()
                .powf_scalar(2.0)
                .sum_dim(1)
                .sqrt()
                .clamp_min(1e-12);
            pooled / norm
        } else {
            pooled
        };
        let data = pooled
            .into_data_async()
            .await
            .map_err(|e| Error::Backend(format!("reading embeddings back failed: {e:?}")))?;
        let values = data.as_slice::<f32>().map_err(|e| {
            Error::Backend(format!("embeddings came back in an unexpected type: {e:?}"))
        })?;
        if values.len() != rows * dim {
            return Err(Error::Output(format!(
                "expected {} values from the device, got {}",
                rows * dim,
                values.len()
            )));
        }
        let vectors: Vec<Vec<f32>> = values.chunks_exact(dim).map(<[f32]>::to_vec).collect();
        validate(&vectors, self.normalize)?;
        Ok(vectors)
    }
}

fn fingerprint(
    files: &EmbedderFiles<'_>,
    pooling: Pooling,
    max_len: usize,
    normalize: bool,
) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"localrag-embedder-v1\0");
    for part in [files.config, files.tokenizer] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    }
    h.update(format!("{pooling:?}/{max_len}/{normalize}").as_bytes());
    let w = files.model;
    h.update((w.len() as u64).to_le_bytes());
    const WINDOW: usize = 4096;
    const WINDOWS: usize = 64;
    if w.len() <= WINDOW * WINDOWS {
        h.update(w);
    } else {
        let step = (w.len() - WINDOW) / (WINDOWS - 1);
        for i in 0..WINDOWS {
            let at = i * step;
            h.update(&w[at..at + WINDOW]);
        }
    }
    hex(&h.finalize()[..16])
}

/// Rejects vectors a broken kernel would produce: NaN, infinities, and (when normalised) norms
/// away from 1.
pub fn validate(vectors: &[Vec<f32>], normalized: bool) -> Result<()> {
    for (i, v) in vectors.iter().enumerate() {
        if v.iter().any(|x| !x.is_finite()) {
            return Err(Error::Output(format!(
                "embedding {i} holds NaN or infinity: the device computed garbage"
            )));
        }
        if normalized && let Some(norm) = not_unit(v) {
            return Err(Error::Output(format!(
                "embedding {i} has norm {norm}, expected 1: the device computed garbage"
            )));
        }
    }
    Ok(())
}

fn load_tokenizer(bytes: &[u8], max_len: usize, config: &BertConfig) -> Result<Tokenizer> {
    let mut tokenizer = Tokenizer::from_bytes(bytes)
        .map_err(|e| Error::Tokenizer(format!("tokenizer.json is not valid: {e}")))?;
    let vocab = tokenizer.get_vocab_size(true);
    if vocab > config.vocab_size {
        return Err(Error::Tokenizer(format!(
            "tokenizer has {vocab} tokens but the model only {}: they do not belong together",
            config.vocab_size
        )));
    }
    tokenizer.with_padding(None);
    tokenizer
        .with_truncation(Some(TruncationParams {
            max_length: max_len,
            ..Default::default()
        }))
        .map_err(|e| Error::Tokenizer(format!("cannot truncate at {max_len} tokens: {e}")))?;
    Ok(tokenizer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_catches_garbage() {
        assert!(validate(&[vec![0.6, 0.8]], true).is_ok());
        assert_eq!(
            validate(&[vec![f32::NAN, 0.0]], false).unwrap_err().code(),
            "E_OUTPUT"
        );
        assert_eq!(
            validate(&[vec![0.0, 0.0]], true).unwrap_err().code(),
            "E_OUTPUT"
        );
        assert!(validate(&[vec![2.0, 0.0]], false).is_ok());
    }
}
