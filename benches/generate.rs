//! `cargo bench --bench generate`: the generator (SmolLM2-135M-Instruct Q4_1) natively on each
//! backend: model load from bytes already in memory, prefill of a 512-token prompt, decode of 64
//! tokens (end-of-turn ignored), weight memory. Prints one JSON object per line (read by
//! scripts/bench.sh into BENCHMARKS.md).

use std::time::Instant;

use localrag::{CpuBackend, gpu_device};
use localrag::{GenerateParams, Generator};

const PROMPT: usize = 512;
const DECODE: usize = 64;

/// Exactly `PROMPT` token ids of ordinary prose (the same in the browser bench).
pub fn prompt_ids(g: &Generator) -> Vec<u32> {
    let text = (0..400)
        .map(|i| {
            format!(
                "Sentence {i} describes the river, the mountain and the market in some detail. "
            )
        })
        .collect::<String>();
    let ids = g.tokenizer().encode(&text).unwrap();
    assert!(ids.len() >= PROMPT);
    ids[..PROMPT].to_vec()
}

fn main() {
    let path = std::env::var("LOCALRAG_GGUF")
        .unwrap_or_else(|_| "www/models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf".into());
    let bytes = std::fs::read(&path).expect("GGUF model: run `make assets`");
    let mut backends: Vec<(&str, burn::tensor::Device)> =
        vec![("cpu-flex", CpuBackend::Flex.device())];
    match gpu_device() {
        Ok(d) => backends.push(("wgpu", d)),
        Err(e) => eprintln!("no wgpu adapter, skipping: {e}"),
    }
    let only = std::env::var("LOCALRAG_BENCH_BACKENDS").ok();
    for (name, device) in backends {
        if only
            .as_ref()
            .is_some_and(|o| !o.split(',').any(|b| b == name))
        {
            continue;
        }
        let t = Instant::now();
        let g = Generator::from_gguf(bytes.clone(), &device).expect("load");
        let load_ms = t.elapsed().as_secs_f64() * 1e3;
        let weight_bytes = g.model().weight_bytes();
        let ids = prompt_ids(&g);
        // Warm-up: compile the kernels of both shapes.
        let params = GenerateParams {
            max_tokens: 2,
            ignore_eos: true,
            ..Default::default()
        };
        let mut w = g.start(ids.clone(), params).unwrap();
        pollster::block_on(w.run(&mut ())).unwrap();

        let params = GenerateParams {
            max_tokens: DECODE,
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

        println!(
            "{{\"bench\":\"generate\",\"where\":\"native\",\"backend\":\"{name}\",\"prompt_tokens\":{PROMPT},\"decode_tokens\":{decoded},\"load_ms\":{load_ms:.0},\"prefill_s\":{prefill:.3},\"prefill_tok_s\":{:.1},\"decode_s\":{decode:.3},\"decode_tok_s\":{:.2},\"weight_bytes\":{weight_bytes}}}",
            PROMPT as f64 / prefill,
            decoded as f64 / decode,
        );
    }
}
