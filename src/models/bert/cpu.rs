//! The encoder on the CPU with its matrices in their blocks (the generator's kernels,
//! `crate::kernels`): natively on threads, single-threaded in wasm.
//!
//! Texts are packed one after another without padding: each attends only to its own tokens,
//! and positions restart at 0 for each. Memory stays proportional to the tokens of one call
//! (activations of `tokens × intermediate` floats, and one `len × len` score matrix per head).

use super::BertConfig;
use super::weights::{BertWeights, Linear, Norm};
use crate::kernels::cpu::gemm_strided;
use crate::kernels::for_each_row;
use crate::kernels::math::{self, exp};

/// LayerNorm of each `dim`-long row of `x` in place, after adding `residual` when given.
fn layer_norm(x: &mut [f32], residual: Option<&[f32]>, norm: &Norm, eps: f32) {
    let dim = norm.weight.len();
    for_each_row(x, dim, |t, row| {
        if let Some(r) = residual {
            for (a, b) in row.iter_mut().zip(&r[t * dim..(t + 1) * dim]) {
                *a += b;
            }
        }
        let mean = math::sum(row) / dim as f32;
        let var = math::sum_by(row, |v| (v - mean) * (v - mean)) / dim as f32;
        let inv = 1.0 / (var + eps).sqrt();
        for ((v, w), b) in row.iter_mut().zip(&norm.weight).zip(&norm.bias) {
            *v = (*v - mean) * inv * w + b;
        }
    });
}

/// `x·Wᵀ + b` for `m` rows of `x`.
fn linear(l: &Linear, x: &[f32], m: usize) -> Vec<f32> {
    let rows = l.weight.rows();
    let mut y = vec![0f32; m * rows];
    l.weight.matmul(x, m, &mut y);
    for_each_row(&mut y, rows, |_, row| {
        for (v, b) in row.iter_mut().zip(&l.bias) {
            *v += b;
        }
    });
    y
}

/// Exact GELU, `x·Φ(x)` with the error function.
fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// The error function by Abramowitz & Stegun 7.1.26 (absolute error 1.5e-7 in exact arithmetic,
/// 4.3e-7 measured in f32 against libm): one `exp` and a polynomial, where libm's `erff` took 13 % of an embedding
/// (perf, all-MiniLM-L6-v2 Q8_0). The WGSL kernel computes the same. Branch-free with the
/// kernels' `exp`, so GELU over a row vectorises.
fn erf(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let poly = t
        * (0.254_829_6
            + t * (-0.284_496_72 + t * (1.421_413_8 + t * (-1.453_152 + t * 1.061_405_4))));
    let y = 1.0 - poly * exp(-a * a);
    y.copysign(x)
}

fn gelu_tanh(x: f32) -> f32 {
    const C: f32 = 0.797_884_6; // sqrt(2/π)
    0.5 * x * (1.0 + (C * (x + 0.044_715 * x * x * x)).tanh())
}

/// One head of one text: `softmax(q·kᵀ·scale)·v`, written into `out` (`len × head_dim`). The
/// head's columns of q, k and v are read in place (strided), not gathered.
fn attend_head(
    qkv: [&[f32]; 3],
    hidden: usize,
    span: (usize, usize),
    head: usize,
    head_dim: usize,
    out: &mut [f32],
) {
    let (start, end) = span;
    let len = end - start;
    let at = start * hidden + head * head_dim;
    let [q, k, v] = qkv.map(|m| &m[at..]);
    let mut scores = vec![0f32; len * len];
    // scores = q·kᵀ: kᵀ's element (d, t) is k[t·hidden + d].
    gemm_strided(
        (len, len, head_dim),
        q,
        (hidden, 1),
        k,
        (1, hidden),
        &mut scores,
        len,
    );
    let scale = 1.0 / (head_dim as f32).sqrt();
    for row in scores.chunks_exact_mut(len) {
        let max = math::max_by(row, |v| v) * scale;
        // Exponentials first, then their sum: each loop vectorises.
        for v in row.iter_mut() {
            *v = math::exp(*v * scale - max);
        }
        let inv = 1.0 / math::sum(row);
        for v in row.iter_mut() {
            *v *= inv;
        }
    }
    gemm_strided(
        (len, head_dim, len),
        &scores,
        (len, 1),
        v,
        (hidden, 1),
        out,
        head_dim,
    );
}

/// Self-attention of every text over its own tokens: the context vectors, `tokens × hidden`.
fn attention(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    c: &BertConfig,
    spans: &[(usize, usize)],
) -> Vec<f32> {
    let (hidden, heads, head_dim) = (c.hidden_size, c.num_attention_heads, c.head_dim());
    let tasks: Vec<((usize, usize), usize)> = spans
        .iter()
        .flat_map(|&s| (0..heads).map(move |h| (s, h)))
        .collect();
    let run = |&(span, head): &((usize, usize), usize)| {
        let mut out = vec![0f32; (span.1 - span.0) * head_dim];
        attend_head([q, k, v], hidden, span, head, head_dim, &mut out);
        out
    };
    #[cfg(parallel)]
    let parts: Vec<Vec<f32>> = {
        use rayon::prelude::*;
        tasks
            .par_iter()
            .map(|t| {
                crate::kernels::note_task();
                run(t)
            })
            .collect()
    };
    #[cfg(not(parallel))]
    let parts: Vec<Vec<f32>> = tasks.iter().map(run).collect();
    let total = spans.last().map_or(0, |s| s.1);
    let mut ctx = vec![0f32; total * hidden];
    for (&((start, end), head), part) in tasks.iter().zip(parts) {
        for t in start..end {
            let row = &part[(t - start) * head_dim..(t - start + 1) * head_dim];
            ctx[t * hidden + head * head_dim..t * hidden + (head + 1) * head_dim]
                .copy_from_slice(row);
        }
    }
    ctx
}

/// The last hidden state of packed texts: `ids` holds the texts' tokens one after another,
/// `spans` each text's `[start, end)` in it (in order, covering `ids`). Returns
/// `ids.len() × hidden` floats. The caller has checked ids and lengths
/// (`BertConfig::check_input`).
///
/// Runs on the calling thread: with threads the embedder hands its passes to the pool
/// (`kernels::pool::on_pool_async`), and the products inside split among the pool's threads.
pub fn forward(c: &BertConfig, w: &BertWeights, ids: &[u32], spans: &[(usize, usize)]) -> Vec<f32> {
    let n = ids.len();
    let eps = c.layer_norm_eps as f32;
    let mut x = embeddings(c, w, ids, spans);
    for l in &w.layers {
        let q = linear(&l.q, &x, n);
        let k = linear(&l.k, &x, n);
        let v = linear(&l.v, &x, n);
        let ctx = attention(&q, &k, &v, c, spans);
        drop((q, k, v));
        let mut attended = linear(&l.o, &ctx, n);
        drop(ctx);
        layer_norm(&mut attended, Some(&x), &l.attn_norm, eps);
        x = attended;
        let mut mid = linear(&l.up, &x, n);
        for_each_row(&mut mid, c.intermediate_size, |_, row| match c.activation {
            super::Activation::Gelu => row.iter_mut().for_each(|v| *v = gelu(*v)),
            super::Activation::GeluTanh => row.iter_mut().for_each(|v| *v = gelu_tanh(*v)),
            super::Activation::Relu => row.iter_mut().for_each(|v| *v = v.max(0.0)),
        });
        let mut out = linear(&l.down, &mid, n);
        drop(mid);
        layer_norm(&mut out, Some(&x), &l.out_norm, eps);
        x = out;
    }
    x
}

/// The encoder's input for packed texts: token, position (from 0 in each text) and type-0
/// rows, summed and normalised (`ids.len() × hidden`). The GPU engine starts from it too.
pub fn embeddings(
    c: &BertConfig,
    w: &BertWeights,
    ids: &[u32],
    spans: &[(usize, usize)],
) -> Vec<f32> {
    let h = c.hidden_size;
    let n = ids.len();
    let mut x = vec![0f32; n * h];
    let mut row = vec![0f32; h];
    let mut pos = vec![0f32; h];
    for &(start, end) in spans {
        for t in start..end {
            crate::kernels::cpu::dequantize_rows(
                w.tokens.kind(),
                w.tokens.row(ids[t] as usize),
                h,
                &mut row,
            );
            crate::kernels::cpu::dequantize_rows(
                w.positions.kind(),
                w.positions.row(t - start),
                h,
                &mut pos,
            );
            for (i, out) in x[t * h..(t + 1) * h].iter_mut().enumerate() {
                *out = row[i] + pos[i] + w.token_type[i];
            }
        }
    }
    layer_norm(&mut x, None, &w.embed_norm, c.layer_norm_eps as f32);
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_is_within_5e_7_of_libm() {
        let mut worst = 0f32;
        for i in -6000..=6000 {
            let x = i as f32 / 1000.0;
            worst = worst.max((erf(x) - libm::erff(x)).abs());
        }
        assert!(worst < 5e-7, "{worst}");
    }

    #[test]
    fn gelu_matches_known_values() {
        // Φ(1) = 0.841344746, Φ(-1) = 0.158655254.
        assert!((gelu(1.0) - 0.841_344_75).abs() < 1e-6);
        assert!((gelu(-1.0) + 0.158_655_25).abs() < 1e-6);
        assert_eq!(gelu(0.0), 0.0);
        assert!((gelu_tanh(1.0) - 0.841_192).abs() < 1e-5);
    }
}
