//! The generator on the model families beyond SmolLM2: Gemma 3 270M Q4_K_M (`make test-models`;
//! SentencePiece tokenizer, architecture `gemma3`, Q4_K/Q5_0/Q6_K/Q8_0 tensors).

use crate::common;

use std::sync::{Arc, OnceLock};

use localrag::{
    BackendKind, ChatTokenizer, Decoder, GenerateParams, Generator, Gguf, GgufSource, config_of,
    load_weights,
};
use serde::Deserialize;

fn gemma_bytes() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| {
        let path = common::gemma_path();
        std::fs::read(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (make test-models)", path.display()))
    })
}

#[derive(Deserialize)]
struct Case {
    text: String,
    ids: Vec<u32>,
}

#[derive(Deserialize)]
struct SpmGolden {
    vocab_size: usize,
    cases: Vec<Case>,
}

/// Token ids of Gemma's SentencePiece tokenizer equal Google's `sentencepiece` library's
/// (`tests/reference/make_spm_golden.py`) on every test string, and decode back to the text.
#[test]
fn sentencepiece_ids_match_the_reference() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/spm_tokenizer.json"
    );
    let golden: SpmGolden = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let g = Gguf::parse(gemma_bytes()).unwrap();
    let t = ChatTokenizer::from_gguf(&g).unwrap();
    assert_eq!(t.vocab_size(), golden.vocab_size);
    let mut wrong = Vec::new();
    for c in &golden.cases {
        let ids = t.encode_plain(&c.text).unwrap();
        if ids != c.ids {
            wrong.push(format!("{:?}: {:?} != {:?}", c.text, ids, c.ids));
        }
        assert_eq!(t.decode(&ids), c.text, "round trip");
        // With special tokens parsed, a BOS comes first (Gemma asks for one).
        let with_bos = t.encode(&c.text).unwrap();
        if !c.text.contains("<start_of_turn>") {
            assert_eq!(with_bos[0], 2);
            assert_eq!(with_bos[1..], ids[..]);
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} cases differ:\n{}",
        wrong.len(),
        golden.cases.len(),
        wrong.join("\n")
    );
    // Control pieces are recognised only by `encode`.
    let turn = t.encode("<start_of_turn>user\n").unwrap();
    assert_eq!(turn[..2], [2, 105]);
    assert!(t.encode_plain("<start_of_turn>").unwrap().len() > 1);
}

#[derive(Deserialize)]
struct DecoderCase {
    prompt: Option<String>,
    ids: Vec<u32>,
    top5: Vec<(u32, f64)>,
    greedy: Vec<u32>,
    margins: Vec<f64>,
}

#[derive(Deserialize)]
struct DecoderGolden {
    model_sha256: String,
    cases: Vec<DecoderCase>,
}

fn decoder_golden(name: &str) -> DecoderGolden {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/decoder_golden.json"
    );
    let mut all: std::collections::BTreeMap<String, DecoderGolden> =
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    all.remove(name)
        .unwrap_or_else(|| panic!("no golden outputs for {name}"))
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Compares a generator with the float64 reference (`tests/reference/make_decoder_golden.py`):
/// prompt ids, the first position's top-5 logits within `tolerance`, and the greedy tokens up
/// to the first step the reference itself decides by less than twice the tolerance (there a
/// rounding difference may rightly pick the other token), at most `max_steps` per case.
/// Returns the steps compared.
fn check_against_reference(
    generator: &Generator,
    golden: &DecoderGolden,
    tolerance: f64,
    max_steps: usize,
) -> usize {
    let mut compared = 0;
    for (i, c) in golden.cases.iter().enumerate() {
        if let Some(p) = &c.prompt {
            assert_eq!(
                generator.tokenizer().encode(p).unwrap(),
                c.ids,
                "case {i}: prompt ids"
            );
        }
        let params = GenerateParams {
            max_tokens: c.greedy.len().min(max_steps),
            ..Default::default()
        };
        let mut run = generator.start(c.ids.clone(), params).unwrap();
        pollster::block_on(run.run(&mut NoHooks)).unwrap();
        let logits = run.first_logits().unwrap();
        for &(id, want) in &c.top5 {
            let got = logits[id as usize] as f64;
            assert!(
                (got - want).abs() < tolerance,
                "case {i}: logit of token {id} is {got}, reference {want}"
            );
        }
        let decided = c
            .margins
            .iter()
            .position(|m| *m < 2.0 * tolerance)
            .unwrap_or(c.margins.len())
            .min(max_steps);
        let ours = run.generated_ids();
        let n = decided.min(ours.len());
        assert_eq!(ours[..n], c.greedy[..n], "case {i}: greedy tokens");
        if ours.len() < decided {
            // Stopped early: only on a token that ends the text.
            assert!(
                generator.tokenizer().is_stop(c.greedy[ours.len() - 1]),
                "case {i}"
            );
        }
        compared += n;
    }
    compared
}

struct NoHooks;
impl localrag::Hooks for NoHooks {}

fn gemma() -> &'static Generator {
    static GEN: OnceLock<Generator> = OnceLock::new();
    GEN.get_or_init(|| {
        Generator::from_gguf(gemma_bytes().to_vec(), &localrag::cpu_device()).expect("gemma loads")
    })
}

/// Gemma 3 (sandwich norms, q/k norms, GeGLU, sliding-window and global layers, Q4_K, Q5_0,
/// Q6_K and Q8_0 weights) against the reference.
#[test]
fn gemma3_matches_the_reference() {
    let golden = decoder_golden("gemma3");
    assert_eq!(sha256(gemma_bytes()), golden.model_sha256);
    let steps = check_against_reference(gemma(), &golden, 2e-2, usize::MAX);
    assert!(
        steps >= 48,
        "only {steps} greedy steps were decided clearly enough"
    );
}

/// The same on the GPU kernels (wgpu natively: lavapipe in CI), 3 steps per prompt (lavapipe
/// takes about 2 s a step).
#[test]
fn gemma3_matches_the_reference_on_the_gpu() {
    let golden = decoder_golden("gemma3");
    let device = localrag::gpu_device()
        .expect("a wgpu adapter (lavapipe: apt-get install mesa-vulkan-drivers)");
    let generator = Generator::from_gguf(gemma_bytes().to_vec(), &device).expect("gemma loads");
    let steps = check_against_reference(&generator, &golden, 2e-2, 3);
    assert!(steps >= 9, "only {steps} greedy steps were compared");
}

/// The requantized SmolLM2 files `make test-models` writes (tests/reference/make_requantized.py).
const REQUANTIZED: [&str; 5] = ["q8_0", "q5_0", "q4_k", "q5_k", "q6_k"];

fn requantized(q: &str) -> (Vec<u8>, DecoderGolden) {
    let path = common::test_models_dir().join(format!("smollm2-requant/smollm2-135m-{q}.gguf"));
    let bytes = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (make test-models)", path.display()));
    let golden = decoder_golden(&format!("smollm2-{q}"));
    assert_eq!(sha256(&bytes), golden.model_sha256, "{q}");
    (bytes, golden)
}

/// SmolLM2's weights in Q8_0, Q5_0, Q4_K, Q5_K and Q6_K (with llama.cpp's fallbacks Q5_0, Q5_1
/// and Q8_0 for the matrices of 576 columns) against the reference: every greedy step the
/// reference decides clearly, up to the end of the answer, on the three prompts (Q5_0's first
/// answer ends after 8 tokens).
#[test]
fn requantized_smollm2_files_match_the_reference() {
    for q in REQUANTIZED {
        let (bytes, golden) = requantized(q);
        let generator = Generator::from_gguf(bytes, &localrag::cpu_device()).unwrap();
        let steps = check_against_reference(&generator, &golden, 2e-2, usize::MAX);
        assert!(steps >= 32, "{q}: only {steps} greedy steps compared");
    }
}

/// The same kernels on the GPU (wgpu natively: lavapipe in CI): the three K-quant files, which
/// between them hold every block type of the five (Q4_K with Q5_0, Q5_K with Q5_1, Q6_K, and
/// Q8_0 in each), on the short prompt (14 ids), its logits and 3 greedy steps. (Every prompt of
/// these files is under the prefill kernel's 64-row tile, so each takes the same kernels; on
/// software Vulkan a file cost about 40 s with the 44-id prompt, nearly all of it running the
/// shaders. The browser suite runs the same three on WebGPU and all five on its CPU backend.)
#[test]
fn requantized_smollm2_files_match_the_reference_on_the_gpu() {
    let device = localrag::gpu_device()
        .expect("a wgpu adapter (lavapipe: apt-get install mesa-vulkan-drivers)");
    for q in ["q4_k", "q5_k", "q6_k"] {
        let (bytes, mut golden) = requantized(q);
        assert!(golden.cases.iter().all(|c| c.ids.len() < 64));
        assert_eq!(
            golden.cases[2].ids.len(),
            14,
            "{q}: the third case is the short prompt"
        );
        golden.cases = vec![golden.cases.swap_remove(2)];
        let generator = Generator::from_gguf(bytes, &device).unwrap();
        let steps = check_against_reference(&generator, &golden, 2e-2, 3);
        assert!(steps >= 3, "{q}: only {steps} greedy steps compared");
    }
}

fn tiny_bytes(name: &str) -> Vec<u8> {
    let path = common::test_models_dir().join(format!("tiny/{name}.gguf"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e} (make test-models)", path.display()))
}

/// Qwen2 (q/k/v biases), Qwen3 (q/k norms, 8 × 64 query dims for 256 hidden) and Llama 3 (pair
/// rotation on permuted rows, rope frequency factors, untied head) with Q8_0, Q4_0, Q5_1, Q4_K, Q5_K
/// and Q6_K weights, against the reference; their own chat templates render.
#[test]
fn tiny_qwen2_qwen3_and_llama3_match_the_reference() {
    for name in ["qwen2", "qwen3", "llama3"] {
        let bytes = tiny_bytes(name);
        let golden = decoder_golden(&format!("tiny-{name}"));
        assert_eq!(sha256(&bytes), golden.model_sha256, "{name}");
        let generator = Generator::from_gguf(bytes, &localrag::cpu_device()).unwrap();
        let steps = check_against_reference(&generator, &golden, 1e-2, usize::MAX);
        assert!(steps >= 40, "{name}: only {steps} greedy steps compared");
        let tok = generator.tokenizer();
        let chat = [localrag::Message::new("user", " Hi <|im_end|> ")];
        let text = tok.apply_template(&chat).unwrap();
        let ids = tok.encode_chat(&chat).unwrap();
        match name {
            "llama3" => {
                // bos_token printed by the template itself: one BOS, not two; `| trim` applied.
                assert!(
                    text.starts_with("<|begin_of_text|><|start_header_id|>user"),
                    "{text}"
                );
                assert_eq!(ids.iter().filter(|&&i| i == ids[0]).count(), 1);
                assert!(text.contains("Hi <|im_end|><|eot_id|>"), "{text}");
            }
            "qwen2" => assert!(
                text.starts_with("<|im_start|>system\nYou are Qwen"),
                "{text}"
            ),
            _ => assert!(
                text.starts_with("<|im_start|>user\nHi <|im_end|><|im_end|>"),
                "{text}"
            ),
        }
        // The content's `<|im_end|>` is text: the ids hold exactly the template's control tokens.
        let im_end = tok.encode("<|im_end|>").unwrap();
        if name != "llama3" {
            let n = ids.iter().filter(|&&i| Some(&i) == im_end.last()).count();
            assert_eq!(n, if name == "qwen2" { 2 } else { 1 }, "{name}: {ids:?}");
        }
    }
}

/// The `qwen2` and `llama-bpe` pre-tokenizers against the Python reference BPE.
#[test]
fn qwen2_and_llama3_pre_tokenizers_match_the_reference() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/bpe_pre_tokenizer.json"
    );
    let golden: std::collections::BTreeMap<String, Vec<Case>> =
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    for (name, cases) in &golden {
        let bytes = tiny_bytes(name);
        let tok = ChatTokenizer::from_gguf(&Gguf::parse(&bytes).unwrap()).unwrap();
        let wrong: Vec<String> = cases
            .iter()
            .filter_map(|c| {
                let ids = tok.encode_plain(&c.text).unwrap();
                (ids != c.ids).then(|| format!("{:?}: {ids:?} != {:?}", c.text, c.ids))
            })
            .collect();
        assert!(
            wrong.is_empty(),
            "{name}: {} differ:\n{}",
            wrong.len(),
            wrong.join("\n")
        );
    }
}

/// The GPU kernels (wgpu natively: lavapipe in CI) and the Burn engine (the reference, on
/// Burn's CPU backend) on the tiny models: the first logits and the clearly decided greedy
/// steps equal the reference.
#[test]
fn gpu_and_burn_engines_match_the_reference_on_the_tiny_models() {
    localrag::gpu_device().expect("a wgpu adapter (lavapipe: apt-get install mesa-vulkan-drivers)");
    for (name, engine) in ["qwen2", "qwen3", "llama3"]
        .into_iter()
        .flat_map(|n| [(n, "burn"), (n, "gpu")])
    {
        let bytes = Arc::new(tiny_bytes(name));
        let golden = decoder_golden(&format!("tiny-{name}"));
        let g = Gguf::parse(&bytes).unwrap();
        let model = if engine == "gpu" {
            Decoder::from_gguf(&g, bytes.clone(), BackendKind::Gpu).unwrap()
        } else {
            let config = config_of(&g).unwrap();
            let source = GgufSource {
                gguf: &g,
                bytes: bytes.clone(),
            };
            let weights = load_weights(&config, &source).unwrap();
            Decoder::burn(config, weights, &localrag::cpu_device())
        };
        for (i, c) in golden.cases.iter().enumerate() {
            let mut cache = model.new_cache(c.ids.len() + 8).unwrap();
            let mut logits = pollster::block_on(model.logits(&c.ids, &mut cache)).unwrap();
            for &(id, want) in &c.top5 {
                let got = logits[id as usize] as f64;
                assert!(
                    (got - want).abs() < 1e-2,
                    "{name} {engine} case {i}: {got} vs {want}"
                );
            }
            for step in 0..8 {
                if c.margins[step] < 2e-2 {
                    break;
                }
                let next = localrag::argmax(&logits);
                assert_eq!(next, c.greedy[step], "{name} {engine} case {i} step {step}");
                logits = pollster::block_on(model.logits(&[next], &mut cache)).unwrap();
            }
        }
    }
}
