//! recall@10 of the HNSW base segment against exact search, for 384-dimensional vectors: 20 000
//! random unit vectors (the hard case for any graph index) and 5 000 real embeddings of real
//! text (embedding them is most of this file's time; `make bench` measures recall at 100 000
//! real vectors).

mod common;

use localrag::EmbedderFileBytes as ModelDir;
use localrag::testing::{noisy_queries, random_unit};
use localrag::{Embedder, EmbedderOptions};
use localrag::{IndexOptions, Vector, VectorIndex};

const N: usize = 20_000;
/// Past `exact_below` (4 096), so a base is built.
const N_REAL: usize = 5_000;
const QUERIES: usize = 200;

/// The index of `data` with its HNSW base built.
fn build(data: &[Vec<f32>], opts: IndexOptions) -> VectorIndex {
    let mut idx = VectorIndex::new(data[0].len(), opts);
    for (i, v) in data.iter().enumerate() {
        idx.insert(i as u64, Vector::new(v.clone())).unwrap();
    }
    assert!(idx.maybe_compact(), "past exact_below: a base is built");
    assert_eq!(idx.stats().base, data.len());
    idx
}

fn recall(idx: &VectorIndex, queries: &[Vec<f32>], label: &str) -> f64 {
    let n = idx.stats().base;
    let mut found = 0;
    for q in queries {
        let approx: Vec<u64> = idx.search(q, 10).iter().map(|h| h.0).collect();
        let exact: Vec<u64> = idx.exact(q, 10).iter().map(|h| h.0).collect();
        found += approx.iter().filter(|id| exact.contains(id)).count();
    }
    let r = found as f64 / (10 * queries.len()) as f64;
    eprintln!(
        "{label}: recall@10 = {r:.4} over {} queries at {n} vectors",
        queries.len(),
    );
    r
}

#[test]
fn recall_on_random_unit_vectors() {
    // The hard case: in 384 dimensions random points are all nearly equidistant, and the
    // default ef_search (128, chosen on real embeddings) finds 0.75 of the true top 10 of a
    // random query (BENCHMARKS.md). A candidate list of 512 reaches the target here; the
    // latency it costs is in BENCHMARKS.md.
    let data = random_unit(N, 384, 11);
    let opts = IndexOptions {
        ef_search: 512,
        ..Default::default()
    };
    // One graph (building it is most of this test's time), two kinds of queries.
    let idx = build(&data, opts);
    assert!(
        recall(
            &idx,
            &random_unit(QUERIES, 384, 12),
            "random, random queries, ef_search 512"
        ) >= 0.97
    );
    assert!(
        recall(
            &idx,
            &noisy_queries(&data, QUERIES, 12),
            "random, queries near the data, ef_search 512"
        ) >= 0.97
    );
}

#[test]
fn recall_on_real_embeddings() {
    let texts = common::real_texts(N_REAL + QUERIES);
    assert_eq!(
        texts.len(),
        N_REAL + QUERIES,
        "enough documentation lines in the cargo registry"
    );
    let dir = ModelDir::read_dir(&common::model_dir()).expect("model files (make assets)");
    let device = localrag::cpu_device();
    let embedder = Embedder::load(
        dir.files(),
        EmbedderOptions {
            batch_size: 64,
            ..Default::default()
        },
        &device,
    )
    .unwrap();
    let vectors = pollster::block_on(embedder.embed(&texts)).unwrap();
    let (data, queries) = vectors.split_at(N_REAL);
    assert!(
        recall(
            &build(data, IndexOptions::default()),
            queries,
            "real, default options"
        ) >= 0.97
    );
}
