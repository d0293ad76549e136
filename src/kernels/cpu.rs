//! Products of quantized weights and f32 activations on the CPU (natively and in WebAssembly),
//! reading the weights' ggml blocks directly.
//!
//! - **One row of activations** (decode): the activations are quantized once to 16-bit blocks
//!   of 32 ([`XBlock`]: a scale, the exact f32 sum, 32 × i16), and each weight block is
//!   unpacked to 32 small integers and multiplied with them as an integer dot product, scaled
//!   once per block (per 16 for Q6_K). ggml quantizes activations to 8 bits instead; we use 16
//!   because WebAssembly SIMD has no 8-bit dot product anyway (`i32x4.dot_i16x8_s` is the
//!   fastest integer dot it has), so 16 bits cost the same instructions and keep the first
//!   logits within ~1e-4 of an f64 reference where 8 bits are off by ~0.1 (measured on
//!   SmolLM2, `tests/generator.rs`). Memory traffic is the weights' own size.
//! - **Many rows** (prefill): a panel of weight rows is dequantized to f32 once and multiplied
//!   with every activation row by `gemm`, so the dequantization costs 1/rows of the product.
//! - **F32/F16/BF16 weights**: f32 dot products with the activations as they are.
//!
//! Integer sums are exact, and every f32 step is the same sequence on every target, so native
//! and wasm results are bitwise identical: the native tests check what the browser computes.

use burn::tensor::bf16;

use crate::formats::GgmlType;
use crate::formats::quant::{dequantize_block, half, scale_min_k4};

/// 32 activations quantized to 16 bits: `x ≈ d·q`, with `sum = Σx` exact (the weights'
/// minimum terms multiply it).
#[derive(Clone, Copy)]
pub struct XBlock {
    pub d: f32,
    pub sum: f32,
    pub q: [i16; 32],
}

/// Per 32: `d = max|x| / 32767`, `q = round(x / d)`.
pub fn quantize_x(x: &[f32]) -> Vec<XBlock> {
    x.chunks_exact(32)
        .map(|c| {
            let amax = c.iter().fold(0f32, |m, v| m.max(v.abs()));
            let d = amax / 32767.0;
            let id = if d != 0.0 { 1.0 / d } else { 0.0 };
            let mut q = [0i16; 32];
            for (q, &v) in q.iter_mut().zip(c) {
                *q = (v * id).round() as i16;
            }
            XBlock {
                d,
                sum: c.iter().sum(),
                q,
            }
        })
        .collect()
}

/// The activations one kind of weight row multiplies with.
pub enum Activations<'a> {
    F32(&'a [f32]),
    X16(Vec<XBlock>),
}

impl<'a> Activations<'a> {
    /// Prepares one row of activations for rows of `kind`.
    pub fn for_kind(kind: GgmlType, x: &'a [f32]) -> Self {
        match kind {
            GgmlType::F32 | GgmlType::F16 | GgmlType::BF16 => Activations::F32(x),
            _ => Activations::X16(quantize_x(x)),
        }
    }
}

/// The dot product of one weight row (whole blocks of `kind`) with prepared activations.
pub fn dot_row(kind: GgmlType, row: &[u8], x: &Activations) -> f32 {
    match (kind, x) {
        (GgmlType::F32, Activations::F32(x)) => {
            let w = row
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]));
            dot_f32(w, x)
        }
        (GgmlType::F16, Activations::F32(x)) => dot_f32(row.chunks_exact(2).map(half), x),
        (GgmlType::BF16, Activations::F32(x)) => dot_f32(
            row.chunks_exact(2)
                .map(|b| bf16::from_le_bytes([b[0], b[1]]).to_f32()),
            x,
        ),
        (GgmlType::Q4_0, Activations::X16(x)) => dot_q4_0(row, x),
        (GgmlType::Q4_1, Activations::X16(x)) => dot_q4_1(row, x),
        (GgmlType::Q5_0, Activations::X16(x)) => dot_q5(row, x, false),
        (GgmlType::Q5_1, Activations::X16(x)) => dot_q5(row, x, true),
        (GgmlType::Q8_0, Activations::X16(x)) => dot_q8_0(row, x),
        (GgmlType::Q4K, Activations::X16(x)) => dot_q45k(row, x, false),
        (GgmlType::Q5K, Activations::X16(x)) => dot_q45k(row, x, true),
        (GgmlType::Q6K, Activations::X16(x)) => dot_q6k(row, x),
        _ => unreachable!("activations prepared for another kind"),
    }
}

fn dot_f32(w: impl Iterator<Item = f32>, x: &[f32]) -> f32 {
    // Eight accumulators: a sum the compiler can keep in vector registers.
    let mut acc = [0f32; 8];
    for (i, (w, x)) in w.zip(x).enumerate() {
        acc[i % 8] += w * x;
    }
    acc.iter().sum()
}

/// `Σ w[i]·x[i]` over 16 values, exact in i32 (|w| ≤ 128, |x| ≤ 32767).
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
fn dot16(w: &[i8], x: &[i16]) -> i32 {
    use core::arch::wasm32::*;
    assert!(w.len() >= 16 && x.len() >= 16);
    // SAFETY: the assert keeps the three 16-byte loads inside the slices; v128_load has no
    // alignment requirement.
    unsafe {
        let w = v128_load(w.as_ptr() as *const v128);
        let a = i32x4_dot_i16x8(
            i16x8_extend_low_i8x16(w),
            v128_load(x.as_ptr() as *const v128),
        );
        let b = i32x4_dot_i16x8(
            i16x8_extend_high_i8x16(w),
            v128_load(x.as_ptr().add(8) as *const v128),
        );
        let s = i32x4_add(a, b);
        i32x4_extract_lane::<0>(s)
            + i32x4_extract_lane::<1>(s)
            + i32x4_extract_lane::<2>(s)
            + i32x4_extract_lane::<3>(s)
    }
}

/// `Σ w[i]·x[i]` over 16 values, exact in i32 (|w| ≤ 128, |x| ≤ 32767).
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
#[inline(always)]
fn dot16(w: &[i8], x: &[i16]) -> i32 {
    let (w, x) = (&w[..16], &x[..16]);
    let mut s = 0i32;
    for i in 0..16 {
        s += w[i] as i32 * x[i] as i32;
    }
    s
}

#[inline(always)]
fn dot32(w: &[i8; 32], x: &[i16; 32]) -> i32 {
    dot16(&w[..16], &x[..16]) + dot16(&w[16..], &x[16..])
}

/// A 4-bit block's 16 bytes as 32 values: low nibbles first, then high nibbles, minus `offset`.
#[inline(always)]
fn nibbles(qs: &[u8], offset: i8) -> [i8; 32] {
    let mut w = [0i8; 32];
    let qs = &qs[..16];
    for j in 0..16 {
        w[j] = (qs[j] & 0x0F) as i8 - offset;
        w[j + 16] = (qs[j] >> 4) as i8 - offset;
    }
    w
}

fn dot_q4_0(row: &[u8], x: &[XBlock]) -> f32 {
    let mut acc = 0f32;
    for (b, x) in row.chunks_exact(18).zip(x) {
        let w = nibbles(&b[2..18], 8);
        acc += dot32(&w, &x.q) as f32 * (half(&b[..2]) * x.d);
    }
    acc
}

fn dot_q4_1(row: &[u8], x: &[XBlock]) -> f32 {
    let mut acc = 0f32;
    for (b, x) in row.chunks_exact(20).zip(x) {
        let w = nibbles(&b[4..20], 0);
        acc += dot32(&w, &x.q) as f32 * (half(&b[..2]) * x.d) + half(&b[2..4]) * x.sum;
    }
    acc
}

fn dot_q5(row: &[u8], x: &[XBlock], with_min: bool) -> f32 {
    let size = if with_min { 24 } else { 22 };
    let offset = if with_min { 0 } else { 16 };
    let mut acc = 0f32;
    for (b, x) in row.chunks_exact(size).zip(x) {
        let rest = if with_min { &b[4..] } else { &b[2..] };
        let qh = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
        let mut w = nibbles(&rest[4..20], 0);
        for (j, w) in w.iter_mut().enumerate() {
            *w = (*w | ((((qh >> j) & 1) as i8) << 4)) - offset;
        }
        acc += dot32(&w, &x.q) as f32 * (half(&b[..2]) * x.d);
        if with_min {
            acc += half(&b[2..4]) * x.sum;
        }
    }
    acc
}

fn dot_q8_0(row: &[u8], x: &[XBlock]) -> f32 {
    let mut acc = 0f32;
    for (b, x) in row.chunks_exact(34).zip(x) {
        let w: [i8; 32] = std::array::from_fn(|i| b[2 + i] as i8);
        acc += dot32(&w, &x.q) as f32 * (half(&b[..2]) * x.d);
    }
    acc
}

/// Q4_K and Q5_K: 8 sub-blocks of 32 per 256, each with a 6-bit scale and minimum; sub-block
/// 2g is the low nibbles of bytes 32g..32g+32, 2g+1 their high nibbles (Q5_K: plus bit 2g or
/// 2g+1 of `qh[l]` as the fifth bit).
fn dot_q45k(row: &[u8], x: &[XBlock], five: bool) -> f32 {
    let size = if five { 176 } else { 144 };
    let mut acc = 0f32;
    for (b, x) in row.chunks_exact(size).zip(x.chunks_exact(8)) {
        let (d, dmin) = (half(&b[..2]), half(&b[2..4]));
        let scales = &b[4..16];
        let (qh, qs) = if five {
            (Some(&b[16..48]), &b[48..176])
        } else {
            (None, &b[16..144])
        };
        let (mut sum, mut mins) = (0f32, 0f32);
        for j in 0..8 {
            let (sc, m) = scale_min_k4(j, scales);
            let q = &qs[32 * (j / 2)..32 * (j / 2) + 32];
            let shift = 4 * (j % 2);
            let mut w: [i8; 32] = std::array::from_fn(|l| ((q[l] >> shift) & 0x0F) as i8);
            if let Some(qh) = qh {
                for (l, w) in w.iter_mut().enumerate() {
                    *w |= (((qh[l] >> j) & 1) as i8) << 4;
                }
            }
            let xj = &x[j];
            sum += (sc as f32 * xj.d) * dot32(&w, &xj.q) as f32;
            mins += m as f32 * xj.sum;
        }
        acc += d * sum - dmin * mins;
    }
    acc
}

/// Q6_K: 256 values of 6 bits (4 low in `ql`, 2 high in `qh`) minus 32, a signed 8-bit scale
/// per 16. Values 128n + 32k + l (k = 0..4, l = 0..32) come from `ql[64n + l + 32(k & 1)]`
/// (low nibble for k < 2) and bits 2k of `qh[32n + l]`.
fn dot_q6k(row: &[u8], x: &[XBlock]) -> f32 {
    let mut acc = 0f32;
    for (b, x) in row.chunks_exact(210).zip(x.chunks_exact(8)) {
        let (ql, qh, sc) = (&b[..128], &b[128..192], &b[192..208]);
        let mut sum = 0f32;
        for n in 0..2 {
            for k in 0..4 {
                let ql = &ql[64 * n + 32 * (k & 1)..][..32];
                let qh = &qh[32 * n..][..32];
                let shift = 4 * (k / 2);
                let w: [i8; 32] = std::array::from_fn(|l| {
                    (((ql[l] >> shift) & 0x0F) | (((qh[l] >> (2 * k)) & 3) << 4)) as i8 - 32
                });
                let xb = &x[4 * n + k];
                let s = &sc[8 * n + 2 * k..];
                let lo = dot16(&w[..16], &xb.q[..16]) as f32 * (s[0] as i8) as f32;
                let hi = dot16(&w[16..], &xb.q[16..]) as f32 * (s[1] as i8) as f32;
                sum += (lo + hi) * xb.d;
            }
        }
        acc += half(&b[208..210]) * sum;
    }
    acc
}

/// Dequantizes `rows` whole rows of `kind` (`cols` each) into `out`.
pub fn dequantize_rows(kind: GgmlType, bytes: &[u8], cols: usize, out: &mut [f32]) {
    let (per_block, block_bytes) = kind.block().expect("a readable type");
    let _ = cols;
    for (b, o) in bytes
        .chunks_exact(block_bytes)
        .zip(out.chunks_exact_mut(per_block))
    {
        dequantize_block(kind, b, o);
    }
}

/// `y[m × rows] = x[m × cols] · Wᵀ` for a panel of f32 weight rows `w[n × cols]`, written into
/// columns `col0..col0 + n` of `y` (row stride `ldy`).
pub fn gemm_panel(
    x: &[f32],
    m: usize,
    cols: usize,
    w: &[f32],
    n: usize,
    y: &mut [f32],
    col0: usize,
    ldy: usize,
) {
    assert!(x.len() >= m * cols && w.len() >= n * cols && y.len() >= (m - 1) * ldy + col0 + n);
    // SAFETY: the asserts above keep every access of gemm inside the slices: lhs is m × cols
    // (row stride cols), rhs is cols × n read from w with column stride cols, dst is m × n at
    // column col0 with row stride ldy.
    unsafe {
        gemm::gemm(
            m,
            n,
            cols,
            y.as_mut_ptr().add(col0),
            1,
            ldy as isize,
            false,
            x.as_ptr(),
            1,
            cols as isize,
            w.as_ptr(),
            cols as isize,
            1,
            0.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}
