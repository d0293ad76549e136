//! ggml's quantized block formats: which types there are, how many bytes a block of each takes,
//! and how a block turns back into f32 values (ggml's reference formulas).

use burn::tensor::f16;

use super::gguf::format_err;
use crate::error::{Error, Result};

/// ggml's tensor element types. Only some can be dequantised; the others are named in errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GgmlType {
    F32,
    F16,
    Q4_0,
    Q4_1,
    Q8_0,
    /// Any other type, by its ggml number.
    Other(u32),
}

impl GgmlType {
    pub(crate) fn from_u32(v: u32) -> Self {
        match v {
            0 => GgmlType::F32,
            1 => GgmlType::F16,
            2 => GgmlType::Q4_0,
            3 => GgmlType::Q4_1,
            8 => GgmlType::Q8_0,
            other => GgmlType::Other(other),
        }
    }

    /// ggml's name for the type.
    pub fn name(self) -> String {
        let known = match self {
            GgmlType::F32 => "F32",
            GgmlType::F16 => "F16",
            GgmlType::Q4_0 => "Q4_0",
            GgmlType::Q4_1 => "Q4_1",
            GgmlType::Q8_0 => "Q8_0",
            GgmlType::Other(n) => {
                return match n {
                    6 => "Q5_0",
                    7 => "Q5_1",
                    9 => "Q8_1",
                    10 => "Q2_K",
                    11 => "Q3_K",
                    12 => "Q4_K",
                    13 => "Q5_K",
                    14 => "Q6_K",
                    15 => "Q8_K",
                    16 => "IQ2_XXS",
                    17 => "IQ2_XS",
                    18 => "IQ3_XXS",
                    19 => "IQ1_S",
                    20 => "IQ4_NL",
                    21 => "IQ3_S",
                    22 => "IQ2_S",
                    23 => "IQ4_XS",
                    24 => "I8",
                    25 => "I16",
                    26 => "I32",
                    27 => "I64",
                    28 => "F64",
                    29 => "IQ1_M",
                    30 => "BF16",
                    34 => "TQ1_0",
                    35 => "TQ2_0",
                    _ => return format!("type {n}"),
                }
                .to_string();
            }
        };
        known.to_string()
    }

    /// `(elements per block, bytes per block)` for the types this reader can dequantise.
    pub(crate) fn block(self) -> Option<(usize, usize)> {
        match self {
            GgmlType::F32 => Some((1, 4)),
            GgmlType::F16 => Some((1, 2)),
            GgmlType::Q4_0 => Some((32, 18)),
            GgmlType::Q4_1 => Some((32, 20)),
            GgmlType::Q8_0 => Some((32, 34)),
            GgmlType::Other(_) => None,
        }
    }
}

fn half(b: &[u8]) -> f32 {
    f16::from_le_bytes([b[0], b[1]]).to_f32()
}

/// Dequantises `n` elements of type `kind` from `bytes` (whole blocks), ggml's reference formulas:
/// - Q8_0: 32 × i8 with one f16 scale `d`: `x = d·q`;
/// - Q4_0: 32 × 4-bit with `d`: `x = d·(q − 8)`;
/// - Q4_1: 32 × 4-bit with `d` and a minimum `m`: `x = d·q + m`.
///
/// In the 4-bit types byte `j` holds element `j` in its low nibble and element `j + 16` in its
/// high nibble.
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
    let mut out = Vec::with_capacity(n);
    match kind {
        GgmlType::F32 => out.extend(
            bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        ),
        GgmlType::F16 => out.extend(bytes.chunks_exact(2).map(half)),
        GgmlType::Q8_0 => {
            for block in bytes.chunks_exact(34) {
                let d = half(&block[..2]);
                out.extend(block[2..].iter().map(|&q| d * (q as i8) as f32));
            }
        }
        GgmlType::Q4_0 | GgmlType::Q4_1 => {
            let (header, offset_of) = if kind == GgmlType::Q4_0 {
                (2, true)
            } else {
                (4, false)
            };
            for block in bytes.chunks_exact(block_bytes) {
                let d = half(&block[..2]);
                let m = if offset_of {
                    -8.0 * d
                } else {
                    half(&block[2..4])
                };
                let qs = &block[header..];
                out.extend(qs.iter().map(|&b| d * (b & 0x0f) as f32 + m));
                out.extend(qs.iter().map(|&b| d * (b >> 4) as f32 + m));
            }
        }
        GgmlType::Other(_) => unreachable!("rejected by block()"),
    }
    Ok(out)
}

/// Dequantises one row (`dims[0]` elements) of a 2-D tensor: a token's embedding, without
/// expanding the whole table.
pub fn dequantize_row(kind: GgmlType, bytes: &[u8], cols: usize, row: usize) -> Result<Vec<f32>> {
    let (per_block, block_bytes) = kind
        .block()
        .ok_or_else(|| format_err(format!("type {} cannot be dequantised", kind.name())))?;
    let row_bytes = cols / per_block * block_bytes;
    let start = row * row_bytes;
    let slice = bytes
        .get(start..start + row_bytes)
        .ok_or_else(|| Error::Input(format!("row {row} is outside the table")))?;
    dequantize(kind, slice, cols).map_err(format_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(x: f32) -> [u8; 2] {
        f16::from_f32(x).to_le_bytes()
    }

    #[test]
    fn dequantizes_each_type_by_its_formula() {
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
        // F16 and F32
        let v = dequantize(GgmlType::F16, &[h(1.5), h(-2.0)].concat(), 2).unwrap();
        assert_eq!(v, vec![1.5, -2.0]);
        let v = dequantize(GgmlType::F32, &3.25f32.to_le_bytes(), 1).unwrap();
        assert_eq!(v, vec![3.25]);
        // Wrong length
        assert!(dequantize(GgmlType::Q8_0, &[0; 33], 32).is_err());
    }
}
