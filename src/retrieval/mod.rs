//! Finding passages: the vector index, BM25, and fusing and reranking their candidates.

pub(crate) mod bm25;
pub(crate) mod eval;
pub(crate) mod fusion;
pub(crate) mod vector;

#[cfg(any(test, feature = "testing"))]
pub mod bench;

pub use bm25::Bm25;
pub use eval::{Metrics, evaluate};
pub use fusion::{Mode, Scored, Weights, fuse, mmr, top};
pub use vector::{IndexOptions, IndexStats, SnapshotState, Vector, VectorIndex};

/// Keeps the `k` best `(id, score)` pairs, best first; ties go to the smaller id, so results
/// are deterministic.
pub(crate) fn sort_top(hits: &mut Vec<(u64, f32)>, k: usize) {
    let cmp = |a: &(u64, f32), b: &(u64, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    if hits.len() > k {
        hits.select_nth_unstable_by(k, cmp);
        hits.truncate(k);
    }
    hits.sort_unstable_by(cmp);
}
