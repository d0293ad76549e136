//! Sentence embeddings: tokenize, encode in length-sorted batches, pool, normalise, validate.
//!
//! - `files`: the model's files (the one list of them) and reading a folder;
//! - `config`: pooling, length and batch options around the encoder.
//!
//! The encoder itself is a model architecture (`crate::models::bert`).

mod config;
mod files;
pub mod tokenizer;
pub mod unigram;

use std::rc::Rc;
use std::sync::Arc;

use burn::tensor::{Device, Tensor};

pub use config::{
    EmbedderOptions, MAX_BATCH_SIZE, Pooling, Prompts, Role, max_seq_length_from_json,
};
pub use files::{EmbedderFile, EmbedderFileBytes, EmbedderFiles, EmbedderLoad, FILES};

use crate::device::BackendKind;
use crate::error::{Error, Result};
use crate::formats::Gguf;
#[cfg(feature = "gpu")]
use crate::models::bert::gpu::GpuEncoder;
use crate::models::bert::weights::config_from_gguf;
use crate::models::bert::{Bert, BertConfig, BertWeights, cpu};
use crate::models::source::GgufSource;
use crate::text::TokenSpans;
use crate::util::{hex, not_unit};
use config::check_batch_size;
use tokenizer::TextTokenizer;

/// What a knowledge base needs from an embedding model.
#[allow(async_fn_in_trait)]
pub trait Embed: TokenSpans {
    /// Identifies the model and the settings that shape its vectors.
    fn fingerprint(&self) -> String;
    fn dim(&self) -> usize;
    /// Tokens the model reads, special tokens included.
    fn max_seq_length(&self) -> usize;
    /// One unit vector per text, in order, each after `role`'s prompt.
    async fn embed_texts(&self, texts: &[&str], role: Role) -> Result<Vec<Vec<f32>>>;
    /// The share of `text`'s tokens the model does not know (hybrid search trusts its vector
    /// less the higher it is). 0 when the model cannot tell.
    fn unknown_share(&self, _text: &str) -> f32 {
        0.0
    }
    /// Tokens of a passage the model reads: `max_seq_length` less the special tokens and the
    /// passage prompt. The chunker keeps chunks within it.
    fn passage_tokens(&self) -> usize {
        self.max_seq_length().saturating_sub(2)
    }
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
            async fn embed_texts(&self, texts: &[&str], role: Role) -> Result<Vec<Vec<f32>>> {
                (**self).embed_texts(texts, role).await
            }
            fn unknown_share(&self, text: &str) -> f32 {
                (**self).unknown_share(text)
            }
            fn passage_tokens(&self) -> usize {
                (**self).passage_tokens()
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
    async fn embed_texts(&self, texts: &[&str], role: Role) -> Result<Vec<Vec<f32>>> {
        self.embed_as(texts, role).await
    }
    fn unknown_share(&self, text: &str) -> f32 {
        self.tokenizer.unknown_share(text).unwrap_or(0.0)
    }
    fn passage_tokens(&self) -> usize {
        Embedder::passage_tokens(self)
    }
}
/// Texts longer than this (in UTF-8 bytes) are refused rather than tokenized: the model only
/// reads the first `max_seq_length` tokens anyway, and tokenizing megabytes costs seconds.
pub const MAX_TEXT_BYTES: usize = 1 << 20;

/// Where the encoder runs.
enum Engine {
    /// Burn's tensor operations, f32 weights (safetensors).
    Burn(Bert),
    /// The quantized CPU kernels, weights kept in their blocks (GGUF).
    Cpu(BertWeights),
    /// The quantized GPU kernels; the token table stays on the CPU, where the embeddings are
    /// looked up. One pass at a time: a pass's buffers are reused.
    #[cfg(feature = "gpu")]
    Gpu(BertWeights, futures_util::lock::Mutex<GpuEncoder>),
}

/// A loaded sentence embedder on one device.
pub struct Embedder {
    config: BertConfig,
    engine: Engine,
    tokenizer: TextTokenizer,
    device: Device,
    fingerprint: String,
    pooling: Pooling,
    max_seq_length: usize,
    batch_size: usize,
    normalize: bool,
    prompts: Prompts,
}

use crate::models::bert::PASS_TOKENS;

impl Embedder {
    /// Loads the model onto `device`. Everything is checked here, so that `embed` only fails on
    /// bad input or a failing device. GGUF weights (`bert` architecture) are kept in their
    /// blocks; the bytes are copied once (see [`Embedder::load_owned`] to avoid it).
    pub fn load(
        files: EmbedderFiles<'_>,
        options: EmbedderOptions,
        device: &Device,
    ) -> Result<Self> {
        let owned = is_gguf(files.model).then(|| Arc::new(files.model.to_vec()));
        Self::load_with(files, owned, options, device)
    }

    /// [`Embedder::load`] taking the files, so that GGUF weights are shared, not copied.
    pub fn load_owned(
        mut files: EmbedderFileBytes,
        options: EmbedderOptions,
        device: &Device,
    ) -> Result<Self> {
        let owned = is_gguf(&files.model).then(|| Arc::new(std::mem::take(&mut files.model)));
        let mut view = files.files();
        if let Some(bytes) = &owned {
            view.model = bytes.as_slice();
        }
        Self::load_with(view, owned.clone(), options, device)
    }

    fn load_with(
        files: EmbedderFiles<'_>,
        gguf_bytes: Option<Arc<Vec<u8>>>,
        options: EmbedderOptions,
        device: &Device,
    ) -> Result<Self> {
        let gguf = match &gguf_bytes {
            Some(bytes) => Some(Gguf::parse(bytes)?),
            None => None,
        };
        let config = match &gguf {
            Some(g) => config_from_gguf(g)?,
            None if files.config.is_empty() => {
                return Err(Error::Config(
                    "config.json is missing (needed with safetensors weights)".into(),
                ));
            }
            None => BertConfig::from_json(files.config)?,
        };
        // llama.cpp's pooling types: 1 mean, 2 CLS.
        let gguf_pooling = gguf
            .as_ref()
            .and_then(|g| g.get("bert.pooling_type"))
            .and_then(|v| v.as_u64())
            .and_then(|p| match p {
                1 => Some(Pooling::Mean),
                2 => Some(Pooling::Cls),
                _ => None,
            });
        let pooling = match (options.pooling, files.pooling) {
            (Some(p), _) => p,
            (None, Some(bytes)) => Pooling::from_json(bytes)?,
            (None, None) => gguf_pooling.unwrap_or(Pooling::Mean),
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
        let tokenizer = match &gguf {
            Some(g) if files.tokenizer.is_empty() => TextTokenizer::from_gguf(g, max_seq_length)?,
            _ if files.tokenizer.is_empty() => {
                return Err(Error::Tokenizer(
                    "tokenizer.json is missing (needed unless the GGUF file carries a vocabulary)"
                        .into(),
                ));
            }
            _ => TextTokenizer::from_json(files.tokenizer, max_seq_length)?,
        };
        let vocab = tokenizer.vocab_size();
        if vocab > config.vocab_size {
            return Err(Error::Tokenizer(format!(
                "tokenizer has {vocab} tokens but the model only {}: they do not belong together",
                config.vocab_size
            )));
        }
        let engine = match (&gguf, &gguf_bytes) {
            (Some(g), Some(bytes)) => {
                let source = GgufSource {
                    gguf: g,
                    bytes: bytes.clone(),
                };
                let weights = BertWeights::load(&config, &source)?;
                match crate::device::kind_of(device) {
                    BackendKind::Cpu => Engine::Cpu(weights),
                    #[cfg(feature = "gpu")]
                    BackendKind::Gpu => {
                        let ctx = crate::device::gpu_kernels().ok_or_else(|| {
                            Error::Backend("the GPU device has not been initialised".into())
                        })?;
                        let encoder = GpuEncoder::upload(ctx, &config, &weights, max_seq_length)?;
                        Engine::Gpu(weights, futures_util::lock::Mutex::new(encoder))
                    }
                    #[cfg(not(feature = "gpu"))]
                    BackendKind::Gpu => return Err(crate::device::no_gpu()),
                }
            }
            _ => Engine::Burn(Bert::load(files.model, &config, device)?),
        };
        let prompts = match files.st_config {
            Some(bytes) => Prompts::from_json(bytes)?,
            None => Prompts::default(),
        }
        .overridden_by(options.prompts.as_ref());
        let fingerprint = fingerprint(&files, pooling, max_seq_length, options.normalize, &prompts);
        Ok(Embedder {
            config,
            engine,
            tokenizer,
            device: device.clone(),
            fingerprint,
            pooling,
            max_seq_length,
            batch_size: options.batch_size,
            normalize: options.normalize,
            prompts,
        })
    }

    /// Length of the output vectors.
    pub fn dim(&self) -> usize {
        self.config.hidden_size
    }

    /// Bytes the weights hold in memory: blocks as stored for GGUF, f32 for safetensors.
    pub fn weight_bytes(&self) -> usize {
        match &self.engine {
            Engine::Cpu(w) => w.bytes(),
            #[cfg(feature = "gpu")]
            Engine::Gpu(w, _) => w.bytes(),
            Engine::Burn(_) => {
                let c = &self.config;
                let h = c.hidden_size;
                let per_layer = 4 * h * h + 2 * h * c.intermediate_size;
                4 * ((c.vocab_size + c.max_position_embeddings + c.type_vocab_size) * h
                    + c.num_hidden_layers * per_layer)
            }
        }
    }

    /// Bytes of the matrices uploaded to the GPU by the quantized GPU engine (0 otherwise).
    pub fn gpu_bytes(&self) -> usize {
        match &self.engine {
            #[cfg(feature = "gpu")]
            Engine::Gpu(_, encoder) => encoder.try_lock().map_or(0, |e| e.bytes()),
            _ => 0,
        }
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
        self.tokenizer.spans(text)
    }

    /// The device the model runs on.
    pub fn device(&self) -> &Device {
        &self.device
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
                self.tokenizer.encode(t).map_err(|e| {
                    Error::Tokenizer(format!("text {i}: {}", e.message()))
                })
            })
            .collect()
    }

    /// Tokens of a passage the model reads whole: `max_seq_length` less the special tokens and
    /// the passage prompt's tokens.
    pub fn passage_tokens(&self) -> usize {
        let prompt = self.prompts.of(Role::Passage);
        let prompt_tokens = if prompt.is_empty() {
            0
        } else {
            self.tokenizer.spans(prompt).map_or(0, |s| s.len())
        };
        self.max_seq_length
            .saturating_sub(self.tokenizer.added_tokens() + prompt_tokens)
    }

    /// The prompts put before queries and passages.
    pub fn prompts(&self) -> &Prompts {
        &self.prompts
    }

    /// Embeds texts as queries or as passages, each after its role's prompt.
    pub async fn embed_as<S: AsRef<str>>(&self, texts: &[S], role: Role) -> Result<Vec<Vec<f32>>> {
        let prompt = self.prompts.of(role);
        if prompt.is_empty() {
            return self.embed(texts).await;
        }
        let prompted: Vec<String> = texts
            .iter()
            .map(|t| format!("{prompt}{}", t.as_ref()))
            .collect();
        self.embed(&prompted).await
    }

    /// Embeds texts as they are (no prompt); the result is in input order, one `dim()`-long
    /// vector per text.
    pub async fn embed<S: AsRef<str>>(&self, texts: &[S]) -> Result<Vec<Vec<f32>>> {
        let ids = self.tokenize(texts)?;
        let mut order: Vec<usize> = (0..ids.len()).collect();
        // Longest first: similar lengths share a batch, so little compute goes to padding.
        order.sort_by_key(|&i| std::cmp::Reverse(ids[i].len()));
        let mut out: Vec<Vec<f32>> = vec![Vec::new(); ids.len()];
        if !matches!(self.engine, Engine::Burn(_)) {
            // Packed passes of at most PASS_TOKENS tokens.
            let mut passes: Vec<std::ops::Range<usize>> = Vec::new();
            let mut i = 0;
            while i < order.len() {
                let mut j = i;
                let mut tokens = 0;
                while j < order.len()
                    && (j == i || tokens + ids[order[j]].len() <= PASS_TOKENS)
                    && j - i < self.batch_size
                {
                    tokens += ids[order[j]].len();
                    j += 1;
                }
                passes.push(i..j);
                i = j;
            }
            let batches: Vec<Vec<&[u32]>> = passes
                .iter()
                .map(|r| {
                    order[r.clone()]
                        .iter()
                        .map(|&k| ids[k].as_slice())
                        .collect()
                })
                .collect();
            let vectors = self.embed_packed(&batches).await?;
            for (r, vs) in passes.iter().zip(vectors) {
                for (&k, v) in order[r.clone()].iter().zip(vs) {
                    out[k] = v;
                }
            }
            return Ok(out);
        }
        for group in order.chunks(self.batch_size) {
            let batch: Vec<&[u32]> = group.iter().map(|&i| ids[i].as_slice()).collect();
            let vectors = self.embed_batch(&batch).await?;
            for (&i, v) in group.iter().zip(vectors) {
                out[i] = v;
            }
        }
        Ok(out)
    }

    /// Passes of texts packed one after another through a quantized engine, pooled,
    /// validated. On the CPU all of one call's passes are one hand-off to the thread pool
    /// (each pass pooled there, so only the vectors come back).
    async fn embed_packed(&self, batches: &[Vec<&[u32]>]) -> Result<Vec<Vec<Vec<f32>>>> {
        let mut packed = Vec::with_capacity(batches.len());
        for batch in batches {
            let mut ids = Vec::new();
            let mut spans = Vec::with_capacity(batch.len());
            for tokens in batch {
                self.config
                    .check_tokens(tokens.len(), tokens.iter().map(|&t| t as i64))?;
                spans.push((ids.len(), ids.len() + tokens.len()));
                ids.extend_from_slice(tokens);
            }
            packed.push((ids, spans));
        }
        let (dim, pooling, normalize) = (self.dim(), self.pooling, self.normalize);
        let out: Vec<Vec<Vec<f32>>> = match &self.engine {
            Engine::Cpu(weights) => {
                let config = &self.config;
                crate::kernels::pool::on_pool_async(|| {
                    packed
                        .iter()
                        .map(|(ids, spans)| {
                            let hidden = cpu::forward(config, weights, ids, spans);
                            pool_rows(&hidden, spans, dim, pooling, normalize)
                        })
                        .collect()
                })
                .await
            }
            #[cfg(feature = "gpu")]
            Engine::Gpu(weights, encoder) => {
                let mut out = Vec::with_capacity(packed.len());
                for (ids, spans) in &packed {
                    let x = cpu::embeddings(&self.config, weights, ids, spans);
                    let hidden = encoder
                        .lock()
                        .await
                        .forward(&self.config, &x, spans)
                        .await?;
                    out.push(pool_rows(&hidden, spans, dim, pooling, normalize));
                }
                out
            }
            Engine::Burn(_) => unreachable!("Burn pads its batches"),
        };
        for vectors in &out {
            validate(vectors, self.normalize)?;
        }
        Ok(out)
    }

    /// One padded forward pass, read back asynchronously (the only way on WebGPU), validated.
    async fn embed_batch(&self, batch: &[&[u32]]) -> Result<Vec<Vec<f32>>> {
        let Engine::Burn(model) = &self.engine else {
            unreachable!("the packed engines do not pad")
        };
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
        let hidden = model.encode(ids, mask, rows, seq)?;
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
    prompts: &Prompts,
) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"localrag-embedder-v1\0");
    for part in [files.config, files.tokenizer] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    }
    h.update(format!("{pooling:?}/{max_len}/{normalize}").as_bytes());
    // Vectors of passages embedded with one prompt do not match queries embedded with another.
    if prompts.query.is_some() || prompts.passage.is_some() {
        for p in [&prompts.query, &prompts.passage] {
            let p = p.as_deref().unwrap_or("");
            h.update((p.len() as u64).to_le_bytes());
            h.update(p.as_bytes());
        }
    }
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

/// The vector of each text of a packed pass (`spans` of `hidden`'s rows): mean or first-token
/// pooling, then unit length when `normalize`.
fn pool_rows(
    hidden: &[f32],
    spans: &[(usize, usize)],
    dim: usize,
    pooling: Pooling,
    normalize: bool,
) -> Vec<Vec<f32>> {
    spans
        .iter()
        .map(|&(a, b)| {
            let mut v = match pooling {
                Pooling::Mean => {
                    let mut v = vec![0f32; dim];
                    for row in hidden[a * dim..b * dim].chunks_exact(dim) {
                        for (s, x) in v.iter_mut().zip(row) {
                            *s += x;
                        }
                    }
                    let n = (b - a) as f32;
                    v.iter_mut().for_each(|s| *s /= n);
                    v
                }
                Pooling::Cls => hidden[a * dim..(a + 1) * dim].to_vec(),
            };
            if normalize {
                let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
                v.iter_mut().for_each(|x| *x /= norm);
            }
            v
        })
        .collect()
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

/// Whether model bytes are a GGUF file (by its magic).
fn is_gguf(bytes: &[u8]) -> bool {
    bytes.starts_with(b"GGUF")
}
