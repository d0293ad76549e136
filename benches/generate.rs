//! `cargo bench --bench generate`: the generator natively, per model file and engine: load from
//! bytes already in memory, prefill of a 512-token prompt, decode of 64 tokens (end-of-turn
//! ignored; on wgpu 64 and 16), weight bytes and resident memory growth during the load. Engines: `cpu` and `wgpu`
//! (when an adapter is present) keep the weights in their quantized blocks; `cpu-f32` and
//! `wgpu-f32` run the generator as it was before (every matrix dequantized to f32 on load, Burn's
//! tensor operations): the reference, measured in the same run. On wgpu also the bytes uploaded
//! and the dispatches of one decode step.
//! Prints one JSON object per line (read by scripts/bench.sh into BENCHMARKS.md).

use std::time::Instant;

use localrag::{GenerateParams, Generator, cpu_device, gpu_device};

const PROMPT: usize = 512;
const DECODE: usize = 64;
/// On wgpu, which is lavapipe (a CPU emulation) on the machines this runs on: a shorter prompt
/// and fewer tokens.
const PROMPT_GPU: usize = 64;
const DECODE_GPU: usize = 16;

/// Exactly `n` token ids of ordinary prose (the browser bench uses the same text).
pub fn prompt_ids(g: &Generator, n: usize) -> Vec<u32> {
    let text = (0..400)
        .map(|i| {
            format!(
                "Sentence {i} describes the river, the mountain and the market in some detail. "
            )
        })
        .collect::<String>();
    let ids = g.tokenizer().encode(&text).unwrap();
    assert!(ids.len() >= n);
    ids[..n].to_vec()
}

/// Resident memory of this process, in bytes (Linux).
fn rss() -> usize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<usize>().ok())
        .map_or(0, |pages| pages * 4096)
}

fn main() {
    let mut models = vec![(
        "smollm2-135m-q4_1",
        std::env::var("LOCALRAG_GGUF")
            .unwrap_or_else(|_| "www/models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf".into()),
    )];
    let gemma = ".cache/test-models/gemma3-270m/gemma-3-270m-q4_k_m.gguf";
    if std::path::Path::new(gemma).exists() {
        models.push(("gemma3-270m-q4_k_m", gemma.into()));
    }
    // Filters (comma-separated): scripts/bench.sh runs one process per model and engine, so
    // that each load's resident memory growth is not hidden by memory an earlier one freed.
    let skipped =
        |var: &str, name: &str| std::env::var(var).is_ok_and(|o| !o.split(',').any(|x| x == name));
    for (model, path) in models {
        if skipped("LOCALRAG_BENCH_MODELS", model) {
            continue;
        }
        let bytes = std::fs::read(&path).expect("GGUF model: run `make assets test-models`");
        for engine in ["cpu", "cpu-f32", "wgpu", "wgpu-f32"] {
            if skipped("LOCALRAG_BENCH_BACKENDS", engine) {
                continue;
            }
            let device = if engine.starts_with("wgpu") {
                match gpu_device() {
                    Ok(d) => d,
                    Err(e) => {
                        eprintln!("no wgpu adapter, skipping: {e}");
                        continue;
                    }
                }
            } else {
                cpu_device()
            };
            let input = bytes.clone();
            let before = rss();
            let t = Instant::now();
            let g = if engine.ends_with("-f32") {
                Generator::from_gguf_f32(input, &device)
            } else {
                Generator::from_gguf(input, &device)
            }
            .expect("load");
            let load_ms = t.elapsed().as_secs_f64() * 1e3;
            // The file's bytes were already resident (a copy made before `before`).
            let rss_growth = rss().saturating_sub(before);
            let weight_bytes = g.model().weight_bytes();
            let (prompt, decode_tokens) = if engine.starts_with("wgpu") {
                (PROMPT_GPU, DECODE_GPU)
            } else {
                (PROMPT, DECODE)
            };
            let ids = prompt_ids(&g, prompt);
            // Warm-up: compile the kernels of both shapes.
            let params = GenerateParams {
                max_tokens: 2,
                ignore_eos: true,
                ..Default::default()
            };
            let mut w = g.start(ids.clone(), params).unwrap();
            pollster::block_on(w.run(&mut ())).unwrap();

            let params = GenerateParams {
                max_tokens: decode_tokens,
                ignore_eos: true,
                ..Default::default()
            };
            let mut run = g.start(ids.clone(), params).unwrap();
            let t = Instant::now();
            pollster::block_on(run.next()).unwrap();
            let prefill = t.elapsed().as_secs_f64();
            let t = Instant::now();
            while pollster::block_on(run.next()).unwrap().is_some() {}
            let decode = t.elapsed().as_secs_f64();
            let decoded = run.usage().completion_tokens - 1;
            let dispatches = run
                .dispatches()
                .map_or("null".to_string(), |d| d.to_string());
            let gpu_bytes = g.model().gpu_bytes();
            println!(
                "{{\"bench\":\"generate\",\"where\":\"native\",\"engine\":\"localrag\",\"backend\":\"{engine}\",\"model\":\"{model}\",\"file_bytes\":{},\"prompt_tokens\":{prompt},\"decode_tokens\":{decoded},\"load_ms\":{load_ms:.0},\"prefill_s\":{prefill:.3},\"prefill_tok_s\":{:.1},\"decode_s\":{decode:.3},\"decode_tok_s\":{:.2},\"weight_bytes\":{weight_bytes},\"gpu_bytes\":{gpu_bytes},\"dispatches_per_step\":{dispatches},\"rss_growth\":{rss_growth}}}",
                bytes.len(),
                prompt as f64 / prefill,
                decoded as f64 / decode,
            );
        }
    }
}
