//! The shape and the options of a decoder-only transformer, as the architecture files
//! (`llama.rs`, `qwen2.rs`, `qwen3.rs`, `gemma3.rs`) read them from their files.

use crate::error::{Error, Result};
use crate::formats::Gguf;

/// How rotary position embedding pairs the dimensions of a head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RopeStyle {
    /// Adjacent pairs `(2i, 2i + 1)`: llama in GGUF, whose q/k rows llama.cpp's converter
    /// permuted for it.
    Pairs,
    /// The two halves `(i, i + d/2)` (`rotate_half`, "NeoX"): Hugging Face checkpoints, and
    /// Qwen and Gemma in GGUF.
    Halves,
}

/// The non-linearity of the gated feed-forward block: `down(act(gate(x)) ⊙ up(x))`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// SwiGLU (Llama, Qwen).
    Silu,
    /// GeGLU with the tanh approximation (Gemma).
    GeluTanh,
}

/// Everything the forward pass needs to know about a model.
#[derive(Clone, Debug, PartialEq)]
pub struct DecoderConfig {
    /// `general.architecture` (`llama`, `qwen2`, `qwen3`, `gemma3`).
    pub arch: String,
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_layers: usize,
    pub num_heads: usize,
    pub num_kv_heads: usize,
    /// Per head; `hidden_size / num_heads` for most models, set explicitly by Gemma.
    pub head_dim: usize,
    pub rms_eps: f32,
    /// Positions the model was trained for.
    pub context_length: usize,
    pub rope_style: RopeStyle,
    /// Rotary base of the global-attention layers.
    pub rope_base: f32,
    /// Rotary base of the sliding-window layers (Gemma 3: 10 000).
    pub rope_base_local: f32,
    /// Sliding-window layers see this many positions back (`None`: every layer is global).
    pub sliding_window: Option<usize>,
    /// Every `n`-th layer is global, the others slide (Gemma 3: 6); only with a window.
    pub global_every: usize,
    /// Biases on the q, k and v projections (Qwen2).
    pub qkv_bias: bool,
    /// RMSNorm of each query and key head before rotation (Qwen3, Gemma 3).
    pub qk_norm: bool,
    /// RMSNorm of the attention's and the feed-forward block's outputs before the residual
    /// (Gemma's "sandwich" norms).
    pub post_norms: bool,
    pub activation: Activation,
    /// Multiplies the token embedding (Gemma: √hidden).
    pub embedding_scale: Option<f32>,
    /// Scale of the attention scores (1/√head_dim unless the model says otherwise).
    pub attention_scale: f32,
}

impl DecoderConfig {
    pub fn q_dim(&self) -> usize {
        self.num_heads * self.head_dim
    }

    pub fn kv_dim(&self) -> usize {
        self.num_kv_heads * self.head_dim
    }

    /// Whether layer `i` attends over a sliding window (and which rotary base it uses).
    pub fn is_sliding(&self, layer: usize) -> bool {
        self.sliding_window.is_some() && (layer + 1) % self.global_every.max(1) != 0
    }

    /// Checks that the sizes are positive, consistent and plausible.
    pub fn check(&self) -> Result<()> {
        let c = self;
        let bad = |m: String| Err(Error::Config(m));
        if [
            c.vocab_size,
            c.hidden_size,
            c.intermediate_size,
            c.num_layers,
            c.num_heads,
            c.num_kv_heads,
            c.head_dim,
            c.context_length,
        ]
        .contains(&0)
        {
            return bad(format!("model config has a zero size: {c:?}"));
        }
        if c.head_dim % 2 != 0 {
            return bad(format!("head size {} is odd: no rotary pairs", c.head_dim));
        }
        if c.num_heads % c.num_kv_heads != 0 {
            return bad(format!(
                "{} query heads cannot share {} key/value heads",
                c.num_heads, c.num_kv_heads
            ));
        }
        let positive = |v: f32| v.is_finite() && v > 0.0;
        if !(positive(c.rope_base) && positive(c.rope_base_local) && positive(c.rms_eps)) {
            return bad(format!(
                "rope bases and RMS epsilon must be positive: {c:?}"
            ));
        }
        if c.hidden_size > 1 << 16
            || c.intermediate_size > 1 << 18
            || c.num_layers > 1024
            || c.vocab_size > 1 << 24
            || c.q_dim() > 1 << 16
        {
            return bad(format!("model config is implausibly large: {c:?}"));
        }
        Ok(())
    }
}

/// Reads `{arch}.{key}` values of a GGUF file.
pub(crate) struct ArchKeys<'a> {
    pub g: &'a Gguf<'a>,
    pub arch: &'a str,
}

impl ArchKeys<'_> {
    pub fn usize(&self, key: &str) -> Result<usize> {
        self.g
            .require_u64(&format!("{}.{key}", self.arch))
            .map(|v| v as usize)
    }

    pub fn usize_or(&self, key: &str, default: usize) -> usize {
        self.g
            .get(&format!("{}.{key}", self.arch))
            .and_then(|v| v.as_u64())
            .map_or(default, |v| v as usize)
    }

    pub fn f32_or(&self, key: &str, default: f32) -> f32 {
        self.g
            .get(&format!("{}.{key}", self.arch))
            .and_then(|v| v.as_f64())
            .map_or(default, |v| v as f32)
    }

    /// The settings every architecture reads alike; the architecture file changes the rest.
    pub fn common(&self, rope_style: RopeStyle) -> Result<DecoderConfig> {
        let num_heads = self.usize("attention.head_count")?;
        let hidden_size = self.usize("embedding_length")?;
        let vocab_size = match self.g.get(&format!("{}.vocab_size", self.arch)) {
            Some(v) => v.as_u64().unwrap_or(0) as usize,
            None => self
                .g
                .require("tokenizer.ggml.tokens")?
                .as_array()
                .map_or(0, |a| a.len()),
        };
        let head_dim = self.usize_or("attention.key_length", hidden_size / num_heads.max(1));
        if self.usize_or("attention.value_length", head_dim) != head_dim {
            return Err(Error::Config(
                "key and value heads of different sizes are not supported".into(),
            ));
        }
        if let Some(d) = self
            .g
            .get(&format!("{}.rope.dimension_count", self.arch))
            .and_then(|v| v.as_u64())
            && d as usize != head_dim
        {
            return Err(Error::Config(format!(
                "partial rotary embeddings ({d} of {head_dim} dims) are not supported"
            )));
        }
        let rope_base = self.f32_or("rope.freq_base", 10_000.0);
        Ok(DecoderConfig {
            arch: self.arch.to_string(),
            vocab_size,
            hidden_size,
            intermediate_size: self.usize("feed_forward_length")?,
            num_layers: self.usize("block_count")?,
            num_heads,
            num_kv_heads: self.usize_or("attention.head_count_kv", num_heads),
            head_dim,
            rms_eps: self.f32_or("attention.layer_norm_rms_epsilon", 1e-5),
            context_length: self.usize("context_length")?,
            rope_style,
            rope_base,
            rope_base_local: rope_base,
            sliding_window: None,
            global_every: 1,
            qkv_bias: false,
            qk_norm: false,
            post_norms: false,
            activation: Activation::Silu,
            embedding_scale: None,
            attention_scale: 1.0 / (head_dim as f32).sqrt(),
        })
    }
}
