//! In headless Chromium (wasm-bindgen-test): the embedder on WebGPU and on the CPU backend
//! against the golden vectors, the adapter check, and the JS surface's errors.
//! The model files come from `tests/serve.py --cors` (see the Makefile's `test-wasm`).
#![cfg(target_arch = "wasm32")]

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Array, Float32Array, Object, Reflect, Uint8Array};
use localrag::device::{cpu_device, gpu_device_async};
use localrag::web::{Embedder as JsEmbedder, fetch_bytes, webgpu_available};
use localrag::{Embedder, EmbedderFiles, EmbedderOptions, cosine};
use serde::Deserialize;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const GOLDEN: &str = include_str!("fixtures/embeddings.json");
const MODEL_URL: &str = match option_env!("LOCALRAG_TEST_MODEL_URL") {
    Some(u) => u,
    None => "http://127.0.0.1:8766/all-MiniLM-L6-v2",
};

#[derive(Deserialize)]
struct Case {
    text: String,
    ids: Vec<u32>,
    embedding: Vec<f32>,
}

#[derive(Deserialize)]
struct Golden {
    dim: usize,
    cases: Vec<Case>,
}

struct Files {
    model: Vec<u8>,
    config: Vec<u8>,
    tokenizer: Vec<u8>,
    pooling: Vec<u8>,
    sentence: Vec<u8>,
}

thread_local! {
    static FILES: RefCell<Option<Rc<Files>>> = const { RefCell::new(None) };
}

async fn files() -> Rc<Files> {
    if let Some(f) = FILES.with(|f| f.borrow().clone()) {
        return f;
    }
    let get = |name: &str| {
        let url = format!("{MODEL_URL}/{name}");
        async move {
            fetch_bytes(&url, true)
                .await
                .expect("model file from tests/serve.py")
        }
    };
    let f = Rc::new(Files {
        model: get("model.safetensors").await,
        config: get("config.json").await,
        tokenizer: get("tokenizer.json").await,
        pooling: get("1_Pooling/config.json").await,
        sentence: get("sentence_bert_config.json").await,
    });
    FILES.with(|slot| *slot.borrow_mut() = Some(f.clone()));
    f
}

fn golden() -> Golden {
    serde_json::from_str(GOLDEN).unwrap()
}

async fn load(device: &burn::tensor::Device) -> Embedder {
    let f = files().await;
    let files = EmbedderFiles {
        model: &f.model,
        config: &f.config,
        tokenizer: &f.tokenizer,
        pooling: Some(&f.pooling),
        sentence_config: Some(&f.sentence),
    };
    Embedder::load(files, EmbedderOptions::default(), device).unwrap()
}

async fn check_parity(embedder: &Embedder, label: &str) {
    let golden = golden();
    assert!(golden.cases.len() >= 50);
    let texts: Vec<&str> = golden.cases.iter().map(|c| c.text.as_str()).collect();
    let ids = embedder.tokenize(&texts).unwrap();
    for (case, got) in golden.cases.iter().zip(&ids) {
        assert_eq!(
            got, &case.ids,
            "{label}: token ids differ for {:?}",
            case.text
        );
    }
    let vectors = embedder.embed(&texts).await.unwrap();
    let mut worst = 1.0f32;
    for (case, v) in golden.cases.iter().zip(&vectors) {
        assert_eq!(v.len(), golden.dim);
        let c = cosine(&case.embedding, v);
        worst = worst.min(c);
        assert!(c >= 0.999, "{label}: cosine {c} for {:?}", case.text);
    }
    web_sys::console::log_1(&format!("{label}: worst cosine {worst}").into());
}

#[wasm_bindgen_test]
async fn webgpu_adapter_is_present() {
    assert!(
        webgpu_available().await,
        "navigator.gpu gave no adapter: Chromium must run with --enable-unsafe-webgpu"
    );
}

#[wasm_bindgen_test]
async fn webgpu_matches_reference() {
    let device = gpu_device_async().await.expect("WebGPU device");
    check_parity(&load(&device).await, "webgpu").await;
}

#[wasm_bindgen_test]
async fn cpu_matches_reference() {
    check_parity(&load(&cpu_device()).await, "cpu").await;
}

fn options(pairs: &[(&str, JsValue)]) -> JsValue {
    let o = Object::new();
    for (k, v) in pairs {
        Reflect::set(&o, &JsValue::from_str(k), v).unwrap();
    }
    o.into()
}

async fn load_js(pairs: &[(&str, JsValue)]) -> Result<JsEmbedder, JsValue> {
    JsEmbedder::load(options(pairs).unchecked_into()).await
}

fn code(e: &JsValue) -> String {
    assert!(e.is_instance_of::<js_sys::Error>(), "not an Error: {e:?}");
    Reflect::get(e, &"code".into())
        .unwrap()
        .as_string()
        .unwrap_or_default()
}

#[wasm_bindgen_test]
async fn js_surface_embeds_and_reports_backend() {
    let e = load_js(&[
        ("baseUrl", MODEL_URL.into()),
        ("allowCrossOrigin", true.into()),
        ("backend", "auto".into()),
    ])
    .await
    .unwrap();
    assert_eq!(
        e.backend(),
        "webgpu",
        "auto must pick WebGPU when an adapter exists"
    );
    assert_eq!(e.dim(), 384);
    assert_eq!(e.max_seq_length(), 256);
    let golden = golden();
    let texts = Array::new();
    for c in &golden.cases[..4] {
        texts.push(&JsValue::from_str(&c.text));
    }
    let out: Array = JsFuture::from(e.embed(texts.into())).await.unwrap().into();
    assert_eq!(out.length(), 4);
    for (i, c) in golden.cases[..4].iter().enumerate() {
        let v = Float32Array::from(out.get(i as u32)).to_vec();
        assert!(cosine(&c.embedding, &v) >= 0.999);
    }
    // Bad input to embed: a typed error, not a panic.
    let err = JsFuture::from(e.embed(JsValue::from_str("not an array")))
        .await
        .unwrap_err();
    assert_eq!(code(&err), "E_INPUT");
    let mixed = Array::of2(&"ok".into(), &JsValue::from_f64(3.0));
    let err = JsFuture::from(e.embed(mixed.into())).await.unwrap_err();
    assert_eq!(code(&err), "E_INPUT");
}

#[wasm_bindgen_test]
async fn js_surface_errors_have_codes() {
    let f = files().await;
    let bytes = |b: &[u8]| JsValue::from(Uint8Array::from(b));
    let good = |extra: (&'static str, JsValue)| -> Vec<(&'static str, JsValue)> {
        let mut v = vec![
            ("model", bytes(&f.model)),
            ("config", bytes(&f.config)),
            ("tokenizer", bytes(&f.tokenizer)),
            ("backend", "cpu".into()),
        ];
        v.retain(|(k, _)| *k != extra.0);
        v.push(extra);
        v
    };
    let cases: Vec<(Vec<(&'static str, JsValue)>, &str)> = vec![
        (good(("model", bytes(b"garbage"))), "E_MODEL_FORMAT"),
        (good(("config", bytes(b"{\"hidden_size\": 1}"))), "E_CONFIG"),
        (good(("tokenizer", bytes(b"[]"))), "E_TOKENIZER"),
        (good(("backend", "tpu".into())), "E_INPUT"),
        (good(("batchSize", JsValue::from_f64(-1.0))), "E_INPUT"),
        (good(("model", JsValue::from_f64(5.0))), "E_INPUT"),
        (
            good((
                "model",
                "https://elsewhere.invalid/model.safetensors".into(),
            )),
            "E_MODEL_FETCH",
        ),
    ];
    for (opts, expected) in cases {
        let err = load_js(&opts).await.err().expect("load must fail");
        assert_eq!(code(&err), expected, "{err:?}");
        assert_eq!(
            Reflect::get(&err, &"name".into())
                .unwrap()
                .as_string()
                .unwrap(),
            "LocalRagError"
        );
    }
    let err = JsEmbedder::load(JsValue::from_f64(1.0).unchecked_into())
        .await
        .err()
        .unwrap();
    assert_eq!(code(&err), "E_INPUT");
    // A missing file on the model server: E_MODEL_FETCH naming the URL.
    let err = load_js(&[
        ("baseUrl", format!("{MODEL_URL}/no-such-folder").into()),
        ("allowCrossOrigin", true.into()),
    ])
    .await
    .err()
    .unwrap();
    assert_eq!(code(&err), "E_MODEL_FETCH");
}
