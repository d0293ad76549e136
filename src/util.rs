//! Small helpers shared by several subsystems: hex digests and vector arithmetic.

use sha2::{Digest, Sha256};

/// A JSON-like object.
#[derive(ts_rs::TS)]
#[ts(type = "Record<string, unknown>")]
pub struct JsonObject;

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Lower-case hex SHA-256 of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Hex of the first `take` bytes of a SHA-256 over `parts`, each prefixed by its length (so
/// that `["ab", "c"]` and `["a", "bc"]` differ).
pub fn sha256_parts_hex(parts: &[&[u8]], take: usize) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    hex(&h.finalize()[..take])
}

/// How far from 1.0 the norm of a unit vector may be.
pub const NORM_TOLERANCE: f32 = 1e-3;

/// Dot product, written so that the compiler vectorises it (8 lanes; SIMD128 in wasm).
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut s = (acc[0] + acc[4]) + (acc[1] + acc[5]) + (acc[2] + acc[6]) + (acc[3] + acc[7]);
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

/// Euclidean length.
pub fn norm(v: &[f32]) -> f32 {
    dot(v, v).sqrt()
}

/// The norm of `v` when it is not a unit vector (within [`NORM_TOLERANCE`]), else `None`.
pub fn not_unit(v: &[f32]) -> Option<f32> {
    let n = norm(v);
    ((n - 1.0).abs() > NORM_TOLERANCE).then_some(n)
}

/// Cosine similarity of two vectors (1.0 for identical directions, 0.0 if either is zero).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let (na, nb) = (norm(a), norm(b));
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot(a, b) / (na * nb)
    }
}

/// f32 values as little-endian bytes (how vectors are stored).
pub fn f32s_to_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// The inverse of [`f32s_to_bytes`]; `None` when the length is not a multiple of 4.
pub fn bytes_to_f32s(b: &[u8]) -> Option<Vec<f32>> {
    (b.len() % 4 == 0).then(|| {
        b.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_matches_naive_and_norms_are_checked() {
        let a: Vec<f32> = (0..37).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..37).map(|i| (i as f32 * 0.11).cos()).collect();
        let naive: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - naive).abs() < 1e-4);
        assert!((cosine(&a, &a) - 1.0).abs() < 1e-6);
        assert_eq!(cosine(&a, &[0.0; 37]), 0.0);
        assert_eq!(not_unit(&[0.6, 0.8]), None);
        assert!(not_unit(&[1.0, 1.0]).is_some());
        assert_eq!(bytes_to_f32s(&f32s_to_bytes(&a)), Some(a));
        assert_eq!(bytes_to_f32s(&[0; 3]), None);
    }

    #[test]
    fn digests_are_hex_and_length_prefixed() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_ne!(
            sha256_parts_hex(&[b"ab", b"c"], 16),
            sha256_parts_hex(&[b"a", b"bc"], 16)
        );
        assert_eq!(sha256_parts_hex(&[b"x"], 16).len(), 32);
    }
}
