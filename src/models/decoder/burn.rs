//! The forward pass with Burn's tensor operations, on any Burn device, with every weight
//! dequantized to an `[in, out]` f32 tensor (split into parts a WebGPU binding can hold) and a
//! key/value cache that grows by concatenation: the generator as it was before the quantized
//! kernels, kept as the benchmarks' side-by-side reference (`Generator::from_gguf_burn`) and as a
//! second implementation the tests compare with.

use burn::tensor::activation::{silu, softmax};
use burn::tensor::{Device, Tensor, TensorData};

use super::config::{Activation, DecoderConfig, RopeStyle};
use super::weights::DecoderWeights;
use crate::error::{Error, Result};
use crate::kernels::QMatrix;

/// Added to the attention scores of positions a query may not see.
const MASKED: f32 = -1.0e9;

struct Norm {
    weight: Tensor<1>,
    eps: f64,
}

impl Norm {
    fn new(w: &[f32], eps: f32, device: &Device) -> Self {
        Norm {
            weight: Tensor::from_data(TensorData::new(w.to_vec(), [w.len()]), device),
            eps: eps as f64,
        }
    }

    /// RMSNorm over the last dimension.
    fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let mean_square = (x.clone() * x.clone()).mean_dim(D - 1);
        x / (mean_square + self.eps).sqrt() * self.weight.clone().unsqueeze::<D>()
    }
}

fn vector(v: &[f32], device: &Device) -> Tensor<1> {
    Tensor::from_data(TensorData::new(v.to_vec(), [v.len()]), device)
}

/// Bytes of one uploaded weight tensor at most: WebGPU guarantees storage bindings of 128 MiB
/// only, and a large vocabulary's output matrix (Gemma: 262 144 × 640 f32 = 671 MB) is more.
const PART_BYTES: usize = 64 << 20;

/// A stack of matrices with the same input size as `[in, out]` f32 tensors, split by output
/// columns into parts of at most `PART_BYTES`: `x·W` is one matmul per part.
struct Dense {
    parts: Vec<Tensor<2>>,
}

impl Dense {
    fn upload(stack: &[&QMatrix], device: &Device) -> Self {
        Self::upload_in_parts(stack, device, PART_BYTES)
    }

    fn upload_in_parts(stack: &[&QMatrix], device: &Device, part_bytes: usize) -> Self {
        let cols = stack[0].cols();
        let rows: Vec<(&QMatrix, usize)> = stack
            .iter()
            .flat_map(|m| (0..m.rows()).map(move |r| (*m, r)))
            .collect();
        let per_part = (part_bytes / (4 * cols)).max(1);
        let parts = rows
            .chunks(per_part)
            .map(|chunk| {
                let n = chunk.len();
                let mut t = vec![0f32; n * cols];
                for (j, (m, r)) in chunk.iter().enumerate() {
                    for (c, v) in m.row_f32(*r).iter().enumerate() {
                        t[c * n + j] = *v;
                    }
                }
                Tensor::from_data(TensorData::new(t, [cols, n]), device)
            })
            .collect();
        Dense { parts }
    }

    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        if let [one] = self.parts.as_slice() {
            return x.matmul(one.clone());
        }
        Tensor::cat(
            self.parts
                .iter()
                .map(|p| x.clone().matmul(p.clone()))
                .collect(),
            1,
        )
    }
}

struct Block {
    attn_norm: Norm,
    /// q, k and v side by side: `[hidden, q_dim + 2·kv_dim]`.
    qkv: Dense,
    qkv_bias: Option<Tensor<1>>,
    q_norm: Option<Norm>,
    k_norm: Option<Norm>,
    output: Dense,
    post_attn_norm: Option<Norm>,
    ffn_norm: Norm,
    /// gate and up side by side: `[hidden, 2·intermediate]`.
    gate_up: Dense,
    down: Dense,
    post_ffw_norm: Option<Norm>,
}

/// The decoder's weights on a Burn device.
pub struct BurnDecoder {
    blocks: Vec<Block>,
    norm: Norm,
    /// `[hidden, vocab]`.
    lm_head: Dense,
    device: Device,
}

/// Keys and values of the positions seen so far, per layer: `[1, kv_heads, len, head_dim]`.
pub struct BurnCache {
    layers: Vec<Option<(Tensor<4>, Tensor<4>)>>,
    pub len: usize,
    pub capacity: usize,
}

impl BurnDecoder {
    pub fn upload(c: &DecoderConfig, w: &DecoderWeights, device: &Device) -> Self {
        let norm = |v: &[f32]| Norm::new(v, c.rms_eps, device);
        let blocks = w
            .layers
            .iter()
            .map(|l| Block {
                attn_norm: norm(&l.attn_norm),
                qkv: Dense::upload(&[&l.q, &l.k, &l.v], device),
                qkv_bias: match (&l.q_bias, &l.k_bias, &l.v_bias) {
                    (Some(q), Some(k), Some(v)) => {
                        Some(vector(&[q.as_slice(), k, v].concat(), device))
                    }
                    _ => None,
                },
                q_norm: l.q_norm.as_deref().map(norm),
                k_norm: l.k_norm.as_deref().map(norm),
                output: Dense::upload(&[&l.o], device),
                post_attn_norm: l.post_attn_norm.as_deref().map(norm),
                ffn_norm: norm(&l.ffn_norm),
                gate_up: Dense::upload(&[&l.gate, &l.up], device),
                down: Dense::upload(&[&l.down], device),
                post_ffw_norm: l.post_ffw_norm.as_deref().map(norm),
            })
            .collect();
        BurnDecoder {
            blocks,
            norm: norm(&w.norm),
            lm_head: Dense::upload(&[&w.output], device),
            device: device.clone(),
        }
    }

    pub fn new_cache(&self, capacity: usize) -> BurnCache {
        BurnCache {
            layers: (0..self.blocks.len()).map(|_| None).collect(),
            len: 0,
            capacity,
        }
    }

    /// Rotation tables `[1, 1, seq, head_dim]` for `x·cos + partner(x)·sin`, where the
    /// partner of each element (and its sign) follows the rotary layout.
    fn rotary(
        &self,
        c: &DecoderConfig,
        base: f32,
        factors: Option<&[f32]>,
        start: usize,
        seq: usize,
    ) -> (Tensor<4>, Tensor<4>) {
        let d = c.head_dim;
        let half = d / 2;
        let mut cos = vec![0f32; seq * d];
        let mut sin = vec![0f32; seq * d];
        for t in 0..seq {
            let p = (start + t) as f64;
            for i in 0..half {
                let f = (base as f64).powf(-2.0 * i as f64 / d as f64)
                    / factors.map_or(1.0, |ff| ff[i] as f64);
                let (s, co) = (p * f).sin_cos();
                let (a, b) = match c.rope_style {
                    RopeStyle::Pairs => (2 * i, 2 * i + 1),
                    RopeStyle::Halves => (i, i + half),
                };
                cos[t * d + a] = co as f32;
                cos[t * d + b] = co as f32;
                sin[t * d + a] = -s as f32;
                sin[t * d + b] = s as f32;
            }
        }
        let t =
            |v| Tensor::<2>::from_data(TensorData::new(v, [seq, d]), &self.device).unsqueeze::<4>();
        (t(cos), t(sin))
    }

    /// The logits of the last of `ids`, `[1, vocab]`, with the embeddings of `ids` given.
    pub fn forward(
        &self,
        c: &DecoderConfig,
        factors: Option<&[f32]>,
        x: Vec<f32>,
        seq: usize,
        cache: &mut BurnCache,
    ) -> Result<Tensor<2>> {
        let start = cache.len;
        let (h, d, heads, kv_heads) = (c.hidden_size, c.head_dim, c.num_heads, c.num_kv_heads);
        let (qd, kvd, group, total) = (c.q_dim(), c.kv_dim(), heads / kv_heads, start + seq);
        let tables = [
            self.rotary(c, c.rope_base, factors, start, seq),
            self.rotary(c, c.rope_base_local, factors, start, seq),
        ];
        // Positions a query may not see: later ones, and (sliding layers) those beyond the
        // window. Rows are grouped per key/value head: row r is query head r / seq at position
        // start + r % seq.
        let mask = |window: Option<usize>| {
            let mut m = Vec::with_capacity(group * seq * total);
            let mut any = false;
            for r in 0..group * seq {
                let pos = start + r % seq;
                let first = window.map_or(0, |w| (pos + 1).saturating_sub(w));
                m.extend((0..total).map(|j| {
                    let hidden = j > pos || j < first;
                    any |= hidden;
                    if hidden { MASKED } else { 0.0 }
                }));
            }
            any.then(|| {
                Tensor::<2>::from_data(TensorData::new(m, [group * seq, total]), &self.device)
                    .unsqueeze::<4>()
            })
        };
        let masks = [mask(None), mask(c.sliding_window)];
        let mut x =
            Tensor::<2>::from_data(TensorData::new(x, [seq, h]), &self.device).reshape([1, seq, h]);
        for (i, (block, slot)) in self.blocks.iter().zip(cache.layers.iter_mut()).enumerate() {
            let sliding = usize::from(c.is_sliding(i));
            let (cos, sin) = &tables[sliding];
            let normed = block.attn_norm.forward(x.clone());
            let mut qkv = block.qkv.forward(normed.reshape([seq, h]));
            if let Some(b) = &block.qkv_bias {
                qkv = qkv + b.clone().unsqueeze::<2>();
            }
            let heads_of = |t: Tensor<2>, n: usize| t.reshape([1, seq, n, d]);
            let mut q = heads_of(qkv.clone().narrow(1, 0, qd), heads);
            let mut k = heads_of(qkv.clone().narrow(1, qd, kvd), kv_heads);
            if let (Some(qn), Some(kn)) = (&block.q_norm, &block.k_norm) {
                q = qn.forward(q);
                k = kn.forward(k);
            }
            let q = rope(q.swap_dims(1, 2), c.rope_style, cos, sin);
            let k = rope(k.swap_dims(1, 2), c.rope_style, cos, sin);
            let v = heads_of(qkv.narrow(1, qd + kvd, kvd), kv_heads).swap_dims(1, 2);
            let (k, v) = match slot.take() {
                Some((pk, pv)) => (Tensor::cat(vec![pk, k], 2), Tensor::cat(vec![pv, v], 2)),
                None => (k, v),
            };
            *slot = Some((k.clone(), v.clone()));
            let q = q.reshape([1, kv_heads, group * seq, d]);
            let mut scores = q.matmul(k.swap_dims(2, 3)) * c.attention_scale as f64;
            if let Some(m) = &masks[sliding] {
                scores = scores + m.clone();
            }
            let context = softmax(scores, 3)
                .matmul(v)
                .reshape([1, heads, seq, d])
                .swap_dims(1, 2)
                .reshape([seq, qd]);
            let mut o = block.output.forward(context).reshape([1, seq, h]);
            if let Some(n) = &block.post_attn_norm {
                o = n.forward(o);
            }
            x = x + o;
            let normed = block.ffn_norm.forward(x.clone()).reshape([seq, h]);
            let gate_up = block.gate_up.forward(normed);
            let ff = c.intermediate_size;
            let gate = gate_up.clone().narrow(1, 0, ff);
            let gate = match c.activation {
                Activation::Silu => silu(gate),
                Activation::GeluTanh => gelu_tanh(gate),
            };
            let hidden = gate * gate_up.narrow(1, ff, ff);
            let mut down = block.down.forward(hidden).reshape([1, seq, h]);
            if let Some(n) = &block.post_ffw_norm {
                down = n.forward(down);
            }
            x = x + down;
        }
        cache.len = total;
        let last = self.norm.forward(x.narrow(1, seq - 1, 1)).reshape([1, h]);
        Ok(self.lm_head.forward(last))
    }

    /// [`BurnDecoder::forward`] read back to the CPU.
    pub async fn logits(
        &self,
        c: &DecoderConfig,
        factors: Option<&[f32]>,
        x: Vec<f32>,
        seq: usize,
        cache: &mut BurnCache,
    ) -> Result<Vec<f32>> {
        let before = cache.len;
        let t = self.forward(c, factors, x, seq, cache)?;
        let values = t
            .into_data_async()
            .await
            .map_err(|e| Error::Backend(format!("reading logits back failed: {e:?}")))
            .and_then(|d| {
                d.try_into_vec::<f32>().map_err(|e| {
                    Error::Backend(format!("logits came back in an unexpected type: {e:?}"))
                })
            });
        match values {
            Ok(v) => Ok(v),
            Err(e) => {
                cache.len = before;
                Err(e)
            }
        }
    }
}

/// `x·cos + partner(x)·sin` (the tables carry the partner's sign). With adjacent pairs the
/// partner is the other element of the pair (one flip); with halves, the other half.
fn rope(x: Tensor<4>, style: RopeStyle, cos: &Tensor<4>, sin: &Tensor<4>) -> Tensor<4> {
    let [b, n, s, d] = x.dims();
    let partner = match style {
        RopeStyle::Pairs => x
            .clone()
            .reshape([b, n, s, d / 2, 2])
            .flip([4])
            .reshape([b, n, s, d]),
        RopeStyle::Halves => x
            .clone()
            .reshape([b, n, s, 2, d / 2])
            .flip([3])
            .reshape([b, n, s, d]),
    };
    x * cos.clone() + partner * sin.clone()
}

/// GELU with the tanh approximation (ggml's `gelu`, Hugging Face's `gelu_pytorch_tanh`).
fn gelu_tanh(x: Tensor<2>) -> Tensor<2> {
    const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;
    let inner = (x.clone() + x.clone() * x.clone() * x.clone() * 0.044_715) * SQRT_2_OVER_PI;
    x * (inner.tanh() + 1.0) * 0.5
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_matrix_in_parts_multiplies_like_one() {
        let device = crate::device::cpu_device();
        let (a, b) = (
            QMatrix::from_f32(
                40,
                16,
                &(0..640).map(|i| (i % 13) as f32 - 6.0).collect::<Vec<_>>(),
            ),
            QMatrix::from_f32(
                30,
                16,
                &(0..480).map(|i| (i % 7) as f32 * 0.5).collect::<Vec<_>>(),
            ),
        );
        let x = Tensor::<2>::from_data(
            TensorData::new(
                (0..48).map(|i| i as f32 / 10.0).collect::<Vec<_>>(),
                [3, 16],
            ),
            &device,
        );
        let whole = Dense::upload_in_parts(&[&a, &b], &device, usize::MAX);
        let parts = Dense::upload_in_parts(&[&a, &b], &device, 4 * 16 * 16);
        assert_eq!((whole.parts.len(), parts.parts.len()), (1, 5));
        let want = whole
            .forward(x.clone())
            .into_data()
            .try_into_vec::<f32>()
            .unwrap();
        let got = parts.forward(x).into_data().try_into_vec::<f32>().unwrap();
        assert_eq!(got.len(), 3 * 70);
        assert_eq!(got, want);
    }
}
