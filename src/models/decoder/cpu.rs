//! The forward pass on the CPU, in f32 with the weights in their blocks (`crate::kernels`): a
//! preallocated key/value cache, grouped-query attention with optional sliding windows, rotary
//! embedding in either layout, RMSNorm and the gated feed-forward block.

use super::config::{Activation, DecoderConfig, RopeStyle};
use super::weights::{DecoderWeights, Layer};
use crate::error::{Error, Result};
use crate::kernels::QMatrix;

/// Keys and values of the positions seen so far, per layer `[capacity, kv_dim]`, allocated
/// once for the whole generation.
pub struct KvCache {
    k: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
    len: usize,
    capacity: usize,
}

impl KvCache {
    pub fn new(config: &DecoderConfig, capacity: usize) -> Self {
        let size = capacity * config.kv_dim();
        KvCache {
            k: (0..config.num_layers).map(|_| vec![0f32; size]).collect(),
            v: (0..config.num_layers).map(|_| vec![0f32; size]).collect(),
            len: 0,
            capacity,
        }
    }

    /// Positions in the cache.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        4 * (self.k.iter().chain(&self.v).map(Vec::len).sum::<usize>())
    }
}

/// `x / √(mean(x²) + ε) · w`, row by row (`w.len()` values per row).
fn rms_norm(x: &mut [f32], w: &[f32], eps: f32) {
    for row in x.chunks_exact_mut(w.len()) {
        let mean = row.iter().map(|v| v * v).sum::<f32>() / w.len() as f32;
        let scale = 1.0 / (mean + eps).sqrt();
        for (v, g) in row.iter_mut().zip(w) {
            *v = *v * scale * g;
        }
    }
}

fn rms_normed(x: &[f32], w: &[f32], eps: f32) -> Vec<f32> {
    let mut out = x.to_vec();
    rms_norm(&mut out, w, eps);
    out
}

fn add_bias(x: &mut [f32], bias: &Option<Vec<f32>>) {
    if let Some(b) = bias {
        for row in x.chunks_exact_mut(b.len()) {
            for (v, b) in row.iter_mut().zip(b) {
                *v += b;
            }
        }
    }
}

fn gelu_tanh(x: f32) -> f32 {
    const SQRT_2_OVER_PI: f32 = 0.797_884_6;
    0.5 * x * (1.0 + (SQRT_2_OVER_PI * (x + 0.044_715 * x * x * x)).tanh())
}

fn silu(x: f32) -> f32 {
    x / (1.0 + (-x).exp())
}

/// Rotation tables of positions `start..start + seq` for a base: `(cos, sin)`, each
/// `[seq, head_dim / 2]`.
pub(super) fn rope_table(
    base: f32,
    head_dim: usize,
    factors: Option<&[f32]>,
    start: usize,
    seq: usize,
) -> (Vec<f32>, Vec<f32>) {
    let half = head_dim / 2;
    let inv: Vec<f64> = (0..half)
        .map(|i| {
            let f = (base as f64).powf(-2.0 * i as f64 / head_dim as f64);
            f / factors.map_or(1.0, |ff| ff[i] as f64)
        })
        .collect();
    let mut cos = Vec::with_capacity(seq * half);
    let mut sin = Vec::with_capacity(seq * half);
    for p in start..start + seq {
        for f in &inv {
            let (s, c) = (p as f64 * f).sin_cos();
            cos.push(c as f32);
            sin.push(s as f32);
        }
    }
    (cos, sin)
}

/// Rotates every head of every position of `x` (`[seq, heads · head_dim]`).
fn rope(x: &mut [f32], head_dim: usize, style: RopeStyle, cos: &[f32], sin: &[f32]) {
    let half = head_dim / 2;
    let seq = cos.len() / half;
    let per_pos = x.len() / seq;
    for (t, pos) in x.chunks_exact_mut(per_pos).enumerate() {
        let (c, s) = (&cos[t * half..][..half], &sin[t * half..][..half]);
        for head in pos.chunks_exact_mut(head_dim) {
            for i in 0..half {
                let (a, b) = match style {
                    RopeStyle::Pairs => (2 * i, 2 * i + 1),
                    RopeStyle::Halves => (i, i + half),
                };
                let (x0, x1) = (head[a], head[b]);
                head[a] = x0 * c[i] - x1 * s[i];
                head[b] = x1 * c[i] + x0 * s[i];
            }
        }
    }
}

/// One layer's products with one shared preparation of the activations per weight type.
fn project(m: &QMatrix, x: &[f32], rows_in: usize) -> Vec<f32> {
    let mut y = vec![0f32; rows_in * m.rows()];
    m.matmul(x, rows_in, &mut y);
    y
}

/// The embeddings of `ids`, scaled as the model wants: `[seq, hidden]`.
pub(super) fn embed(c: &DecoderConfig, w: &DecoderWeights, ids: &[u32]) -> Result<Vec<f32>> {
    let mut x = Vec::with_capacity(ids.len() * c.hidden_size);
    for &id in ids {
        if id as usize >= c.vocab_size {
            return Err(Error::Tokenizer(format!(
                "token id {id} is outside the model's vocabulary of {}",
                c.vocab_size
            )));
        }
        let row = w.tokens.row_f32(id as usize);
        match c.embedding_scale {
            Some(s) => x.extend(row.iter().map(|v| v * s)),
            None => x.extend(row),
        }
    }
    Ok(x)
}

/// The decoder on the CPU.
pub struct CpuDecoder<'a> {
    pub config: &'a DecoderConfig,
    pub weights: &'a DecoderWeights,
}

impl CpuDecoder<'_> {
    /// Attention of `seq` queries at positions `start..` over the cache (already holding
    /// their keys and values): `[seq, q_dim]`.
    fn attention(
        &self,
        q: &[f32],
        cache: &KvCache,
        layer: usize,
        start: usize,
        seq: usize,
    ) -> Vec<f32> {
        let c = self.config;
        let (hd, heads, kvd) = (c.head_dim, c.num_heads, c.kv_dim());
        let group = heads / c.num_kv_heads;
        let window = c
            .is_sliding(layer)
            .then(|| c.sliding_window.expect("sliding"));
        let (keys, values) = (&cache.k[layer], &cache.v[layer]);
        let mut out = vec![0f32; seq * c.q_dim()];
        // One query position: all its heads into `out` (`q_dim` values).
        let position = |t: usize, out: &mut [f32]| {
            let mut scores = Vec::new();
            let pos = start + t;
            let first = window.map_or(0, |w| (pos + 1).saturating_sub(w));
            for h in 0..heads {
                let kvh = h / group;
                let qh = &q[t * c.q_dim() + h * hd..][..hd];
                scores.clear();
                let mut max = f32::NEG_INFINITY;
                for j in first..=pos {
                    let k = &keys[j * kvd + kvh * hd..][..hd];
                    let s = crate::util::dot(qh, k) * c.attention_scale;
                    max = max.max(s);
                    scores.push(s);
                }
                let mut sum = 0f32;
                for s in scores.iter_mut() {
                    *s = (*s - max).exp();
                    sum += *s;
                }
                let o = &mut out[h * hd..][..hd];
                for (j, p) in (first..=pos).zip(&scores) {
                    let v = &values[j * kvd + kvh * hd..][..hd];
                    let w = p / sum;
                    for (o, v) in o.iter_mut().zip(v) {
                        *o += w * v;
                    }
                }
            }
        };
        // With threads (natively, the threaded wasm module) the positions of a prompt are shared.
        #[cfg(parallel)]
        {
            use rayon::prelude::*;
            out.par_chunks_mut(c.q_dim())
                .enumerate()
                .for_each(|(t, o)| {
                    crate::kernels::note_task();
                    position(t, o)
                });
        }
        #[cfg(not(parallel))]
        for (t, o) in out.chunks_exact_mut(c.q_dim()).enumerate() {
            position(t, o);
        }
        out
    }

    fn layer(
        &self,
        i: usize,
        l: &Layer,
        x: &mut [f32],
        cache: &mut KvCache,
        start: usize,
        seq: usize,
        tables: &[(Vec<f32>, Vec<f32>); 2],
    ) {
        let c = self.config;
        let (hd, kvd) = (c.head_dim, c.kv_dim());
        let normed = rms_normed(x, &l.attn_norm, c.rms_eps);
        let mut q = project(&l.q, &normed, seq);
        let mut k = project(&l.k, &normed, seq);
        let mut v = project(&l.v, &normed, seq);
        add_bias(&mut q, &l.q_bias);
        add_bias(&mut k, &l.k_bias);
        add_bias(&mut v, &l.v_bias);
        if let (Some(qn), Some(kn)) = (&l.q_norm, &l.k_norm) {
            rms_norm(&mut q, qn, c.rms_eps);
            rms_norm(&mut k, kn, c.rms_eps);
        }
        let (cos, sin) = &tables[usize::from(c.is_sliding(i))];
        rope(&mut q, hd, c.rope_style, cos, sin);
        rope(&mut k, hd, c.rope_style, cos, sin);
        cache.k[i][start * kvd..(start + seq) * kvd].copy_from_slice(&k);
        cache.v[i][start * kvd..(start + seq) * kvd].copy_from_slice(&v);
        let attended = self.attention(&q, cache, i, start, seq);
        let mut o = project(&l.o, &attended, seq);
        if let Some(n) = &l.post_attn_norm {
            rms_norm(&mut o, n, c.rms_eps);
        }
        for (x, o) in x.iter_mut().zip(&o) {
            *x += o;
        }
        let normed = rms_normed(x, &l.ffn_norm, c.rms_eps);
        let gate = project(&l.gate, &normed, seq);
        let mut hidden = project(&l.up, &normed, seq);
        let act = match c.activation {
            Activation::Silu => silu,
            Activation::GeluTanh => gelu_tanh,
        };
        for (u, g) in hidden.iter_mut().zip(&gate) {
            *u *= act(*g);
        }
        let mut down = project(&l.down, &hidden, seq);
        if let Some(n) = &l.post_ffw_norm {
            rms_norm(&mut down, n, c.rms_eps);
        }
        for (x, d) in x.iter_mut().zip(&down) {
            *x += d;
        }
    }

    /// Runs `ids` (the next positions of the sequence in `cache`) and returns the last one's
    /// logits. Fails when they would not fit in the cache.
    ///
    /// With threads the pass runs whole on the pool; on a page's main thread the caller awaits
    /// it instead of spinning.
    pub async fn logits(&self, ids: &[u32], cache: &mut KvCache) -> Result<Vec<f32>> {
        crate::kernels::pool::on_pool_async(|| self.logits_here(ids, cache)).await
    }

    fn logits_here(&self, ids: &[u32], cache: &mut KvCache) -> Result<Vec<f32>> {
        let c = self.config;
        let seq = ids.len();
        if seq == 0 {
            return Err(Error::Input("no tokens to run".into()));
        }
        let start = cache.len;
        if start + seq > cache.capacity {
            return Err(Error::Input(format!(
                "{} positions exceed the {} the generation reserved",
                start + seq,
                cache.capacity
            )));
        }
        let mut x = embed(c, self.weights, ids)?;
        let factors = self.weights.rope_factors.as_deref();
        let tables = [
            rope_table(c.rope_base, c.head_dim, factors, start, seq),
            rope_table(c.rope_base_local, c.head_dim, factors, start, seq),
        ];
        for (i, l) in self.weights.layers.iter().enumerate() {
            self.layer(i, l, &mut x, cache, start, seq, &tables);
        }
        cache.len = start + seq;
        let last = rms_normed(
            &x[(seq - 1) * c.hidden_size..],
            &self.weights.norm,
            c.rms_eps,
        );
        let mut logits = vec![0f32; c.vocab_size];
        self.weights.output.matvec(&last, &mut logits);
        Ok(logits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rope_styles_rotate_their_pairs() {
        // One head of 4 at position 1 with base 1: θ = 1 for pair 0 and 1^(-1/2) = 1 for pair 1.
        let (cos, sin) = rope_table(1.0, 4, None, 1, 1);
        let (c, s) = (1f32.cos(), 1f32.sin());
        let mut x = [1.0, 0.0, 0.0, 0.0];
        rope(&mut x, 4, RopeStyle::Pairs, &cos, &sin);
        assert!((x[0] - c).abs() < 1e-6 && (x[1] - s).abs() < 1e-6 && x[2] == 0.0);
        let mut x = [1.0, 0.0, 0.0, 0.0];
        rope(&mut x, 4, RopeStyle::Halves, &cos, &sin);
        assert!((x[0] - c).abs() < 1e-6 && (x[2] - s).abs() < 1e-6 && x[1] == 0.0);
    }

    #[test]
    fn norms_and_activations_follow_their_formulas() {
        let mut x = [3.0, 4.0];
        rms_norm(&mut x, &[1.0, 2.0], 0.0);
        let r = (12.5f32).sqrt();
        assert!((x[0] - 3.0 / r).abs() < 1e-6 && (x[1] - 8.0 / r).abs() < 1e-6);
        assert!((silu(1.0) - 0.731_058_6).abs() < 1e-6);
        assert!((gelu_tanh(1.0) - 0.841_192).abs() < 1e-5);
    }
}
