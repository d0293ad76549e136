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

#[cfg(test)]
mod tests {
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
