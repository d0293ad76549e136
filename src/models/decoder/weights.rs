//! A decoder's weights, read from a GGUF file (`blk.N.*` names) or Hugging Face safetensors
//! (`model.layers.N.*` names). Matrices stay in the file's blocks ([`QMatrix`], sharing the
//! file's bytes); norms and biases, which are small, become f32 vectors.

use super::config::DecoderConfig;
use crate::error::Result;
use crate::kernels::QMatrix;
pub use crate::models::source::{GgufSource, SafetensorsSource, Source};

/// One transformer layer.
pub struct Layer {
    pub attn_norm: Vec<f32>,
    pub q: QMatrix,
    pub k: QMatrix,
    pub v: QMatrix,
    pub q_bias: Option<Vec<f32>>,
    pub k_bias: Option<Vec<f32>>,
    pub v_bias: Option<Vec<f32>>,
    pub q_norm: Option<Vec<f32>>,
    pub k_norm: Option<Vec<f32>>,
    pub o: QMatrix,
    pub post_attn_norm: Option<Vec<f32>>,
    pub ffn_norm: Vec<f32>,
    pub gate: QMatrix,
    pub up: QMatrix,
    pub down: QMatrix,
    pub post_ffw_norm: Option<Vec<f32>>,
}

/// Every weight of a decoder.
pub struct DecoderWeights {
    /// The token embedding table, `[vocab, hidden]`: rows are looked up one token at a time.
    pub tokens: QMatrix,
    pub layers: Vec<Layer>,
    pub norm: Vec<f32>,
    /// The output matrix `[vocab, hidden]`: its own, or the token table (tied).
    pub output: QMatrix,
    /// Llama 3.1+: divisors of the rotary frequencies, one per pair.
    pub rope_factors: Option<Vec<f32>>,
}

impl DecoderWeights {
    /// Bytes the weights hold (their blocks as stored, the vectors as f32).
    pub fn bytes(&self) -> usize {
        let m = |q: &QMatrix| q.bytes().len();
        let v = |x: &Vec<f32>| 4 * x.len();
        let o = |x: &Option<Vec<f32>>| x.as_ref().map_or(0, v);
        let layers: usize = self
            .layers
            .iter()
            .map(|l| {
                v(&l.attn_norm)
                    + m(&l.q)
                    + m(&l.k)
                    + m(&l.v)
                    + o(&l.q_bias)
                    + o(&l.k_bias)
                    + o(&l.v_bias)
                    + o(&l.q_norm)
                    + o(&l.k_norm)
                    + m(&l.o)
                    + o(&l.post_attn_norm)
                    + v(&l.ffn_norm)
                    + m(&l.gate)
                    + m(&l.up)
                    + m(&l.down)
                    + o(&l.post_ffw_norm)
            })
            .sum();
        let tied = std::ptr::eq(self.tokens.bytes().as_ptr(), self.output.bytes().as_ptr());
        m(&self.tokens) + layers + v(&self.norm) + if tied { 0 } else { m(&self.output) }
    }
}

impl DecoderWeights {
    /// Every matrix dequantized to f32 (what the generator held before it kept the blocks):
    /// the benchmarks' reference.
    pub fn to_f32(&self) -> DecoderWeights {
        let tied = std::ptr::eq(self.tokens.bytes().as_ptr(), self.output.bytes().as_ptr());
        let tokens = self.tokens.to_f32();
        DecoderWeights {
            output: if tied {
                tokens.clone()
            } else {
                self.output.to_f32()
            },
            tokens,
            layers: self
                .layers
                .iter()
                .map(|l| Layer {
                    attn_norm: l.attn_norm.clone(),
                    q: l.q.to_f32(),
                    k: l.k.to_f32(),
                    v: l.v.to_f32(),
                    q_bias: l.q_bias.clone(),
                    k_bias: l.k_bias.clone(),
                    v_bias: l.v_bias.clone(),
                    q_norm: l.q_norm.clone(),
                    k_norm: l.k_norm.clone(),
                    o: l.o.to_f32(),
                    post_attn_norm: l.post_attn_norm.clone(),
                    ffn_norm: l.ffn_norm.clone(),
                    gate: l.gate.to_f32(),
                    up: l.up.to_f32(),
                    down: l.down.to_f32(),
                    post_ffw_norm: l.post_ffw_norm.clone(),
                })
                .collect(),
            norm: self.norm.clone(),
            rope_factors: self.rope_factors.clone(),
        }
    }
}

/// Reads every weight of a decoder with `config` from `src`.
pub fn load(config: &DecoderConfig, src: &impl Source) -> Result<DecoderWeights> {
    let c = config;
    let (h, q, kv, ff) = (c.hidden_size, c.q_dim(), c.kv_dim(), c.intermediate_size);
    let mut layers = Vec::with_capacity(c.num_layers);
    for i in 0..c.num_layers {
        let (g, f) = (format!("blk.{i}"), format!("layers.{i}"));
        let m = |gn: &str, hn: &str, rows: usize, cols: usize| {
            src.matrix(
                &format!("{g}.{gn}.weight"),
                &format!("{f}.{hn}.weight"),
                rows,
                cols,
            )
        };
        let v = |gn: &str, hn: &str, n: usize| {
            src.vector(&format!("{g}.{gn}"), &format!("{f}.{hn}"), n)
        };
        let optional =
            |on: bool, gn: &str, hn: &str, n: usize| on.then(|| v(gn, hn, n)).transpose();
        layers.push(Layer {
            attn_norm: v("attn_norm.weight", "input_layernorm.weight", h)?,
            q: m("attn_q", "self_attn.q_proj", q, h)?,
            k: m("attn_k", "self_attn.k_proj", kv, h)?,
            v: m("attn_v", "self_attn.v_proj", kv, h)?,
            q_bias: optional(c.qkv_bias, "attn_q.bias", "self_attn.q_proj.bias", q)?,
            k_bias: optional(c.qkv_bias, "attn_k.bias", "self_attn.k_proj.bias", kv)?,
            v_bias: optional(c.qkv_bias, "attn_v.bias", "self_attn.v_proj.bias", kv)?,
            q_norm: optional(
                c.qk_norm,
                "attn_q_norm.weight",
                "self_attn.q_norm.weight",
                c.head_dim,
            )?,
            k_norm: optional(
                c.qk_norm,
                "attn_k_norm.weight",
                "self_attn.k_norm.weight",
                c.head_dim,
            )?,
            o: m("attn_output", "self_attn.o_proj", h, q)?,
            post_attn_norm: optional(
                c.post_norms,
                "post_attention_norm.weight",
                "post_attention_layernorm.weight",
                h,
            )?,
            ffn_norm: v(
                "ffn_norm.weight",
                if c.post_norms {
                    "pre_feedforward_layernorm.weight"
                } else {
                    "post_attention_layernorm.weight"
                },
                h,
            )?,
            gate: m("ffn_gate", "mlp.gate_proj", ff, h)?,
            up: m("ffn_up", "mlp.up_proj", ff, h)?,
            down: m("ffn_down", "mlp.down_proj", h, ff)?,
            post_ffw_norm: optional(
                c.post_norms,
                "post_ffw_norm.weight",
                "post_feedforward_layernorm.weight",
                h,
            )?,
        });
    }
    let tokens = src.matrix("token_embd.weight", "embed_tokens.weight", c.vocab_size, h)?;
    let output = if src.has("output.weight", "lm_head.weight") {
        src.matrix("output.weight", "lm_head.weight", c.vocab_size, h)?
    } else {
        tokens.clone()
    };
    let rope_factors = if src.has("rope_freqs.weight", "") {
        Some(src.vector("rope_freqs.weight", "", c.head_dim / 2)?)
    } else {
        None
    };
    Ok(DecoderWeights {
        tokens,
        layers,
        norm: src.vector("output_norm.weight", "norm.weight", h)?,
        output,
        rope_factors,
    })
}
