//! ggml's block formats: which types there are, how many bytes a block of each takes, and how
//! a block turns back into f32 values (ggml's reference formulas, `ggml-quants.c`).
//!
//! | type | block | bytes | layout | value |
//! |---|---:|---:|---|---|
//! | F32, F16, BF16 | 1 | 4, 2, 2 | | |
//! | Q4_0 | 32 | 18 | `d: f16, qs[16]` | `d·(q − 8)` |
//! | Q4_1 | 32 | 20 | `d, m: f16, qs[16]` | `d·q + m` |
//! | Q5_0 | 32 | 22 | `d: f16, qh: u32, qs[16]` | `d·(q − 16)`, 5th bit from `qh` |
//! | Q5_1 | 32 | 24 | `d, m: f16, qh: u32, qs[16]` | `d·q + m` |
//! | Q8_0 | 32 | 34 | `d: f16, qs: [i8; 32]` | `d·q` |
//! | Q4_K | 256 | 144 | `d, dmin: f16, scales[12], qs[128]` | 8 sub-blocks of 32: `d·sc·q − dmin·m` (6-bit sc, m) |
//! | Q5_K | 256 | 176 | `d, dmin: f16, scales[12], qh[32], qs[128]` | as Q4_K with a 5th bit |
//! | Q6_K | 256 | 210 | `ql[128], qh[64], scales: [i8; 16], d: f16` | 16 sub-blocks of 16: `d·sc·(q − 32)` |
//!
//! In the 32-element 4- and 5-bit types byte `j` holds element `j` in its low nibble and element
//! `j + 16` in its high nibble.

use burn::tensor::bf16;

use super::gguf::format_err;
use crate::error::{Error, Result};

/// Elements of a k-quant super-block.
pub const QK_K: usize = 256;

/// ggml's tensor element types. Those without a block size here cannot be read; they are named
/// in errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GgmlType {
    F32,
    F16,
    BF16,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    Q4K,
    Q5K,
    Q6K,
    /// Any other type, by its ggml number.
    Other(u32),
}

/// ggml's numbers and names of every type, readable or not.
const NAMES: &[(u32, &str)] = &[
    (0, "F32"),
    (1, "F16"),
    (2, "Q4_0"),
    (3, "Q4_1"),
    (6, "Q5_0"),
    (7, "Q5_1"),
    (8, "Q8_0"),
    (9, "Q8_1"),
    (10, "Q2_K"),
    (11, "Q3_K"),
    (12, "Q4_K"),
    (13, "Q5_K"),
    (14, "Q6_K"),
    (15, "Q8_K"),
    (16, "IQ2_XXS"),
    (17, "IQ2_XS"),
    (18, "IQ3_XXS"),
    (19, "IQ1_S"),
    (20, "IQ4_NL"),
    (21, "IQ3_S"),
    (22, "IQ2_S"),
    (23, "IQ4_XS"),
    (24, "I8"),
    (25, "I16"),
    (26, "I32"),
    (27, "I64"),
    (28, "F64"),
    (29, "IQ1_M"),
    (30, "BF16"),
    (34, "TQ1_0"),
    (35, "TQ2_0"),
    (39, "MXFP4"),
];

impl GgmlType {
    /// Every type this crate reads.
    pub const READABLE: [GgmlType; 11] = [
        GgmlType::F32,
        GgmlType::F16,
        GgmlType::BF16,
        GgmlType::Q4_0,
        GgmlType::Q4_1,
        GgmlType::Q5_0,
        GgmlType::Q5_1,
        GgmlType::Q8_0,
        GgmlType::Q4K,
        GgmlType::Q5K,
        GgmlType::Q6K,
    ];

    pub fn from_u32(v: u32) -> Self {
        match v {
            0 => GgmlType::F32,
            1 => GgmlType::F16,
            30 => GgmlType::BF16,
            2 => GgmlType::Q4_0,
            3 => GgmlType::Q4_1,
            6 => GgmlType::Q5_0,
            7 => GgmlType::Q5_1,
            8 => GgmlType::Q8_0,
            12 => GgmlType::Q4K,
            13 => GgmlType::Q5K,
            14 => GgmlType::Q6K,
            other => GgmlType::Other(other),
        }
    }

    /// ggml's number for the type.
    pub fn id(self) -> u32 {
        match self {
            GgmlType::F32 => 0,
            GgmlType::F16 => 1,
            GgmlType::BF16 => 30,
            GgmlType::Q4_0 => 2,
            GgmlType::Q4_1 => 3,
            GgmlType::Q5_0 => 6,
            GgmlType::Q5_1 => 7,
            GgmlType::Q8_0 => 8,
            GgmlType::Q4K => 12,
            GgmlType::Q5K => 13,
            GgmlType::Q6K => 14,
            GgmlType::Other(n) => n,
        }
    }

    /// ggml's name for the type.
    pub fn name(self) -> String {
        let id = self.id();
        NAMES
            .iter()
            .find(|(n, _)| *n == id)
            .map_or_else(|| format!("type {id}"), |(_, name)| name.to_string())
    }

    /// `(elements per block, bytes per block)` for the types this crate reads.
    pub fn block(self) -> Option<(usize, usize)> {
        match self {
            GgmlType::F32 => Some((1, 4)),
            GgmlType::F16 | GgmlType::BF16 => Some((1, 2)),
            GgmlType::Q4_0 => Some((32, 18)),
            GgmlType::Q4_1 => Some((32, 20)),
            GgmlType::Q5_0 => Some((32, 22)),
            GgmlType::Q5_1 => Some((32, 24)),
            GgmlType::Q8_0 => Some((32, 34)),
            GgmlType::Q4K => Some((QK_K, 144)),
            GgmlType::Q5K => Some((QK_K, 176)),
            GgmlType::Q6K => Some((QK_K, 210)),
            GgmlType::Other(_) => None,
        }
    }

    /// Bytes of a row of `cols` elements (`cols` a multiple of the block size).
    pub fn row_bytes(self, cols: usize) -> Option<usize> {
        let (per_block, block_bytes) = self.block()?;
        (cols % per_block == 0).then_some(cols / per_block * block_bytes)
    }
}

/// A little-endian f16 as f32, exactly. WebAssembly has no f16 conversion instruction, and the
/// kernels convert one or two scales per block, so this is the branch-light form (as in ggml's
/// and Fabian Giesen's conversions): the half's exponent and mantissa placed in an f32 and
/// scaled by 2¹¹² (exact for normal and subnormal values: a power of two, no flush to zero in
/// WebAssembly), infinities and NaNs kept apart.
#[inline(always)]
pub(crate) fn half(b: &[u8]) -> f32 {
    let h = u16::from_le_bytes([b[0], b[1]]) as u32;
    let sign = (h & 0x8000) << 16;
    let bits = (h & 0x7FFF) << 13;
    let magnitude = if h & 0x7C00 == 0x7C00 {
        f32::from_bits(bits | 0x7F80_0000)
    } else {
        f32::from_bits(bits) * f32::from_bits(0x7780_0000)
    };
    f32::from_bits(magnitude.to_bits() | sign)
}

/// The 6-bit scale and minimum of sub-block `j` (0..8) of a Q4_K/Q5_K super-block, packed in
/// 12 bytes (ggml's `get_scale_min_k4`).
#[inline]
pub(crate) fn scale_min_k4(j: usize, q: &[u8]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        (
            (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4),
            (q[j + 4] >> 4) | ((q[j] >> 6) << 4),
        )
    }
}

/// Dequantises one block of `kind` into `out` (`out.len()` = the block's elements).
pub(crate) fn dequantize_block(kind: GgmlType, b: &[u8], out: &mut [f32]) {
    match kind {
        GgmlType::F32 => out[0] = f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        GgmlType::F16 => out[0] = half(b),
        GgmlType::BF16 => out[0] = bf16::from_le_bytes([b[0], b[1]]).to_f32(),
        GgmlType::Q4_0 => {
            let d = half(&b[..2]);
            for (j, &q) in b[2..18].iter().enumerate() {
                out[j] = ((q & 0x0F) as i32 - 8) as f32 * d;
                out[j + 16] = ((q >> 4) as i32 - 8) as f32 * d;
            }
        }
        GgmlType::Q4_1 => {
            let (d, m) = (half(&b[..2]), half(&b[2..4]));
            for (j, &q) in b[4..20].iter().enumerate() {
                out[j] = (q & 0x0F) as f32 * d + m;
                out[j + 16] = (q >> 4) as f32 * d + m;
            }
        }
        GgmlType::Q5_0 | GgmlType::Q5_1 => {
            let d = half(&b[..2]);
            // Q5_0 is centred at 16; Q5_1 has a minimum instead.
            let (m, rest) = if kind == GgmlType::Q5_0 {
                (None, &b[2..])
            } else {
                (Some(half(&b[2..4])), &b[4..])
            };
            let qh = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
            for (j, &q) in rest[4..20].iter().enumerate() {
                let x0 = (q as u32 & 0x0F) | (((qh >> j) & 1) << 4);
                let x1 = (q as u32 >> 4) | (((qh >> (j + 16)) & 1) << 4);
                let value = |x: u32| match m {
                    None => (x as i32 - 16) as f32 * d,
                    Some(m) => x as f32 * d + m,
                };
                out[j] = value(x0);
                out[j + 16] = value(x1);
            }
        }
        GgmlType::Q8_0 => {
            let d = half(&b[..2]);
            for (o, &q) in out.iter_mut().zip(&b[2..34]) {
                *o = d * (q as i8) as f32;
            }
        }
        GgmlType::Q4K | GgmlType::Q5K => {
            let d = half(&b[..2]);
            let dmin = half(&b[2..4]);
            let scales = &b[4..16];
            let (qh, qs) = if kind == GgmlType::Q5K {
                (Some(&b[16..48]), &b[48..176])
            } else {
                (None, &b[16..144])
            };
            for g in 0..4 {
                let (sc1, m1) = scale_min_k4(2 * g, scales);
                let (sc2, m2) = scale_min_k4(2 * g + 1, scales);
                let (d1, m1) = (d * sc1 as f32, dmin * m1 as f32);
                let (d2, m2) = (d * sc2 as f32, dmin * m2 as f32);
                let q = &qs[32 * g..32 * g + 32];
                for l in 0..32 {
                    let (mut lo, mut hi) = ((q[l] & 0xF) as u32, (q[l] >> 4) as u32);
                    if let Some(qh) = qh {
                        lo |= ((qh[l] >> (2 * g)) as u32 & 1) << 4;
                        hi |= ((qh[l] >> (2 * g + 1)) as u32 & 1) << 4;
                    }
                    out[64 * g + l] = d1 * lo as f32 - m1;
                    out[64 * g + 32 + l] = d2 * hi as f32 - m2;
                }
            }
        }
        GgmlType::Q6K => {
            let (ql, qh) = (&b[..128], &b[128..192]);
            let sc = &b[192..208];
            let d = half(&b[208..210]);
            for n in 0..2 {
                let (ql, qh, sc) = (&ql[64 * n..], &qh[32 * n..], &sc[8 * n..]);
                let y = &mut out[128 * n..128 * n + 128];
                for l in 0..32 {
                    let is = l / 16;
                    let q1 = ((ql[l] & 0xF) | ((qh[l] & 3) << 4)) as i32 - 32;
                    let q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) as i32 - 32;
                    let q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i32 - 32;
                    let q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i32 - 32;
                    y[l] = d * (sc[is] as i8) as f32 * q1 as f32;
                    y[l + 32] = d * (sc[is + 2] as i8) as f32 * q2 as f32;
                    y[l + 64] = d * (sc[is + 4] as i8) as f32 * q3 as f32;
                    y[l + 96] = d * (sc[is + 6] as i8) as f32 * q4 as f32;
                }
            }
        }
        GgmlType::Other(_) => unreachable!("only readable types have blocks"),
    }
}

/// Dequantises `n` elements of type `kind` from `bytes` (whole blocks) with ggml's reference
/// formulas.
pub fn dequantize(kind: GgmlType, bytes: &[u8], n: usize) -> std::result::Result<Vec<f32>, String> {
    let (per_block, block_bytes) = kind
        .block()
        .ok_or_else(|| format!("type {} cannot be dequantised", kind.name()))?;
    if n % per_block != 0 || bytes.len() != n / per_block * block_bytes {
        return Err(format!(
            "{} bytes do not hold {n} elements of {}",
            bytes.len(),
            kind.name()
        ));
    }
    let mut out = vec![0f32; n];
    for (block, o) in bytes
        .chunks_exact(block_bytes)
        .zip(out.chunks_exact_mut(per_block))
    {
        dequantize_block(kind, block, o);
    }
    Ok(out)
}

/// Dequantises one row (`dims[0]` elements) of a 2-D tensor: a token's embedding, without
/// expanding the whole table.
pub fn dequantize_row(kind: GgmlType, bytes: &[u8], cols: usize, row: usize) -> Result<Vec<f32>> {
    let row_bytes = kind.row_bytes(cols).ok_or_else(|| {
        format_err(format!(
            "rows of {cols} elements of {} cannot be dequantised",
            kind.name()
        ))
    })?;
    let start = row * row_bytes;
    let slice = bytes
        .get(start..start + row_bytes)
        .ok_or_else(|| Error::Input(format!("row {row} is outside the table")))?;
    dequantize(kind, slice, cols).map_err(format_err)
}

#[cfg(test)]
mod tests {
    #[test]
    fn half_converts_every_f16_as_the_half_crate_does() {
        for h in 0..=u16::MAX {
            let ours = super::half(&h.to_le_bytes());
            let theirs = f16::from_bits(h).to_f32();
            if theirs.is_nan() {
                assert!(ours.is_nan(), "{h:#06x}");
            } else {
                assert_eq!(ours.to_bits(), theirs.to_bits(), "{h:#06x}");
            }
        }
    }

    use super::*;
    use burn::tensor::f16;

    fn h(x: f32) -> [u8; 2] {
        f16::from_f32(x).to_le_bytes()
    }

    #[test]
    fn dequantizes_each_legacy_type_by_its_formula() {
        // Q8_0: d = 0.5, q = -16..16
        let mut b = h(0.5).to_vec();
        b.extend((0..32).map(|i| (i as i8 - 16) as u8));
        let v = dequantize(GgmlType::Q8_0, &b, 32).unwrap();
        assert_eq!(v[0], -8.0);
        assert_eq!(v[31], 7.5);
        // Q4_0: d = 2, byte j = (j | (15-j) << 4) → low nibble element j, high element j+16.
        let mut b = h(2.0).to_vec();
        b.extend((0..16u8).map(|j| j | ((15 - j) << 4)));
        let v = dequantize(GgmlType::Q4_0, &b, 32).unwrap();
        assert_eq!(v[0], -16.0);
        assert_eq!(v[15], 14.0);
        assert_eq!(v[16], 14.0);
        assert_eq!(v[31], -16.0);
        // Q4_1: d = 0.25, m = -1
        let mut b = h(0.25).to_vec();
        b.extend(h(-1.0));
        b.extend((0..16u8).map(|j| j | ((15 - j) << 4)));
        let v = dequantize(GgmlType::Q4_1, &b, 32).unwrap();
        assert_eq!(v[0], -1.0);
        assert_eq!(v[15], 2.75);
        assert_eq!(v[16], 2.75);
        // Q5_0: d = 1, low nibbles 0, the 5th bit set for element 1 and element 17: 16 − 16 = 0.
        let mut b = h(1.0).to_vec();
        b.extend(((1u32 << 1) | (1 << 17)).to_le_bytes());
        b.extend([0u8; 16]);
        let v = dequantize(GgmlType::Q5_0, &b, 32).unwrap();
        assert_eq!((v[0], v[1], v[16], v[17]), (-16.0, 0.0, -16.0, 0.0));
        // F16, BF16 and F32
        let v = dequantize(GgmlType::F16, &[h(1.5), h(-2.0)].concat(), 2).unwrap();
        assert_eq!(v, vec![1.5, -2.0]);
        let v = dequantize(GgmlType::BF16, &bf16::from_f32(-3.0).to_le_bytes(), 1).unwrap();
        assert_eq!(v, vec![-3.0]);
        let v = dequantize(GgmlType::F32, &3.25f32.to_le_bytes(), 1).unwrap();
        assert_eq!(v, vec![3.25]);
        // Wrong length
        assert!(dequantize(GgmlType::Q8_0, &[0; 33], 32).is_err());
        assert!(dequantize(GgmlType::Q4K, &[0; 144], 32).is_err());
    }

    #[test]
    fn names_and_sizes() {
        assert_eq!(GgmlType::from_u32(12), GgmlType::Q4K);
        assert_eq!(GgmlType::Q4K.name(), "Q4_K");
        assert_eq!(GgmlType::Other(16).name(), "IQ2_XXS");
        assert_eq!(GgmlType::Other(99).name(), "type 99");
        for t in GgmlType::READABLE {
            assert_eq!(GgmlType::from_u32(t.id()), t);
        }
        assert_eq!(GgmlType::Q6K.row_bytes(512), Some(420));
        assert_eq!(GgmlType::Q6K.row_bytes(500), None);
    }
}
