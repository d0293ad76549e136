//! Elementwise functions for the CPU kernels, written so that a loop applying them to a slice
//! vectorises (no branches, no library calls): in wasm, `f32::exp` is a call into a software
//! `expf` per value, and the encoder's softmax and GELU take about 2.4 million of them per
//! 128-token chunk of all-MiniLM-L6-v2. Each is the same sequence of IEEE operations on every
//! target, so native results still equal the browser's.

/// `eˣ` to within 2 ulp for `x` in [-87, 88] (below: ~1e-38 rather than 0, which no sum of
/// exponentials here can tell apart; above: clamped). Cody–Waite reduction `x = n·ln2 + r`,
/// `|r| ≤ ln2/2`, Cephes' degree-6 polynomial for `eʳ`, and `2ⁿ` built from its exponent bits.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Rounds to the nearest integer by adding and subtracting 1.5·2²³ (exact for |v| < 2²²).
    const MAGIC: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let n = (x * LOG2E + MAGIC) - MAGIC;
    let r = (x - n * LN2_HI) - n * LN2_LO;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 1.666_666_5e-1)
        * r
        + 5.000_000_1e-1;
    let e = p * (r * r) + r + 1.0;
    e * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

/// `v` rounded to the nearest integer (ties to even), for `|v| < 2²²`. Adding 1.5·2²³ leaves the
/// integer in the low bits of the sum's mantissa, read off as an integer: no float-to-int
/// conversion (a saturating one in Rust, several instructions in wasm that kept the activation
/// quantization from vectorising: 13 % of an embedding in Chromium's profile) and no libm
/// `round` call.
#[inline(always)]
pub fn round_to_int(v: f32) -> i32 {
    const MAGIC: f32 = 12_582_912.0;
    (v + MAGIC).to_bits() as i32 - MAGIC.to_bits() as i32
}

/// Σx in eight lanes, added pairwise at the end: the compiler keeps the lanes in vector
/// registers, where a plain `iter().sum()` is one serial chain of scalar additions.
#[inline(always)]
pub fn sum(x: &[f32]) -> f32 {
    sum_by(x, |v| v)
}

/// Σf(x), as [`sum`].
#[inline(always)]
pub fn sum_by(x: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut acc = [0f32; 8];
    let chunks = x.chunks_exact(8);
    let rest: f32 = chunks.remainder().iter().map(|&v| f(v)).sum();
    for c in chunks {
        for j in 0..8 {
            acc[j] += f(c[j]);
        }
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + rest
}

/// The largest of `f(x)` over `x` (`-∞` when empty; `f` without NaNs), in eight lanes.
#[inline(always)]
pub fn max_by(x: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut acc = [f32::NEG_INFINITY; 8];
    let chunks = x.chunks_exact(8);
    let mut best = f32::NEG_INFINITY;
    for &v in chunks.remainder() {
        let v = f(v);
        best = if v > best { v } else { best };
    }
    for c in chunks {
        for j in 0..8 {
            let v = f(c[j]);
            acc[j] = if v > acc[j] { v } else { acc[j] };
        }
    }
    acc.iter().fold(best, |m, &v| if v > m { v } else { m })
}

#[cfg(test)]
mod tests {
    #[test]
    fn rounds_to_the_nearest_integer_ties_to_even() {
        for (v, want) in [
            (0.0, 0),
            (0.4, 0),
            (0.5, 0),
            (1.5, 2),
            (-1.5, -2),
            (-0.6, -1),
            (32767.0, 32767),
            (-32767.2, -32767),
            (2.5, 2),
        ] {
            assert_eq!(super::round_to_int(v), want, "{v}");
        }
        for i in -40000..40000 {
            let v = i as f32 * 0.37;
            assert_eq!(super::round_to_int(v), v.round_ties_even() as i32, "{v}");
        }
    }

    #[test]
    fn lane_sums_and_maxima() {
        let x: Vec<f32> = (0..37).map(|i| ((i * 13) % 17) as f32 - 8.0).collect();
        let want: f32 = x.iter().sum();
        assert_eq!(super::sum(&x), want); // small integers: exact in any order
        assert_eq!(super::max_by(&x, |v| v), 8.0);
        assert_eq!(super::max_by(&x, f32::abs), 8.0);
        assert_eq!(super::max_by(&x[..3], |v| -v), 8.0);
        assert_eq!(super::max_by(&[], |v| v), f32::NEG_INFINITY);
        assert_eq!(super::sum(&[]), 0.0);
    }

    #[test]
    fn exp_is_within_2_ulp_of_f64() {
        let mut worst = 0f64;
        let mut x = -87.0f32;
        while x <= 88.0 {
            let want = (x as f64).exp();
            let got = super::exp(x) as f64;
            // In units of the f32 spacing at `want`.
            let ulp = (want as f32).abs().next_up() as f64 - (want as f32).abs() as f64;
            worst = worst.max((got - want).abs() / ulp);
            x += 0.000_73;
        }
        assert!(worst <= 2.0, "{worst} ulp");
        assert_eq!(super::exp(0.0), 1.0);
        assert!(super::exp(-1000.0) < 1e-37 && super::exp(-1000.0) >= 0.0);
        assert!(super::exp(1000.0).is_finite());
    }
}
