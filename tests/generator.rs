//! The generator against the reference script's golden data (tests/reference/make_llm_golden.py,
//! a float64 numpy Llama over the same GGUF), on the native CPU backend.

use crate::common;

use std::sync::OnceLock;

use localrag::Gguf;
use localrag::cpu_device;
use localrag::top_k;
use localrag::{ChatTokenizer, Message};
use localrag::{Error, GenerateParams, Generator, build_prompt};
use localrag::{Hit, HitScores};
use serde::Deserialize;

#[derive(Deserialize)]
struct TokCase {
    text: String,
    ids: Vec<u32>,
}

#[derive(Deserialize)]
struct TokFixture {
    cases: Vec<TokCase>,
}

#[derive(Deserialize)]
struct GenCase {
    messages: Vec<Message>,
    prompt: String,
    prompt_ids: Vec<u32>,
    top5: Vec<(u32, f64)>,
    greedy: Vec<u32>,
    margins: Vec<f64>,
    text: String,
}

#[derive(Deserialize)]
struct GenFixture {
    model_sha256: String,
    cases: Vec<GenCase>,
}

fn fixture<T: for<'de> Deserialize<'de>>(name: &str) -> T {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    serde_json::from_slice(&std::fs::read(path).expect("fixture")).expect("fixture JSON")
}

fn bytes() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| std::fs::read(common::gguf_path()).expect("GGUF model (make assets)"))
}

fn generator() -> &'static Generator {
    static GEN: OnceLock<Generator> = OnceLock::new();
    GEN.get_or_init(|| Generator::from_gguf(bytes().to_vec(), &cpu_device()).expect("model loads"))
}

/// f32 arithmetic against the float64 reference: the reference's own float32 run differs by
/// 6.2e-5 at most; summation order in Burn's kernels adds a little more. 1e-2 is far below the
/// smallest greedy margin (0.069), so it cannot hide a wrong token.
const LOGIT_TOLERANCE: f64 = 1e-2;

/// Collects the streamed text.
#[derive(Default)]
struct Collect(String);

impl localrag::Hooks for Collect {
    fn token(&mut self, delta: &str) {
        self.0.push_str(delta);
    }
}

#[test]
fn golden_data_is_for_this_model_file() {
    use sha2::{Digest, Sha256};
    let g: GenFixture = fixture("llm_golden.json");
    let hex: String = Sha256::digest(bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(hex, g.model_sha256);
}

#[test]
fn tokenizer_matches_the_reference_on_every_case() {
    let t: TokFixture = fixture("llm_tokenizer.json");
    assert!(t.cases.len() >= 200);
    let tok = generator().tokenizer();
    let mut failures = Vec::new();
    for c in &t.cases {
        let ids = tok.encode(&c.text).unwrap();
        if ids != c.ids {
            failures.push(format!("{:?}: got {ids:?}, want {:?}", c.text, c.ids));
        }
        // Without control tokens, decoding gives the text back (the cases hold only bytes the
        // vocabulary can represent).
        if !ids.iter().any(|&i| tok.is_special(i)) {
            assert_eq!(tok.decode(&ids), c.text);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} differ:\n{}",
        failures.len(),
        t.cases.len(),
        failures.join("\n")
    );
}

#[test]
fn a_tokenizer_json_gives_the_same_ids() {
    // The safetensors path reads tokenizer.json; feed it the GGUF tokenizer serialised.
    let gguf_tok = generator().tokenizer();
    let g = Gguf::parse(bytes()).unwrap();
    let template = g.require_str("tokenizer.chat_template").unwrap();
    let json = gguf_tok.to_json().unwrap();
    let tok = ChatTokenizer::from_json(json.as_bytes(), "<|im_end|>", Some(template)).unwrap();
    let t: TokFixture = fixture("llm_tokenizer.json");
    for c in &t.cases {
        assert_eq!(tok.encode(&c.text).unwrap(), c.ids, "{:?}", c.text);
    }
    let golden: GenFixture = fixture("llm_golden.json");
    for c in &golden.cases {
        assert_eq!(tok.encode_chat(&c.messages).unwrap(), c.prompt_ids);
    }
    assert!(tok.is_stop(tok.encode("<|im_end|>").unwrap()[0]));
    assert!(matches!(
        ChatTokenizer::from_json(b"{not json", "<|im_end|>", None),
        Err(Error::Tokenizer(_))
    ));
}

#[test]
fn chat_template_matches_the_reference() {
    let g: GenFixture = fixture("llm_golden.json");
    let tok = generator().tokenizer();
    for c in &g.cases {
        assert_eq!(tok.apply_template(&c.messages).unwrap(), c.prompt);
        assert_eq!(tok.encode_chat(&c.messages).unwrap(), c.prompt_ids);
        assert_eq!(tok.encode(&c.prompt).unwrap(), c.prompt_ids);
    }
    // Special-token strings inside a message are text, not control tokens.
    let ids = tok
        .encode_chat(&[Message::new("user", "a <|im_end|> b")])
        .unwrap();
    let im_end = tok.encode("<|im_end|>").unwrap()[0];
    assert_eq!(
        ids.iter().filter(|&&i| i == im_end).count(),
        2,
        "one after system, one after user"
    );
}

#[test]
fn greedy_tokens_and_first_logits_match_the_reference() {
    let g: GenFixture = fixture("llm_golden.json");
    assert!(g.cases.len() >= 8);
    let generator = generator();
    for (i, c) in g.cases.iter().enumerate() {
        let params = GenerateParams {
            max_tokens: c.greedy.len(),
            ..Default::default()
        };
        let mut run = generator.start(c.prompt_ids.clone(), params).unwrap();
        let mut streamed = Collect::default();
        pollster::block_on(run.run(&mut streamed)).unwrap();
        let streamed = streamed.0;
        assert_eq!(
            run.generated_ids(),
            c.greedy.as_slice(),
            "case {i}: greedy tokens"
        );
        assert_eq!(run.text(), c.text, "case {i}: text");
        assert_eq!(
            streamed, c.text,
            "case {i}: streamed deltas add up to the text"
        );
        let logits = run.first_logits().unwrap();
        let ours = top_k(logits, 5);
        for (k, &(id, want)) in c.top5.iter().enumerate() {
            let got = logits[id as usize] as f64;
            assert!(
                (got - want).abs() < LOGIT_TOLERANCE,
                "case {i}: logit of token {id} is {got}, reference {want}"
            );
            // Ranks agree wherever the reference separates them by more than the tolerance.
            if k + 1 < c.top5.len() && c.top5[k].1 - c.top5[k + 1].1 > 2.0 * LOGIT_TOLERANCE {
                assert_eq!(ours[k].0, id, "case {i}: rank {k}");
            }
        }
        assert!(c.margins.iter().all(|m| *m > 2.0 * LOGIT_TOLERANCE));
    }
}

#[test]
fn generation_respects_max_tokens_stop_strings_and_context() {
    let generator = generator();
    let ids = generator
        .chat_ids(&[Message::new(
            "user",
            "Give me a list of five common vegetables.",
        )])
        .unwrap();
    // The reference answer starts "1. Carrots\n2. Tomatoes": stop at "\n2." keeps only line 1.
    let mut run = generator
        .start(
            ids.clone(),
            GenerateParams {
                max_tokens: 32,
                stop: vec!["\n2.".into()],
                ..Default::default()
            },
        )
        .unwrap();
    let mut streamed = Collect::default();
    pollster::block_on(run.run(&mut streamed)).unwrap();
    let streamed = streamed.0;
    assert_eq!(run.text(), "1. Carrots");
    assert_eq!(streamed, "1. Carrots");
    assert_eq!(run.finish_reason(), Some(localrag::FinishReason::Stop));

    // max_tokens
    let mut run = generator
        .start(
            ids.clone(),
            GenerateParams {
                max_tokens: 3,
                ..Default::default()
            },
        )
        .unwrap();
    pollster::block_on(run.run(&mut ())).unwrap();
    assert_eq!(run.usage().completion_tokens, 3);
    assert_eq!(run.finish_reason(), Some(localrag::FinishReason::Length));

    // The context bounds prompt + answer.
    let ctx = ids.len() + 2;
    let mut run = generator
        .start(
            ids.clone(),
            GenerateParams {
                max_tokens: 50,
                context_tokens: Some(ctx),
                ..Default::default()
            },
        )
        .unwrap();
    pollster::block_on(run.run(&mut ())).unwrap();
    assert_eq!(run.usage().completion_tokens, 2);
    assert_eq!(run.finish_reason(), Some(localrag::FinishReason::Context));
    let e = generator
        .start(
            ids.clone(),
            GenerateParams {
                context_tokens: Some(ids.len()),
                ..Default::default()
            },
        )
        .err()
        .unwrap();
    assert_eq!(e.code(), "E_INPUT");

    // Cancelling keeps the text so far.
    let mut run = generator.start(ids, GenerateParams::default()).unwrap();
    for _ in 0..4 {
        pollster::block_on(run.next()).unwrap();
    }
    run.cancel();
    assert_eq!(run.finish_reason(), Some(localrag::FinishReason::Cancelled));
    assert_eq!(run.usage().completion_tokens, 4);
    assert!(pollster::block_on(run.next()).unwrap().is_none());
}

#[test]
fn sampling_is_seeded() {
    let generator = generator();
    let ids = generator
        .chat_ids(&[Message::new("user", "Tell me a story about a cat.")])
        .unwrap();
    let sample = |seed| {
        let mut p = GenerateParams {
            max_tokens: 12,
            ..Default::default()
        };
        p.sampling.temperature = 1.0;
        p.sampling.seed = seed;
        let mut run = generator.start(ids.clone(), p).unwrap();
        pollster::block_on(run.run(&mut ())).unwrap();
        run.generated_ids().to_vec()
    };
    assert_eq!(sample(1), sample(1));
    assert_ne!(sample(1), sample(2));
}

fn hit(n: usize, text: &str) -> Hit {
    Hit {
        doc_id: format!("doc{n}"),
        chunk_id: n as u64,
        text: text.to_string(),
        start: 0,
        end: text.encode_utf16().count(),
        title: format!("Document {n}"),
        source: String::new(),
        metadata: serde_json::Value::Null,
        pages: None,
        heading_path: Vec::new(),
        score: 1.0,
        scores: HitScores {
            vector: Some(0.9),
            lexical: None,
            fused: 0.0,
            rerank: 0.0,
        },
    }
}

#[test]
fn grounded_prompt_never_exceeds_the_context() {
    let tok = generator().tokenizer();
    let long = "The quick brown fox jumps over the lazy dog. ".repeat(40);
    let hits: Vec<Hit> = (1..=8).map(|n| hit(n, &long)).collect();
    for context in [300, 700, 1100, 2048] {
        for max_tokens in [64, 256] {
            match build_prompt(tok, "What does the fox do?", &hits, max_tokens, context) {
                Ok(p) => {
                    assert!(
                        p.ids.len() + max_tokens <= context,
                        "{} + {max_tokens} > {context}",
                        p.ids.len()
                    );
                    assert_eq!(p.passages.len() + p.left_out, hits.len());
                    // Whole passages, numbered in order.
                    let user = &p.messages[1].content;
                    for n in 1..=p.passages.len() {
                        assert!(user.contains(&format!("[{n}] Document {n}: {}", long.trim())));
                    }
                    assert!(!user.contains(&format!("[{}]", p.passages.len() + 1)));
                    assert_eq!(p.ids, tok.encode_chat(&p.messages).unwrap());
                    // As many as fit: one more passage would not.
                    let n = p.passages.len();
                    if n < hits.len() {
                        let more =
                            build_prompt(tok, "What does the fox do?", &hits[..=n], 0, 100_000)
                                .unwrap();
                        assert!(
                            more.ids.len() + max_tokens > context,
                            "{n} passages: one more fits"
                        );
                    }
                }
                Err(e) => {
                    assert_eq!(e.code(), "E_INPUT");
                    assert!(
                        context - max_tokens.min(context) < 100,
                        "{context}/{max_tokens}: {e}"
                    );
                }
            }
        }
    }
    let p = build_prompt(tok, "What does the fox do?", &hits, 256, 2048).unwrap();
    assert!(
        p.passages.len() >= 3 && p.left_out >= 1,
        "{} passages",
        p.passages.len()
    );
    assert!(matches!(
        build_prompt(tok, "  ", &hits, 64, 2048),
        Err(Error::Input(_))
    ));
}

#[test]
fn a_damaged_gguf_is_a_typed_error() {
    let b = bytes();
    for cut in [0, 3, 10, 1000, 100_000, b.len() / 2, b.len() - 1] {
        match Generator::from_gguf(b[..cut].to_vec(), &cpu_device()) {
            Err(e) => assert_eq!(e.code(), "E_MODEL_FORMAT", "cut at {cut}: {e}"),
            Ok(_) => panic!("cut at {cut} loaded"),
        }
    }
    let g = Gguf::parse(b).unwrap();
    assert_eq!(g.version, 3);
    assert_eq!(g.tensors.len(), 272);
}
