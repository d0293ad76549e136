//! The forward pass of a Llama-family decoder with a key/value cache.

use burn::tensor::activation::{silu, softmax};
use burn::tensor::{Device, Tensor, TensorData};

use super::LlamaConfig;
use crate::error::{Error, Result};
use crate::formats::{GgmlType, dequantize_row};

/// Added to the attention scores of future positions.
const MASKED: f32 = -1.0e9;

/// The token embedding table, kept on the CPU: a prompt needs only a few rows, and keeping it
/// quantized (as GGUF ships it) saves the largest tensor's f32 copy.
pub(super) enum TokenTable {
    Quantized { kind: GgmlType, bytes: Vec<u8> },
    F32(Vec<f32>),
}

/// `x / sqrt(mean(x²) + ε) · w` over the last dimension.
pub(super) struct RmsNorm {
    pub(super) weight: Tensor<1>,
    pub(super) eps: f64,
}

impl RmsNorm {
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let mean_square = (x.clone() * x.clone()).mean_dim(2);
        x / (mean_square + self.eps).sqrt() * self.weight.clone().unsqueeze::<3>()
    }
}

pub(super) struct Block {
    pub(super) attn_norm: RmsNorm,
    /// q, k and v projections side by side: `[hidden, hidden + 2·kv_dim]` (one matmul).
    pub(super) qkv: Tensor<2>,
    pub(super) output: Tensor<2>,
    pub(super) mlp_norm: RmsNorm,
    /// gate and up side by side: `[hidden, 2·intermediate]`.
    pub(super) gate_up: Tensor<2>,
    pub(super) down: Tensor<2>,
}

/// Keys and values of the positions seen so far, per layer: `[1, kv_heads, len, head_dim]`.
pub struct KvCache {
    layers: Vec<Option<(Tensor<4>, Tensor<4>)>>,
    len: usize,
}

impl KvCache {
    /// Positions in the cache.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// A Llama-family decoder with its weights on one device.
pub struct Llama {
    pub(super) config: LlamaConfig,
    pub(super) tokens: TokenTable,
    pub(super) blocks: Vec<Block>,
    pub(super) norm: RmsNorm,
    /// `[hidden, vocab]`.
    pub(super) lm_head: Tensor<2>,
    pub(super) device: Device,
}

impl Llama {
    pub fn config(&self) -> &LlamaConfig {
        &self.config
    }

    /// Bytes the weights hold: `(on the device, on the CPU)` (f32 tensors; the token table as
    /// stored).
    pub fn weight_bytes(&self) -> (usize, usize) {
        let c = &self.config;
        let (h, kv, ff) = (c.hidden_size, c.kv_dim(), c.intermediate_size);
        let per_block = h * (h + 2 * kv) + h * h + h * 2 * ff + ff * h + 2 * h;
        let device = 4 * (c.num_layers * per_block + h + h * c.vocab_size);
        let cpu = match &self.tokens {
            TokenTable::Quantized { bytes, .. } => bytes.len(),
            TokenTable::F32(t) => 4 * t.len(),
        };
        (device, cpu)
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// An empty cache for a new sequence.
    pub fn new_cache(&self) -> KvCache {
        KvCache {
            layers: (0..self.config.num_layers).map(|_| None).collect(),
            len: 0,
        }
    }

    fn embed(&self, ids: &[u32]) -> Result<Tensor<3>> {
        let h = self.config.hidden_size;
        let mut x = Vec::with_capacity(ids.len() * h);
        for &id in ids {
            if id as usize >= self.config.vocab_size {
                return Err(Error::Tokenizer(format!(
                    "token id {id} is outside the model's vocabulary of {}",
                    self.config.vocab_size
                )));
            }
            match &self.tokens {
                TokenTable::Quantized { kind, bytes } => {
                    x.extend(dequantize_row(*kind, bytes, h, id as usize)?)
                }
                TokenTable::F32(t) => {
                    x.extend_from_slice(&t[id as usize * h..(id as usize + 1) * h])
                }
            }
        }
        Ok(Tensor::from_data(
            TensorData::new(x, [1, ids.len(), h]),
            &self.device,
        ))
    }

    /// The rotation of each position, `[1, 1, seq, head_dim]` each, laid out for [`rope`]:
    /// `cos` holds cos θ twice per pair, `sin` holds (−sin θ, +sin θ) per pair, where
    /// θ(p, i) = p · base^(−2i/d).
    fn rotary(&self, start: usize, seq: usize) -> (Tensor<4>, Tensor<4>) {
        let d = self.config.head_dim();
        let mut cos = Vec::with_capacity(seq * d);
        let mut sin = Vec::with_capacity(seq * d);
        for p in start..start + seq {
            for i in 0..d / 2 {
                let freq = self.config.rope_theta.powf(-2.0 * i as f64 / d as f64);
                let (s, c) = (p as f64 * freq).sin_cos();
                cos.extend([c as f32, c as f32]);
                sin.extend([-s as f32, s as f32]);
            }
        }
        (
            Tensor::<2>::from_data(TensorData::new(cos, [seq, d]), &self.device).unsqueeze::<4>(),
            Tensor::<2>::from_data(TensorData::new(sin, [seq, d]), &self.device).unsqueeze::<4>(),
        )
    }

    /// Runs `ids` (the next positions of the sequence in `cache`) and returns the logits of the
    /// last one, `[1, vocab]`. The caller keeps `cache.len() + ids.len()` within the context.
    pub fn forward(&self, ids: &[u32], cache: &mut KvCache) -> Result<Tensor<2>> {
        let c = &self.config;
        let seq = ids.len();
        if seq == 0 {
            return Err(Error::Input("no tokens to run".into()));
        }
        let start = cache.len;
        if start + seq > c.context_length {
            return Err(Error::Input(format!(
                "{} positions exceed the model's context of {}",
                start + seq,
                c.context_length
            )));
        }
        let (h, d, heads, kv_heads) = (c.hidden_size, c.head_dim(), c.num_heads, c.num_kv_heads);
        let group = heads / kv_heads;
        let total = start + seq;
        let (cos, sin) = self.rotary(start, seq);
        // Future positions are masked. Rows are grouped per key/value head: row r of a group is
        // query head r / seq at position start + r % seq.
        let mask = (seq > 1).then(|| {
            let mut m = Vec::with_capacity(group * seq * total);
            for r in 0..group * seq {
                let pos = start + r % seq;
                m.extend((0..total).map(|j| if j > pos { MASKED } else { 0.0 }));
            }
            Tensor::<2>::from_data(TensorData::new(m, [group * seq, total]), &self.device)
                .unsqueeze::<4>()
        });
        let scale = 1.0 / (d as f64).sqrt();
        let mut x = self.embed(ids)?;
        for (block, slot) in self.blocks.iter().zip(cache.layers.iter_mut()) {
            let normed = block.attn_norm.forward(x.clone());
            let qkv = normed.reshape([seq, h]).matmul(block.qkv.clone());
            let heads_of = |t: Tensor<2>, n: usize| t.reshape([1, seq, n, d]).swap_dims(1, 2);
            let q = rope(heads_of(qkv.clone().narrow(1, 0, h), heads), &cos, &sin);
            let k = rope(
                heads_of(qkv.clone().narrow(1, h, kv_heads * d), kv_heads),
                &cos,
                &sin,
            );
            let v = heads_of(qkv.narrow(1, h + kv_heads * d, kv_heads * d), kv_heads);
            let (k, v) = match slot.take() {
                Some((pk, pv)) => (Tensor::cat(vec![pk, k], 2), Tensor::cat(vec![pv, v], 2)),
                None => (k, v),
            };
            *slot = Some((k.clone(), v.clone()));
            // Grouped-query attention without copying keys: the query heads that share a
            // key/value head are stacked along the sequence axis.
            let q = q.reshape([1, kv_heads, group * seq, d]);
            let mut scores = q.matmul(k.swap_dims(2, 3)) * scale;
            if let Some(m) = &mask {
                scores = scores + m.clone();
            }
            let context = softmax(scores, 3)
                .matmul(v)
                .reshape([1, heads, seq, d])
                .swap_dims(1, 2)
                .reshape([seq, h]);
            x = x + context.matmul(block.output.clone()).reshape([1, seq, h]);
            let normed = block.mlp_norm.forward(x.clone()).reshape([seq, h]);
            let gate_up = normed.matmul(block.gate_up.clone());
            let ff = c.intermediate_size;
            let hidden = silu(gate_up.clone().narrow(1, 0, ff)) * gate_up.narrow(1, ff, ff);
            x = x + hidden.matmul(block.down.clone()).reshape([1, seq, h]);
        }
        cache.len = total;
        let last = x.narrow(1, seq - 1, 1);
        Ok(self
            .norm
            .forward(last)
            .reshape([1, h])
            .matmul(self.lm_head.clone()))
    }

    /// [`Llama::forward`], read back to the CPU and checked for NaN/infinity.
    pub async fn logits(&self, ids: &[u32], cache: &mut KvCache) -> Result<Vec<f32>> {
        let before = cache.len;
        let t = self.forward(ids, cache)?;
        let data = t
            .into_data_async()
            .await
            .map_err(|e| Error::Backend(format!("reading logits back failed: {e:?}")));
        let values = data.and_then(|d| {
            d.try_into_vec::<f32>().map_err(|e| {
                Error::Backend(format!("logits came back in an unexpected type: {e:?}"))
            })
        });
        let values = match values {
            Ok(v) => v,
            Err(e) => {
                cache.len = before;
                return Err(e);
            }
        };
        if values.len() != self.config.vocab_size {
            return Err(Error::Output(format!(
                "{} logits for a vocabulary of {}",
                values.len(),
                self.config.vocab_size
            )));
        }
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(Error::Output(format!(
                "the model produced a non-finite logit (token {i}); the GPU may have failed"
            )));
        }
        Ok(values)
    }
}

/// Rotates adjacent pairs `(x₂ᵢ, x₂ᵢ₊₁)` of each head by the position's angle:
/// `(x₂ᵢ cos θ − x₂ᵢ₊₁ sin θ, x₂ᵢ₊₁ cos θ + x₂ᵢ sin θ)`, written as `x ⊙ cos + swap(x) ⊙ sin` with
/// `swap` exchanging the two elements of each pair, so that it is one flip and elementwise work
/// (which Burn fuses) rather than slicing and stacking. `x` is `[1, heads, seq, d]`, the tables
/// come from `Llama::rotary`.
fn rope(x: Tensor<4>, cos: &Tensor<4>, sin: &Tensor<4>) -> Tensor<4> {
    let [b, n, s, d] = x.dims();
    let swapped = x
        .clone()
        .reshape([b, n, s, d / 2, 2])
        .flip([4])
        .reshape([b, n, s, d]);
    x * cos.clone() + swapped * sin.clone()
}
