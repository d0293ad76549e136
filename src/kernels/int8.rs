//! Many-row products of Q8_0/Q4_0 weights with 8-bit activations, shaped for WebAssembly's
//! relaxed SIMD `i32x4.relaxed_dot_i8x16_i7x16_add_s`: sixteen products of an i8 and a 7-bit
//! unsigned value summed four by four into an i32 accumulator, one instruction (`vpdpbusd`
//! with AVX-VNNI, `sdot` on ARM) where the 16-bit path ([`super::cpu::matmul_packed`]) needs
//! two for eight products. It is what llama.cpp's and onnxruntime's int8 kernels do natively.
//!
//! - Activations: per 32, `x ≈ d·q` with `q ∈ [-127, 127]` (`d = max|x| / 127`), and `Σq`.
//! - Weights, packed per call into 7-bit unsigned values `u = w + off` with their scale:
//!   Q4_0's nibbles as they are (`off = 8`); Q8_0's bytes requantized to `[-63, 63]`
//!   (`w7 = ⌊(127·w + 128) / 256⌉`, about `w/2`, scale `d·256/127`, `off = 64`).
//!   `Σ w·q = Σ u·q − off·Σq`, exact.
//!
//! The WebAssembly kernel exists only in the build with the feature `relaxed-simd` (a module
//! with relaxed instructions does not validate in an engine without them, so the package ships
//! it as a second module). Everywhere else [`matmul_packed8`] runs the same integer sums in
//! plain code and the same f32 steps, so the native tests check the browser's results bit for
//! bit.

use super::cpu::{PANEL_ROWS, TILE, run_tiles};
use crate::formats::GgmlType;
use crate::formats::quant::half;

/// Bytes of one packed 32-block of a panel: 8 groups of 4 positions × 2 halves × 16 bytes.
const PACKED_BLOCK: usize = 256;

/// 32 activations quantized to 8 bits.
#[derive(Clone, Copy)]
pub struct XBlock8 {
    pub d: f32,
    /// `Σq`, for the weights' offset.
    pub sum: i32,
    pub q: [i8; 32],
}

/// Per 32: `d = max|x| / 127`, `q = round(x / d)`.
pub fn quantize_x8(x: &[f32]) -> Vec<XBlock8> {
    x.chunks_exact(32)
        .map(|c| {
            let (amax, _) = super::cpu::block_stats(c);
            let d = amax / 127.0;
            let id = if d != 0.0 { 1.0 / d } else { 0.0 };
            let mut q = [0i8; 32];
            for (q, &v) in q.iter_mut().zip(c) {
                *q = super::math::round_to_int(v * id) as i8;
            }
            XBlock8 {
                d,
                sum: q.iter().map(|&v| v as i32).sum(),
                q,
            }
        })
        .collect()
}

/// Up to eight weight rows as 7-bit unsigned values for [`matmul_packed8`].
#[derive(Default)]
pub struct Packed8 {
    /// Per block `b`, group `g` (positions `4g..4g+4`), half `h`: 16 bytes, row `4h + j`'s four
    /// weights at `4j..4j+4`.
    w: Vec<u8>,
    /// Per block, the eight rows' scales (0 for rows the panel does not have).
    d: Vec<f32>,
    /// The offset added to every weight.
    off: i32,
    blocks: usize,
}

/// Packs `n ≤ 8` rows of `kind` (Q8_0 or Q4_0; `bytes`: the rows one after another).
pub fn pack_panel8(kind: GgmlType, bytes: &[u8], cols: usize, n: usize, out: &mut Packed8) {
    assert!(super::cpu::packs(kind) && n <= PANEL_ROWS && cols % 32 == 0);
    let blocks = cols / 32;
    let block_bytes = kind.block().expect("a block type").1;
    out.blocks = blocks;
    out.w.clear();
    out.w.resize(blocks * PACKED_BLOCK, 0);
    out.d.clear();
    out.d.resize(blocks * PANEL_ROWS, 0.0);
    let q8 = kind == GgmlType::Q8_0;
    out.off = if q8 { 64 } else { 8 };
    let mut vals = [0u8; 32];
    for c in 0..n {
        let row = &bytes[c * blocks * block_bytes..(c + 1) * blocks * block_bytes];
        let (h, j) = (c / 4, c % 4);
        for (b, blk) in row.chunks_exact(block_bytes).enumerate() {
            let d = half(&blk[..2]);
            // Branch-free loops over fixed-size arrays: they vectorise.
            if q8 {
                out.d[b * PANEL_ROWS + c] = d * (256.0 / 127.0);
                let q: &[u8; 32] = blk[2..34].try_into().expect("a Q8_0 block");
                for (v, &q) in vals.iter_mut().zip(q) {
                    *v = (((q as i8 as i16 * 127 + 128) >> 8) + 64) as u8;
                }
            } else {
                out.d[b * PANEL_ROWS + c] = d;
                let q: &[u8; 16] = blk[2..18].try_into().expect("a Q4_0 block");
                for i in 0..16 {
                    vals[i] = q[i] & 0x0F;
                    vals[i + 16] = q[i] >> 4;
                }
            }
            let dst: &mut [u8; PACKED_BLOCK] = (&mut out.w
                [b * PACKED_BLOCK..(b + 1) * PACKED_BLOCK])
                .try_into()
                .expect("a packed block");
            let at = h * 16 + 4 * j;
            for g in 0..8 {
                dst[at + g * 32..at + g * 32 + 4].copy_from_slice(&vals[4 * g..4 * g + 4]);
            }
        }
    }
}

/// `y[r, col0 + c] = Σ_k x[r, k] · W[c, k]` for the `n` rows of a packed panel and every row
/// `r` of the quantized activations `x` (row stride `ldy` in `y`).
pub fn matmul_packed8(
    x: &[Vec<XBlock8>],
    p: &Packed8,
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

/// One tile: `R ≤ 4` activation rows times the panel's eight rows.
#[inline(always)]
fn tile<const R: usize>(x: &[Vec<XBlock8>], p: &Packed8) -> [[f32; PANEL_ROWS]; R] {
    #[cfg(all(target_arch = "wasm32", feature = "relaxed-simd"))]
    // SAFETY: this build is only loaded where relaxed SIMD validates (the JS loader checks).
    unsafe {
        relaxed::tile(x, p)
    }
    #[cfg(not(all(target_arch = "wasm32", feature = "relaxed-simd")))]
    portable_tile(x, p)
}

/// The kernel's sums in plain code: the same integers, the same f32 operations in the same
/// order (per lane: `acc + f32(s − off·Σq) · (d_w · d_x)`, rounded after each step).
#[cfg_attr(
    all(target_arch = "wasm32", feature = "relaxed-simd"),
    allow(dead_code)
)]
fn portable_tile<const R: usize>(x: &[Vec<XBlock8>], p: &Packed8) -> [[f32; PANEL_ROWS]; R] {
    let mut acc = [[0f32; PANEL_ROWS]; R];
    for b in 0..p.blocks {
        let w = &p.w[b * PACKED_BLOCK..(b + 1) * PACKED_BLOCK];
        for r in 0..R {
            let xb = &x[r][b];
            for c in 0..PANEL_ROWS {
                let (h, j) = (c / 4, c % 4);
                let mut s = 0i32;
                for g in 0..8 {
                    for t in 0..4 {
                        s += w[g * 32 + h * 16 + 4 * j + t] as i32 * xb.q[4 * g + t] as i32;
                    }
                }
                let s = (s - p.off * xb.sum) as f32;
                acc[r][c] += s * (p.d[b * PANEL_ROWS + c] * xb.d);
            }
        }
    }
    acc
}

#[cfg(all(target_arch = "wasm32", feature = "relaxed-simd"))]
mod relaxed {
    use super::{PACKED_BLOCK, PANEL_ROWS, Packed8, XBlock8};
    use core::arch::wasm32::*;

    #[target_feature(enable = "relaxed-simd")]
    pub unsafe fn tile<const R: usize>(x: &[Vec<XBlock8>], p: &Packed8) -> [[f32; PANEL_ROWS]; R] {
        let mut acc = [[f32x4_splat(0.0); 2]; R];
        assert!(p.w.len() >= p.blocks * PACKED_BLOCK && p.d.len() >= p.blocks * PANEL_ROWS);
        for r in 0..R {
            assert!(x[r].len() >= p.blocks);
        }
        for b in 0..p.blocks {
            // SAFETY (all loads below): the asserts above keep them inside `p.w`, `p.d` and
            // each row's blocks.
            let w = unsafe { p.w.as_ptr().add(b * PACKED_BLOCK) };
            let xs: [&XBlock8; R] = std::array::from_fn(|r| unsafe { x[r].get_unchecked(b) });
            let mut s = [[i32x4_splat(0); 2]; R];
            for g in 0..8 {
                let w0 = unsafe { v128_load(w.add(g * 32) as *const v128) };
                let w1 = unsafe { v128_load(w.add(g * 32 + 16) as *const v128) };
                for r in 0..R {
                    let a = unsafe { v128_load32_splat(xs[r].q.as_ptr().add(4 * g) as *const u32) };
                    s[r][0] = i32x4_relaxed_dot_i8x16_i7x16_add(a, w0, s[r][0]);
                    s[r][1] = i32x4_relaxed_dot_i8x16_i7x16_add(a, w1, s[r][1]);
                }
            }
            let d0 = unsafe { v128_load(p.d.as_ptr().add(b * PANEL_ROWS) as *const v128) };
            let d1 = unsafe { v128_load(p.d.as_ptr().add(b * PANEL_ROWS + 4) as *const v128) };
            for r in 0..R {
                let corr = i32x4_splat(p.off * xs[r].sum);
                let dx = f32x4_splat(xs[r].d);
                let v0 = f32x4_convert_i32x4(i32x4_sub(s[r][0], corr));
                let v1 = f32x4_convert_i32x4(i32x4_sub(s[r][1], corr));
                acc[r][0] = f32x4_add(acc[r][0], f32x4_mul(v0, f32x4_mul(d0, dx)));
                acc[r][1] = f32x4_add(acc[r][1], f32x4_mul(v1, f32x4_mul(d1, dx)));
            }
        }
        let mut out = [[0f32; PANEL_ROWS]; R];
        for r in 0..R {
            // SAFETY: each row of `out` holds eight f32.
            unsafe {
                v128_store(out[r].as_mut_ptr() as *mut v128, acc[r][0]);
                v128_store(out[r].as_mut_ptr().add(4) as *mut v128, acc[r][1]);
            }
        }
        out
    }
}
