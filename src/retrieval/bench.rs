//! Helpers of the index benchmarks and the recall test (feature `testing`): deterministic random
//! vectors, queries near them, and latency/recall measurement.

use super::VectorIndex;
use crate::util::norm;

/// Deterministic random unit vectors (xorshift; each coordinate a sum of three uniforms), the
/// same natively and in wasm: benchmarks and tests use them.
pub fn random_unit(n: usize, dim: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        ((s >> 11) as f64 / (1u64 << 53) as f64) as f32 - 0.5
    };
    (0..n)
        .map(|_| {
            let v: Vec<f32> = (0..dim).map(|_| next() + next() + next()).collect();
            let n = norm(&v);
            v.into_iter().map(|x| x / n).collect()
        })
        .collect()
}

/// Queries near the data: a data point plus an equally long random direction scaled by 0.75,
/// normalised (cosine about 0.8 to its source), the way a question lands near its passage.
pub fn noisy_queries(data: &[Vec<f32>], n: usize, seed: u64) -> Vec<Vec<f32>> {
    let dim = data.first().map_or(0, Vec::len);
    let noise = random_unit(n, dim, seed);
    (0..n)
        .map(|i| {
            let base = &data[(i * 7919) % data.len()];
            let v: Vec<f32> = base
                .iter()
                .zip(&noise[i])
                .map(|(b, e)| b + 0.75 * e)
                .collect();
            let n = norm(&v);
            v.into_iter().map(|x| x / n).collect()
        })
        .collect()
}

/// Search latency and recall of an index over `data` (ids = positions) for `queries`:
/// (sorted HNSW-path latencies in ms, sorted exact latencies in ms, recall@k).
pub fn measure(
    idx: &VectorIndex,
    queries: &[Vec<f32>],
    k: usize,
    now_ms: &dyn Fn() -> f64,
) -> (Vec<f64>, Vec<f64>, f64) {
    let mut fast = Vec::with_capacity(queries.len());
    let mut slow = Vec::with_capacity(queries.len());
    let mut found = 0;
    for q in queries {
        let t = now_ms();
        let a = idx.search(q, k);
        fast.push(now_ms() - t);
        let t = now_ms();
        let e = idx.exact(q, k);
        slow.push(now_ms() - t);
        found += a.iter().filter(|h| e.iter().any(|x| x.0 == h.0)).count();
    }
    fast.sort_by(f64::total_cmp);
    slow.sort_by(f64::total_cmp);
    (fast, slow, found as f64 / (k * queries.len()).max(1) as f64)
}

/// The value at quantile `q` of sorted samples.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}
