//! `cargo bench --bench index`: the vector index natively. Prints JSON lines (see
//! scripts/bench_report.py): build time, p50/p99 search latency and recall@10 at 10k and 100k
//! random 384-d unit vectors (exact search measured in the same run as the reference), the
//! ef_search sweep behind the default, and the exact-vs-HNSW crossover behind `exact_below`.
//! Also writes the built base segments to .cache/bench/ for the browser half.

use std::time::Instant;

use localrag::testing::{measure, quantile, random_unit};
use localrag::{IndexOptions, Vector, VectorIndex};

const DIM: usize = 384;

fn build(data: &[Vec<f32>], opts: IndexOptions) -> (VectorIndex, f64) {
    let mut idx = VectorIndex::new(DIM, opts);
    for (i, v) in data.iter().enumerate() {
        idx.insert(i as u64, Vector::new(v.clone())).unwrap();
    }
    let t = Instant::now();
    idx.compact();
    (idx, t.elapsed().as_secs_f64())
}

fn main() {
    if let Some(n) = std::env::var("REAL").ok().and_then(|s| s.parse().ok()) {
        real(n);
        return;
    }
    let start = Instant::now();
    let now = move || start.elapsed().as_secs_f64() * 1e3;
    let queries = random_unit(500, DIM, 99);
    let near = |data: &[Vec<f32>]| localrag::testing::noisy_queries(data, 500, 98);
    let sizes: Vec<usize> = std::env::var("INDEX_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.parse().ok()).collect())
        .unwrap_or(vec![10_000, 100_000]);
    std::fs::create_dir_all(".cache/bench").unwrap();
    for &n in &sizes {
        let data = random_unit(n, DIM, 7);
        let (idx, build_s) = build(&data, IndexOptions::default());
        let (fast, slow, recall) = measure(&idx, &near(&data), 10, &now);
        println!(
            "{{\"bench\":\"index\",\"where\":\"native\",\"queries\":\"near the data\",\"n\":{n},\"dim\":{DIM},\"ef_search\":{},\"build_s\":{build_s:.2},\"p50_ms\":{:.4},\"p99_ms\":{:.4},\"exact_p50_ms\":{:.4},\"exact_p99_ms\":{:.4},\"recall10\":{recall:.4}}}",
            idx.ef_search(),
            quantile(&fast, 0.5),
            quantile(&fast, 0.99),
            quantile(&slow, 0.5),
            quantile(&slow, 0.99)
        );
        std::fs::write(
            format!(".cache/bench/index-{n}.snap"),
            idx.snapshot().unwrap(),
        )
        .unwrap();
    }
    // ef_search: recall and latency at 20k.
    let data = random_unit(20_000, DIM, 8);
    for ef in [32, 64, 128, 256, 512] {
        let opts = IndexOptions {
            ef_search: ef,
            ef_construction: 128,
            ..Default::default()
        };
        let (idx, _) = build(&data, opts);
        let (fast, _, recall) = measure(&idx, &queries[..200], 10, &now);
        println!(
            "{{\"bench\":\"ef\",\"where\":\"native\",\"n\":20000,\"ef_search\":{ef},\"p50_ms\":{:.4},\"p99_ms\":{:.4},\"recall10\":{recall:.4}}}",
            quantile(&fast, 0.5),
            quantile(&fast, 0.99)
        );
    }
    // Where exact search stops being as fast as the HNSW.
    for n in [1_000, 2_000, 4_000, 8_000] {
        let data = random_unit(n, DIM, 9);
        let opts = IndexOptions {
            exact_below: 1,
            ..Default::default()
        };
        let (idx, _) = build(&data, opts);
        let (fast, slow, _) = measure(&idx, &queries[..200], 10, &now);
        println!(
            "{{\"bench\":\"crossover\",\"where\":\"native\",\"n\":{n},\"hnsw_p50_ms\":{:.4},\"exact_p50_ms\":{:.4}}}",
            quantile(&fast, 0.5),
            quantile(&slow, 0.5)
        );
    }
}

/// Real embeddings: `REAL=n cargo bench --bench index` embeds n documentation lines from the
/// cargo registry (plus 500 other lines as queries) with all-MiniLM-L6-v2 on the CPU, caches the
/// vectors in .cache/bench/real-n.f32, and measures the index on them.
#[path = "../tests/common/mod.rs"]
#[allow(dead_code)]
mod common;

pub fn real(n: usize) {
    let start = Instant::now();
    let now = move || start.elapsed().as_secs_f64() * 1e3;
    let cache = format!(".cache/bench/real-{n}.f32");
    let total = n + 500;
    let flat: Vec<f32> = match std::fs::read(&cache) {
        Ok(b) if b.len() == total * DIM * 4 => b
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        _ => {
            let texts = common::real_texts(total);
            assert_eq!(texts.len(), total, "not enough documentation lines");
            let dir = localrag::EmbedderFileBytes::read_dir(&common::model_dir())
                .expect("model files (make assets)");
            let e = localrag::Embedder::load(
                dir.files(),
                localrag::EmbedderOptions {
                    batch_size: 64,
                    ..Default::default()
                },
                &localrag::cpu_device(),
            )
            .unwrap();
            let t = Instant::now();
            let mut flat = Vec::with_capacity(total * DIM);
            for (i, part) in texts.chunks(4096).enumerate() {
                for v in pollster::block_on(e.embed(part)).unwrap() {
                    flat.extend(v);
                }
                eprintln!(
                    "embedded {} of {total} ({:.0} s)",
                    (i + 1) * 4096,
                    t.elapsed().as_secs_f64()
                );
            }
            std::fs::write(
                &cache,
                flat.iter()
                    .flat_map(|x| x.to_le_bytes())
                    .collect::<Vec<u8>>(),
            )
            .unwrap();
            flat
        }
    };
    let vecs: Vec<Vec<f32>> = flat.chunks_exact(DIM).map(<[f32]>::to_vec).collect();
    let (data, queries) = vecs.split_at(n);
    let (idx, build_s) = build(data, IndexOptions::default());
    let (fast, slow, recall) = measure(&idx, queries, 10, &now);
    println!(
        "{{\"bench\":\"index\",\"where\":\"native\",\"data\":\"real\",\"queries\":\"other lines\",\"n\":{n},\"dim\":{DIM},\"ef_search\":{},\"build_s\":{build_s:.2},\"p50_ms\":{:.4},\"p99_ms\":{:.4},\"exact_p50_ms\":{:.4},\"exact_p99_ms\":{:.4},\"recall10\":{recall:.4}}}",
        idx.ef_search(),
        quantile(&fast, 0.5),
        quantile(&fast, 0.99),
        quantile(&slow, 0.5),
        quantile(&slow, 0.99)
    );
    std::fs::write(
        format!(".cache/bench/index-real-{n}.snap"),
        idx.snapshot().unwrap(),
    )
    .unwrap();
    drop(idx);
    // ef_search on real data: 20 000 of the vectors, the same queries.
    let m = n.min(20_000);
    for ef in [32, 64, 128, 256] {
        let opts = IndexOptions {
            ef_search: ef,
            ef_construction: 128,
            ..Default::default()
        };
        let (idx, build_s) = build(&data[..m], opts);
        let (fast, _, recall) = measure(&idx, queries, 10, &now);
        println!(
            "{{\"bench\":\"ef\",\"where\":\"native\",\"data\":\"real\",\"n\":{m},\"ef_search\":{ef},\"build_s\":{build_s:.2},\"p50_ms\":{:.4},\"p99_ms\":{:.4},\"recall10\":{recall:.4}}}",
            quantile(&fast, 0.5),
            quantile(&fast, 0.99)
        );
    }
}
