//! `cargo bench --bench embed`: embedding throughput natively, in chunks of exactly 128 tokens,
//! at batch sizes 1, 8 and 32, on each backend. Prints one JSON object per line (read by
//! scripts/bench.sh into BENCHMARKS.md).
//!
//! Each figure is the best of 3 timed rounds after one warm-up round; a round embeds 32 chunks.

use std::time::Instant;

use localrag::EmbedderFileBytes as ModelDir;
use localrag::{CpuBackend, gpu_device};
use localrag::{Embedder, EmbedderOptions};

const CHUNKS: usize = 32;
const TOKENS: usize = 128;

fn chunks() -> Vec<String> {
    // Each text is far longer than 128 word pieces; truncation makes every chunk exactly 128.
    (0..CHUNKS)
        .map(|i| {
            (0..200)
                .map(|w| format!("word{} topic{} ", (w * 7 + i) % 50, i))
                .collect::<String>()
        })
        .collect()
}

fn main() {
    let dir = std::env::var("LOCALRAG_MODEL_DIR")
        .unwrap_or_else(|_| "www/models/all-MiniLM-L6-v2".into());
    let files =
        ModelDir::read_dir(std::path::Path::new(&dir)).expect("model folder: run `make assets`");
    let texts = chunks();
    let mut backends: Vec<(&str, burn::tensor::Device)> =
        vec![("cpu-flex", CpuBackend::Flex.device())];
    match gpu_device() {
        Ok(d) => backends.push(("wgpu", d)),
        Err(e) => eprintln!("no wgpu adapter, skipping: {e}"),
    }
    let only = std::env::var("LOCALRAG_BENCH_BACKENDS").ok();
    for (name, device) in backends {
        if let Some(only) = &only {
            if !only.split(',').any(|b| b == name) {
                continue;
            }
        }
        for batch in [1usize, 8, 32] {
            let options = EmbedderOptions {
                max_seq_length: Some(TOKENS),
                batch_size: batch,
                ..Default::default()
            };
            let embedder = Embedder::load(files.files(), options, &device).expect("load");
            let ids = embedder.tokenize(&texts).unwrap();
            assert!(ids.iter().all(|t| t.len() == TOKENS));
            pollster::block_on(embedder.embed(&texts)).unwrap();
            let mut best = f64::INFINITY;
            for _ in 0..3 {
                let t = Instant::now();
                pollster::block_on(embedder.embed(&texts)).unwrap();
                best = best.min(t.elapsed().as_secs_f64());
            }
            println!(
                "{{\"where\":\"native\",\"backend\":\"{name}\",\"batch\":{batch},\"tokens\":{TOKENS},\"chunks\":{CHUNKS},\"seconds\":{best:.4},\"chunks_per_s\":{:.2}}}",
                CHUNKS as f64 / best
            );
        }
    }
}
