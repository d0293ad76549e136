//! A decoder's weights, read from a GGUF file (`blk.N.*` names) or Hugging Face safetensors
//! (`model.layers.N.*` names). Matrices stay in the file's blocks ([`QMatrix`], sharing the
//! file's bytes); norms and biases, which are small, become f32 vectors.

use std::sync::Arc;

use super::config::DecoderConfig;
use crate::error::{Error, Result};
use crate::formats::{GgmlType, Gguf, dequantize};
use crate::kernels::QMatrix;

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

/// Where the weights come from: a tensor by its GGUF name and its Hugging Face name.
pub trait Source {
    /// A `[rows, cols]` matrix (rows = outputs), checked against the config's shape.
    fn matrix(&self, gguf: &str, hf: &str, rows: usize, cols: usize) -> Result<QMatrix>;
    /// A vector of `n` values as f32.
    fn vector(&self, gguf: &str, hf: &str, n: usize) -> Result<Vec<f32>>;
    fn has(&self, gguf: &str, hf: &str) -> bool;
}

/// A GGUF file's tensors, sharing the file's bytes.
pub struct GgufSource<'a> {
    pub gguf: &'a Gguf<'a>,
    pub bytes: Arc<Vec<u8>>,
}

fn format_err(msg: String) -> Error {
    Error::ModelFormat(format!("GGUF: {msg}"))
}

/// Checks that a matrix's scales (and, for float types, values) are finite: a damaged file is
/// refused at load instead of producing NaN logits later.
fn check_finite(name: &str, m: &QMatrix) -> Result<()> {
    let (per_block, block_bytes) = m.kind().block().expect("readable");
    // The f16 fields of each block (scales, minimums) or every value of a float type.
    let fields: &[usize] = match m.kind() {
        GgmlType::F32 | GgmlType::F16 | GgmlType::BF16 => &[],
        GgmlType::Q4_0 | GgmlType::Q5_0 | GgmlType::Q8_0 => &[0],
        GgmlType::Q4_1 | GgmlType::Q5_1 | GgmlType::Q4K | GgmlType::Q5K => &[0, 2],
        GgmlType::Q6K => &[208],
        GgmlType::Other(_) => &[],
    };
    let bad = if fields.is_empty() {
        // Float types: scan a row at a time.
        (0..m.rows()).any(|r| m.row_f32(r).iter().any(|v| !v.is_finite()))
    } else {
        let _ = per_block;
        m.bytes().chunks_exact(block_bytes).any(|b| {
            fields
                .iter()
                .any(|&f| !crate::formats::quant::half(&b[f..f + 2]).is_finite())
        })
    };
    if bad {
        return Err(format_err(format!(
            "tensor `{name}` holds a non-finite value"
        )));
    }
    Ok(())
}

impl Source for GgufSource<'_> {
    fn matrix(&self, name: &str, _hf: &str, rows: usize, cols: usize) -> Result<QMatrix> {
        let info = self.gguf.tensor(name)?;
        if info.dims != [cols as u64, rows as u64] {
            return Err(format_err(format!(
                "tensor `{name}` has dims {:?}, the model config implies {:?}",
                info.dims,
                [cols, rows]
            )));
        }
        let m = QMatrix::new(info.kind, rows, cols, self.bytes.clone(), info.start)
            .map_err(|e| format_err(format!("tensor `{name}`: {}", e.message())))?;
        check_finite(name, &m)?;
        Ok(m)
    }

    fn vector(&self, name: &str, _hf: &str, n: usize) -> Result<Vec<f32>> {
        let info = self.gguf.tensor(name)?;
        if info.dims != [n as u64] {
            return Err(format_err(format!(
                "tensor `{name}` has dims {:?}, the model config implies [{n}]",
                info.dims
            )));
        }
        let values = dequantize(info.kind, self.gguf.tensor_bytes(info)?, n)
            .map_err(|e| format_err(format!("tensor `{name}`: {e}")))?;
        if values.iter().any(|v| !v.is_finite()) {
            return Err(format_err(format!(
                "tensor `{name}` holds a non-finite value"
            )));
        }
        Ok(values)
    }

    fn has(&self, name: &str, _hf: &str) -> bool {
        self.gguf.tensor(name).is_ok()
    }
}

/// A Hugging Face safetensors file's tensors (`model.*` names, `lm_head.weight` at the root),
/// F32, F16 or BF16, sharing the file's bytes.
pub struct SafetensorsSource<'a> {
    pub file: safetensors::SafeTensors<'a>,
    pub bytes: Arc<Vec<u8>>,
}

impl SafetensorsSource<'_> {
    fn view(&self, hf: &str) -> Result<(String, safetensors::tensor::TensorView<'_>)> {
        ["model.", ""]
            .iter()
            .map(|p| format!("{p}{hf}"))
            .find_map(|name| self.file.tensor(&name).ok().map(|v| (name, v)))
            .ok_or_else(|| Error::ModelFormat(format!("weights: missing tensor `{hf}`")))
    }

    fn kind(name: &str, view: &safetensors::tensor::TensorView<'_>) -> Result<GgmlType> {
        match view.dtype() {
            safetensors::Dtype::F32 => Ok(GgmlType::F32),
            safetensors::Dtype::F16 => Ok(GgmlType::F16),
            safetensors::Dtype::BF16 => Ok(GgmlType::BF16),
            other => Err(Error::ModelFormat(format!(
                "weights: tensor `{name}` has dtype {other:?}; only F32, F16 and BF16 are supported"
            ))),
        }
    }
}

impl Source for SafetensorsSource<'_> {
    fn matrix(&self, _gguf: &str, hf: &str, rows: usize, cols: usize) -> Result<QMatrix> {
        let (name, view) = self.view(hf)?;
        if view.shape() != [rows, cols] {
            return Err(Error::ModelFormat(format!(
                "weights: tensor `{name}` has shape {:?}, the config implies {:?}",
                view.shape(),
                [rows, cols]
            )));
        }
        let offset = view.data().as_ptr() as usize - self.bytes.as_ptr() as usize;
        let m = QMatrix::new(
            Self::kind(&name, &view)?,
            rows,
            cols,
            self.bytes.clone(),
            offset,
        )?;
        check_finite(&name, &m)?;
        Ok(m)
    }

    fn vector(&self, _gguf: &str, hf: &str, n: usize) -> Result<Vec<f32>> {
        let (name, view) = self.view(hf)?;
        if view.shape() != [n] {
            return Err(Error::ModelFormat(format!(
                "weights: tensor `{name}` has shape {:?}, the config implies [{n}]",
                view.shape()
            )));
        }
        let values = dequantize(Self::kind(&name, &view)?, view.data(), n)
            .map_err(|e| Error::ModelFormat(format!("weights: tensor `{name}`: {e}")))?;
        if values.iter().any(|v| !v.is_finite()) {
            return Err(Error::ModelFormat(format!(
                "weights: tensor `{name}` holds a non-finite value"
            )));
        }
        Ok(values)
    }

    fn has(&self, _gguf: &str, hf: &str) -> bool {
        !hf.is_empty() && self.view(hf).is_ok()
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
