//! Products of quantized weights and f32 activations on the CPU (natively and in WebAssembly),
//! reading the weights' ggml blocks directly.
//!
//! - **One row of activations** (decode): the activations are quantized once to 16-bit blocks
//!   of 32 ([`XBlock`]: a scale, the exact f32 sum, 32 × i16), and each weight block is
//!   unpacked 16 bytes at a time to small integers (masks and shifts on vectors, as ggml's
//!   SIMD paths do) and multiplied with them as an integer dot product in four lanes, scaled
//!   once per block (per 16 for Q6_K) into four f32 lanes reduced once per row ([`super::lanes`]). ggml quantizes activations to 8 bits instead; we use 16
//!   because WebAssembly SIMD has no 8-bit dot product anyway (`i32x4.dot_i16x8_s` is the
//!   fastest integer dot it has), so 16 bits cost the same instructions and keep the first
//!   logits within ~1e-4 of an f64 reference where 8 bits are off by ~0.1 (measured on
//!   SmolLM2, `tests/generator.rs`). Memory traffic is the weights' own size.
//! - **Many rows** (prefill): a panel of weight rows is dequantized to f32 once and multiplied
//!   with every activation row by `gemm`, so the dequantization costs 1/rows of the product.
//! - **F32/F16/BF16 weights**: f32 dot products with the activations as they are.
//!
//! In the one-row products integer sums are exact and every f32 step is the same sequence on
//! every target ([`super::lanes`]), so native and wasm results are bitwise identical: the native
//! tests check what the browser computes. The many-row products are `gemm`'s, whose kernels
//! differ per target (fused multiply-adds natively), so prompt logits may differ in the last
//! bits between targets.

use burn::tensor::bf16;

use super::lanes::{B16, F4, I4, W8};
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

/// `max|x|` and `Σx` of 32 activations, in four vector lanes (the same steps on every target).
#[inline(always)]
pub(super) fn block_stats(c: &[f32]) -> (f32, f32) {
    let v: [F4; 8] = std::array::from_fn(|i| F4::load(&c[4 * i..4 * i + 4]));
    let amax = v.iter().fold(F4::zero(), |m, x| m.max(x.abs())).max_lane();
    let pairs = |a: usize| v[a].add(v[a + 1]).add(v[a + 2].add(v[a + 3]));
    (amax, pairs(0).add(pairs(4)).sum())
}

/// Per 32: `d = max|x| / 32767`, `q = round(x / d)`.
pub fn quantize_x(x: &[f32]) -> Vec<XBlock> {
    x.chunks_exact(32)
        .map(|c| {
            let (amax, sum) = block_stats(c);
            let d = amax / 32767.0;
            let id = if d != 0.0 { 1.0 / d } else { 0.0 };
            let mut q = [0i16; 32];
            for (q, &v) in q.iter_mut().zip(c) {
                *q = super::math::round_to_int(v * id) as i16;
            }
            XBlock { d, sum, q }
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

// The weight kernels: each unpacks a block's weights to 16 bytes at a time ([`B16`]), takes
// exact integer dot products with the 16-bit activations in four lanes ([`I4`]), and adds
// them, scaled, to four f32 lanes ([`F4`]) that are reduced once per row. The minimum terms
// (`m·Σx`) are summed apart and added at the end.

/// A 32-weight block as two halves of 16 bytes (values as i8) times the 32 activations.
#[inline(always)]
fn dot32(lo: B16, hi: B16, x: &[i16; 32]) -> I4 {
    lo.dot(&x[..16]).add(hi.dot(&x[16..]))
}

fn dot_q4_0(row: &[u8], x: &[XBlock]) -> f32 {
    let mut acc = F4::zero();
    for (b, x) in row.chunks_exact(18).zip(x) {
        let q = B16::load(&b[2..18]);
        let p = dot32(q.and(0x0F).sub(8), q.shr(4).sub(8), &x.q);
        acc = acc.add_scaled(p.to_f32(), half(&b[..2]) * x.d);
    }
    acc.sum()
}

fn dot_q4_1(row: &[u8], x: &[XBlock]) -> f32 {
    let (mut acc, mut mins) = (F4::zero(), 0f32);
    for (b, x) in row.chunks_exact(20).zip(x) {
        let q = B16::load(&b[4..20]);
        let p = dot32(q.and(0x0F), q.shr(4), &x.q);
        acc = acc.add_scaled(p.to_f32(), half(&b[..2]) * x.d);
        mins += half(&b[2..4]) * x.sum;
    }
    acc.sum() + mins
}

/// Q5_0 (values minus 16) and Q5_1 (a minimum): the 32 fifth bits in a u32 before the nibbles.
fn dot_q5(row: &[u8], x: &[XBlock], with_min: bool) -> f32 {
    let size = if with_min { 24 } else { 22 };
    let offset = if with_min { 0 } else { 16 };
    let (mut acc, mut mins) = (F4::zero(), 0f32);
    for (b, x) in row.chunks_exact(size).zip(x) {
        let rest = if with_min { &b[4..] } else { &b[2..] };
        let qh = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
        let q = B16::load(&rest[4..20]);
        let lo = q.and(0x0F).or(B16::bit4(qh as u16)).sub(offset);
        let hi = q.shr(4).or(B16::bit4((qh >> 16) as u16)).sub(offset);
        acc = acc.add_scaled(dot32(lo, hi, &x.q).to_f32(), half(&b[..2]) * x.d);
        if with_min {
            mins += half(&b[2..4]) * x.sum;
        }
    }
    acc.sum() + mins
}

fn dot_q8_0(row: &[u8], x: &[XBlock]) -> f32 {
    let mut acc = F4::zero();
    for (b, x) in row.chunks_exact(34).zip(x) {
        let p = dot32(B16::load(&b[2..18]), B16::load(&b[18..34]), &x.q);
        acc = acc.add_scaled(p.to_f32(), half(&b[..2]) * x.d);
    }
    acc.sum()
}

/// Q4_K and Q5_K: 8 sub-blocks of 32 per 256, each with a 6-bit scale and minimum; sub-block
/// 2g is the low nibbles of bytes 32g..32g+32, 2g+1 their high nibbles (Q5_K: plus bit 2g or
/// 2g+1 of `qh[l]` as the fifth bit).
fn dot_q45k(row: &[u8], x: &[XBlock], five: bool) -> f32 {
    let size = if five { 176 } else { 144 };
    let (mut acc, mut mins) = (F4::zero(), 0f32);
    for (b, x) in row.chunks_exact(size).zip(x.chunks_exact(8)) {
        let (d, dmin) = (half(&b[..2]), half(&b[2..4]));
        let scales = &b[4..16];
        let (qh, qs) = if five {
            (
                Some([B16::load(&b[16..32]), B16::load(&b[32..48])]),
                &b[48..176],
            )
        } else {
            (None, &b[16..144])
        };
        let (mut sum, mut m_sum) = (F4::zero(), 0f32);
        for g in 0..4 {
            let q = [B16::load(&qs[32 * g..]), B16::load(&qs[32 * g + 16..])];
            for h in 0..2 {
                let j = 2 * g + h;
                let mut w = if h == 0 {
                    [q[0].and(0x0F), q[1].and(0x0F)]
                } else {
                    [q[0].shr(4), q[1].shr(4)]
                };
                if let Some(qh) = qh {
                    let j = j as u32;
                    w = [
                        w[0].or(qh[0].shr(j).and(1).shl(4)),
                        w[1].or(qh[1].shr(j).and(1).shl(4)),
                    ];
                }
                let (sc, m) = scale_min_k4(j, scales);
                let xj = &x[j];
                sum = sum.add_scaled(dot32(w[0], w[1], &xj.q).to_f32(), sc as f32 * xj.d);
                m_sum += m as f32 * xj.sum;
            }
        }
        acc = acc.add_scaled(sum, d);
        mins += dmin * m_sum;
    }
    acc.sum() - mins
}

/// Q6_K: 256 values of 6 bits (4 low in `ql`, 2 high in `qh`) minus 32, a signed 8-bit scale
/// per 16. Values 128n + 32k + l (k = 0..4, l = 0..32) come from `ql[64n + l + 32(k & 1)]`
/// (low nibble for k < 2) and bits 2k of `qh[32n + l]`.
fn dot_q6k(row: &[u8], x: &[XBlock]) -> f32 {
    let mut acc = F4::zero();
    for (b, x) in row.chunks_exact(210).zip(x.chunks_exact(8)) {
        let (ql, qh, sc) = (&b[..128], &b[128..192], &b[192..208]);
        let mut sum = F4::zero();
        for n in 0..2 {
            let h = [B16::load(&qh[32 * n..]), B16::load(&qh[32 * n + 16..])];
            for k in 0..4 {
                let l = &ql[64 * n + 32 * (k & 1)..];
                let l = [B16::load(l), B16::load(&l[16..])];
                let shift = 4 * (k / 2) as u32;
                let w = |i: usize| {
                    l[i].shr(shift)
                        .and(0x0F)
                        .or(h[i].shr(2 * k as u32).and(3).shl(4))
                        .sub(32)
                };
                let xb = &x[4 * n + k];
                let s = &sc[8 * n + 2 * k..];
                sum = sum
                    .add_scaled(w(0).dot(&xb.q[..16]).to_f32(), s[0] as i8 as f32 * xb.d)
                    .add_scaled(w(1).dot(&xb.q[16..]).to_f32(), s[1] as i8 as f32 * xb.d);
            }
        }
        acc = acc.add_scaled(sum, half(&b[208..210]));
    }
    acc.sum()
}

// ---- Many rows of activations times 32-blocks with one scale (Q8_0, Q4_0): integer products.
//
// The activations are quantized once per row to 16 bits ([`XBlock`], as for one row). A panel
// of eight weight rows is unpacked once to i16, laid out so that one 8-lane vector holds two
// consecutive weights of four rows; the pair of activations at the same positions, repeated
// four times, times that vector gives the four rows' partial sums in four i32 lanes
// (`pmaddwd`, `i32x4.dot_i16x8_s`). A tile of four activation rows reuses every weight vector
// four times. Each block's integer sums are exact; they are scaled into f32 lanes once per block
// (weight scale × activation scale). Every step is the same on every target ([`super::lanes`]),
// so natively and in wasm the results are bitwise equal.

/// Weight rows in a packed panel: two groups of four.
pub const PANEL_ROWS: usize = 8;
/// Activation rows per tile (of both many-row kernels).
pub(super) const TILE: usize = 4;
/// i16 values of one packed 32-block of a panel: 16 pairs × 2 groups × 8 lanes.
const PACKED_BLOCK: usize = 256;

/// Whether many-row products with `kind` take the integer path.
pub fn packs(kind: GgmlType) -> bool {
    matches!(kind, GgmlType::Q8_0 | GgmlType::Q4_0)
}

/// Up to eight weight rows unpacked to i16 for [`matmul_packed`].
#[derive(Default)]
pub struct Packed {
    /// Per block `b`, pair `p`, group `g`: lanes `2j + t` hold row `4g + j`'s weight at
    /// position `32b + 2p + t`.
    w: Vec<i16>,
    /// Per block, the eight rows' scales (0 for rows the panel does not have).
    d: Vec<f32>,
    blocks: usize,
}

/// Packs `n ≤ 8` rows of `kind` (`bytes`: the rows one after another, `cols` each).
pub fn pack_panel(kind: GgmlType, bytes: &[u8], cols: usize, n: usize, out: &mut Packed) {
    assert!(packs(kind) && n <= PANEL_ROWS && cols % 32 == 0);
    let blocks = cols / 32;
    let block_bytes = kind.block().expect("a block type").1;
    out.blocks = blocks;
    out.w.clear();
    out.w.resize(blocks * PACKED_BLOCK, 0);
    out.d.clear();
    out.d.resize(blocks * PANEL_ROWS, 0.0);
    let mut vals = [0i16; 32];
    for c in 0..n {
        let row = &bytes[c * blocks * block_bytes..(c + 1) * blocks * block_bytes];
        let (g, j) = (c / 4, c % 4);
        for (b, blk) in row.chunks_exact(block_bytes).enumerate() {
            out.d[b * PANEL_ROWS + c] = half(&blk[..2]);
            // Branch-free loops over fixed-size arrays: they vectorise.
            match kind {
                GgmlType::Q8_0 => {
                    let q: &[u8; 32] = blk[2..34].try_into().expect("a Q8_0 block");
                    for (v, &q) in vals.iter_mut().zip(q) {
                        *v = q as i8 as i16;
                    }
                }
                _ => {
                    let q: &[u8; 16] = blk[2..18].try_into().expect("a Q4_0 block");
                    for i in 0..16 {
                        vals[i] = (q[i] & 0x0F) as i16 - 8;
                        vals[i + 16] = (q[i] >> 4) as i16 - 8;
                    }
                }
            }
            let dst: &mut [i16; PACKED_BLOCK] = (&mut out.w
                [b * PACKED_BLOCK..(b + 1) * PACKED_BLOCK])
                .try_into()
                .expect("a packed block");
            for p in 0..16 {
                let at = (p * 2 + g) * 8 + 2 * j;
                dst[at..at + 2].copy_from_slice(&vals[2 * p..2 * p + 2]);
            }
        }
    }
}

/// `y[r, col0 + c] = Σ_k x[r, k] · W[c, k]` for the `n` rows of a packed panel and every row
/// `r` of the quantized activations `x` (row stride `ldy` in `y`).
pub fn matmul_packed(
    x: &[Vec<XBlock>],
    p: &Packed,
    y: &mut [f32],
    ldy: usize,
    col0: usize,
    n: usize,
) {
    run_tiles(
        x,
        y,
        ldy,
        col0,
        n,
        |x| tile::<TILE>(x, p),
        |x| tile::<1>(x, p),
    );
}

/// The many-row kernels' driver: `tile4` on each group of [`TILE`] activation rows, `tile1` on
/// the rest; each gives its rows' outputs for the panel's eight rows, of which the first `n`
/// go into columns `col0..col0 + n` of `y` (row stride `ldy`).
#[inline(always)]
pub(super) fn run_tiles<X>(
    x: &[X],
    y: &mut [f32],
    ldy: usize,
    col0: usize,
    n: usize,
    tile4: impl Fn(&[X]) -> [[f32; PANEL_ROWS]; TILE],
    tile1: impl Fn(&[X]) -> [[f32; PANEL_ROWS]; 1],
) {
    let mut store = |r0: usize, rows: &[[f32; PANEL_ROWS]]| {
        for (r, out) in rows.iter().enumerate() {
            let at = (r0 + r) * ldy + col0;
            y[at..at + n].copy_from_slice(&out[..n]);
        }
    };
    let full = x.len() / TILE * TILE;
    for r0 in (0..full).step_by(TILE) {
        store(r0, &tile4(&x[r0..r0 + TILE]));
    }
    for r0 in full..x.len() {
        store(r0, &tile1(&x[r0..r0 + 1]));
    }
}

#[inline(always)]
fn tile<const R: usize>(x: &[Vec<XBlock>], p: &Packed) -> [[f32; PANEL_ROWS]; R] {
    let mut acc = [[F4::zero(); 2]; R];
    for b in 0..p.blocks {
        // Fixed-size views: the loops below then index without bounds checks.
        let w: &[i16; PACKED_BLOCK] = p.w[b * PACKED_BLOCK..(b + 1) * PACKED_BLOCK]
            .try_into()
            .expect("a whole packed block");
        let q: [&[i16; 32]; R] = std::array::from_fn(|r| &x[r][b].q);
        let mut sums = [[I4::zero(); 2]; R];
        for pair in 0..16 {
            let w0 = W8::load(&w[pair * 16..pair * 16 + 8]);
            let w1 = W8::load(&w[pair * 16 + 8..pair * 16 + 16]);
            for r in 0..R {
                let a = W8::pair(&q[r][2 * pair..2 * pair + 2]);
                sums[r][0] = sums[r][0].add(a.dot(w0));
                sums[r][1] = sums[r][1].add(a.dot(w1));
            }
        }
        let d0 = F4::load(&p.d[b * PANEL_ROWS..]);
        let d1 = F4::load(&p.d[b * PANEL_ROWS + 4..]);
        for r in 0..R {
            let dx = x[r][b].d;
            acc[r][0] = acc[r][0].add_mul(sums[r][0].to_f32(), d0.scale(dx));
            acc[r][1] = acc[r][1].add_mul(sums[r][1].to_f32(), d1.scale(dx));
        }
    }
    let mut out = [[0f32; PANEL_ROWS]; R];
    for r in 0..R {
        acc[r][0].store(&mut out[r][..4]);
        acc[r][1].store(&mut out[r][4..]);
    }
    out
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

/// `dst[m × n] = lhs[m × k] · rhs[k × n]`, the operands read in place through their element
/// strides (row, column): `lhs[i·lrs + p·lcs]`, `rhs[p·rrs + j·rcs]`; `dst` has row stride `ldd`.
/// Attention reads one head's columns of the q, k and v matrices this way, without copying them.
#[allow(clippy::too_many_arguments)]
pub fn gemm_strided(
    (m, n, k): (usize, usize, usize),
    lhs: &[f32],
    (lrs, lcs): (usize, usize),
    rhs: &[f32],
    (rrs, rcs): (usize, usize),
    dst: &mut [f32],
    ldd: usize,
) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        // An empty sum: zeros, in the m × n block only.
        for row in dst.chunks_mut(ldd).take(m) {
            row[..n].fill(0.0);
        }
        return;
    }
    assert!(
        (m - 1) * lrs + (k - 1) * lcs < lhs.len()
            && (k - 1) * rrs + (n - 1) * rcs < rhs.len()
            && (m - 1) * ldd + n <= dst.len()
    );
    // SAFETY: the assert keeps every element gemm reads or writes inside the three slices.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            ldd as isize,
            false,
            lhs.as_ptr(),
            lcs as isize,
            lrs as isize,
            rhs.as_ptr(),
            rcs as isize,
            rrs as isize,
            0.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// `y[m × rows] = x[m × cols] · Wᵀ` for a panel of f32 weight rows `w[n × cols]`, written into
/// columns `col0..col0 + n` of `y` (row stride `ldy`).
#[allow(clippy::too_many_arguments)]
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
    // Wᵀ's element (k, j) is w[j·cols + k].
    gemm_strided(
        (m, n, cols),
        x,
        (cols, 1),
        w,
        (1, cols),
        &mut y[col0..],
        ldy,
    );
}
