//! The embedder against golden vectors from tests/reference/make_golden.py (numpy), natively on
//! the CPU backend and on wgpu (lavapipe's software Vulkan in CI).

use crate::common;

use burn::tensor::Device;
use localrag::EmbedderFileBytes as ModelDir;
use localrag::{Embedder, EmbedderOptions, cosine};
use localrag::{cpu_device, gpu_device};

fn load(device: &Device, batch_size: usize) -> Embedder {
    let dir = ModelDir::read_dir(&common::model_dir()).expect("model folder: run `make assets`");
    let options = EmbedderOptions {
        batch_size,
        ..Default::default()
    };
    Embedder::load(dir.files(), options, device).expect("load embedder")
}

fn check_parity(embedder: &Embedder, min_cos: f32) {
    check_parity_every(embedder, min_cos, 1)
}

/// Every `step`-th case and the longest: software Vulkan (lavapipe) takes minutes for all of
/// them, and the kernels are the same for every case.
fn check_parity_every(embedder: &Embedder, min_cos: f32, step: usize) {
    let mut golden = common::golden();
    assert!(golden.cases.len() >= 50);
    common::every_nth_and_longest(&mut golden.cases, step, |c| c.ids.len());
    assert_eq!(embedder.dim(), golden.dim);
    assert_eq!(embedder.max_seq_length(), golden.max_seq_length);
    let texts: Vec<&str> = golden.cases.iter().map(|c| c.text.as_str()).collect();
    let vectors = pollster::block_on(embedder.embed(&texts)).expect("embed");
    assert_eq!(vectors.len(), texts.len());
    let mut worst = (1.0f32, 0usize);
    for (i, (case, v)) in golden.cases.iter().zip(&vectors).enumerate() {
        assert_eq!(v.len(), golden.dim);
        let c = cosine(&case.embedding, v);
        if c < worst.0 {
            worst = (c, i);
        }
        assert!(
            c >= min_cos,
            "case {i} {:?}: cosine {c} < {min_cos}",
            case.text
        );
    }
    eprintln!("worst cosine {} (case {})", worst.0, worst.1);
}

#[test]
fn token_ids_match_reference_tokenizer() {
    let golden = common::golden();
    let embedder = load(&cpu_device(), 16);
    let texts: Vec<&str> = golden.cases.iter().map(|c| c.text.as_str()).collect();
    let ids = embedder.tokenize(&texts).unwrap();
    for (case, got) in golden.cases.iter().zip(ids) {
        assert_eq!(got, case.ids, "token ids differ for {:?}", case.text);
    }
    assert!(
        golden
            .cases
            .iter()
            .any(|c| c.ids.len() == golden.max_seq_length)
    );
}

#[test]
fn cpu_matches_reference() {
    check_parity(&load(&cpu_device(), 16), 0.9999);
}

#[test]
fn wgpu_matches_reference() {
    let device =
        gpu_device().expect("a wgpu adapter (lavapipe: apt-get install mesa-vulkan-drivers)");
    eprintln!("wgpu adapter: {}", localrag::gpu_adapter_info().unwrap());
    // Batches of 4: Burn's engine pads a batch to its longest text, and in batches of 16 the one
    // 256-token case would pad 15 short ones to 256 (the CPU test runs batches of 16).
    check_parity_every(&load(&device, 4), 0.999, 4);
}

/// The Q8_0 GGUF file of `make assets` (llama.cpp's `bert` layout, its WordPiece vocabulary
/// inside): the same token ids as tokenizer.json, vectors within cosine 0.995 of the f32
/// reference, natively on the CPU and on wgpu. The file alone: no config.json or tokenizer.json.
fn minilm_gguf(device: &Device) -> Embedder {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("www/models/all-MiniLM-L6-v2-Q8_0.gguf");
    let files = ModelDir::read(&path).expect("the GGUF file: run `make assets`");
    assert!(files.config.is_empty() && files.tokenizer.is_empty());
    Embedder::load_owned(files, EmbedderOptions::default(), device).expect("load the GGUF file")
}

#[test]
fn gguf_q8_0_matches_reference_on_the_cpu() {
    let golden = common::golden();
    let embedder = minilm_gguf(&cpu_device());
    // Half the memory of the f32 model's weights… in a quarter of the bytes.
    assert!(
        embedder.weight_bytes() < 26_000_000,
        "{}",
        embedder.weight_bytes()
    );
    let texts: Vec<&str> = golden.cases.iter().map(|c| c.text.as_str()).collect();
    let ids = embedder.tokenize(&texts).unwrap();
    for (case, got) in golden.cases.iter().zip(ids) {
        assert_eq!(got, case.ids, "token ids differ for {:?}", case.text);
    }
    check_parity(&embedder, 0.995);
}

#[test]
fn gguf_q8_0_matches_reference_on_wgpu() {
    let device = gpu_device().expect("a wgpu adapter");
    check_parity_every(&minilm_gguf(&device), 0.995, 4);
}

#[test]
fn batching_keeps_order_and_values() {
    let golden = common::golden();
    let texts: Vec<&str> = golden
        .cases
        .iter()
        .take(12)
        .map(|c| c.text.as_str())
        .collect();
    let one = pollster::block_on(load(&cpu_device(), 1).embed(&texts)).unwrap();
    let five = pollster::block_on(load(&cpu_device(), 5).embed(&texts)).unwrap();
    for (a, b) in one.iter().zip(&five) {
        assert!(cosine(a, b) > 0.99999);
    }
    // The demo's paraphrase pair is closer than the unrelated pair.
    assert!(cosine(&one[0], &one[1]) > cosine(&one[0], &one[2]) + 0.2);
    let none: Vec<&str> = vec![];
    assert!(
        pollster::block_on(load(&cpu_device(), 4).embed(&none))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn bad_inputs_are_typed_errors() {
    let dir = ModelDir::read_dir(&common::model_dir()).unwrap();
    let cpu = cpu_device();
    let opts = EmbedderOptions::default;

    let mut files = dir.files();
    files.model = b"definitely not safetensors";
    assert_eq!(
        Embedder::load(files, opts(), &cpu).err().unwrap().code(),
        "E_MODEL_FORMAT"
    );

    let cut = &dir.model[..dir.model.len() / 2];
    let mut files = dir.files();
    files.model = cut;
    assert_eq!(
        Embedder::load(files, opts(), &cpu).err().unwrap().code(),
        "E_MODEL_FORMAT"
    );

    let wrong_width = String::from_utf8(dir.config.clone())
        .unwrap()
        .replace("\"hidden_size\": 384", "\"hidden_size\": 768");
    let mut files = dir.files();
    files.config = wrong_width.as_bytes();
    let e = Embedder::load(files, opts(), &cpu).err().unwrap();
    assert_eq!(e.code(), "E_MODEL_FORMAT", "{e}");

    let small_vocab = String::from_utf8(dir.config.clone())
        .unwrap()
        .replace("\"vocab_size\": 30522", "\"vocab_size\": 1000");
    let mut files = dir.files();
    files.config = small_vocab.as_bytes();
    assert_eq!(
        Embedder::load(files, opts(), &cpu).err().unwrap().code(),
        "E_TOKENIZER"
    );

    let mut files = dir.files();
    files.tokenizer = b"{\"not\": \"a tokenizer\"}";
    assert_eq!(
        Embedder::load(files, opts(), &cpu).err().unwrap().code(),
        "E_TOKENIZER"
    );

    let mut files = dir.files();
    files.config = b"{}";
    assert_eq!(
        Embedder::load(files, opts(), &cpu).err().unwrap().code(),
        "E_CONFIG"
    );

    let long = EmbedderOptions {
        max_seq_length: Some(100_000),
        ..Default::default()
    };
    assert_eq!(
        Embedder::load(dir.files(), long, &cpu)
            .err()
            .unwrap()
            .code(),
        "E_CONFIG"
    );

    let embedder = Embedder::load(dir.files(), opts(), &cpu).unwrap();
    let huge = "a ".repeat(localrag::MAX_TEXT_BYTES);
    let e = pollster::block_on(embedder.embed(&[huge.as_str()])).unwrap_err();
    assert_eq!(e.code(), "E_INPUT");
    // Empty text is defined: [CLS] [SEP], a valid unit vector.
    let v = pollster::block_on(embedder.embed(&[""])).unwrap();
    assert!((v[0].iter().map(|x| x * x).sum::<f32>() - 1.0).abs() < 1e-4);
}
