//! Exports for the benchmarks (`www/bench.js`) and the tests: the vector index and the stored
//! size in the browser, the module's memory, a deliberate panic, and the browser suite
//! (`tests/web.rs`, its tests exported as `test_*` for `tests/e2e/wasm.test.mjs`). Built only
//! with the feature `testing`, never into the npm package.

use wasm_bindgen::prelude::*;

use super::idb::IdbStore;
use super::to_js_error;
use crate::kb::Store;
use crate::retrieval::bench::{measure, noisy_queries, quantile, random_unit};
use crate::retrieval::{IndexOptions, SnapshotState, Vector, VectorIndex};

/// The browser suite, compiled into this module (its paths name the crate `localrag`).
#[path = "../../tests/web.rs"]
mod suite;

/// Panics on purpose, so the tests can check that the JS layer reports itself broken; with
/// `on_pool`, on a thread of the pool (the threaded module), which must not leave the caller
/// waiting forever.
#[wasm_bindgen(js_name = __panicForTest)]
pub fn panic_for_test(on_pool: Option<bool>) {
    if on_pool == Some(true) {
        crate::kernels::on_pool(|| panic!("deliberate panic on a pool thread for a test"));
    }
    panic!("deliberate panic for a test");
}

/// Search latency and recall over `n` random 384-d unit vectors (the generator and seeds of
/// benches/index.rs). With a snapshot (built natively), the base is loaded from it; without,
/// it is built here and the build time reported.
#[wasm_bindgen(js_name = __benchIndex)]
pub fn bench_index(
    n: usize,
    snapshot: Option<Vec<u8>>,
    queries: usize,
    vectors: Option<Vec<f32>>,
) -> Result<JsValue, JsValue> {
    let now = super::options::now_ms;
    let real = vectors.is_some();
    let (data, qs) = match vectors {
        // Real embeddings from benches/index.rs (REAL=n): the first n are the data, the rest
        // are queries.
        Some(flat) => {
            let mut all: Vec<Vec<f32>> = flat.chunks_exact(384).map(<[f32]>::to_vec).collect();
            if all.len() < n + 1 {
                return Err(JsValue::from_str("fewer vectors than n"));
            }
            let mut qs = all.split_off(n);
            qs.truncate(queries);
            (all, qs)
        }
        None => {
            let data = random_unit(n, 384, 7);
            let qs = noisy_queries(&data, queries, 98);
            (data, qs)
        }
    };
    let nq = qs.len();
    let live: Vec<(u64, Vector)> = data
        .into_iter()
        .enumerate()
        .map(|(i, v)| (i as u64, Vector::new(v)))
        .collect();
    let t = now();
    let (idx, state) = match &snapshot {
        Some(bytes) => VectorIndex::open(384, IndexOptions::default(), live, Some(bytes)),
        None => VectorIndex::open(384, IndexOptions::default(), live, None),
    };
    let open_ms = now() - t;
    if snapshot.is_some() && state != SnapshotState::Loaded {
        return Err(JsValue::from_str(&format!("snapshot not used: {state:?}")));
    }
    let (fast, slow, recall) = measure(&idx, &qs, 10, &now);
    let row = serde_json::json!({
        "bench": "index", "where": "browser", "data": if real { "real" } else { "random" },
        "queries": if real { "other lines" } else { "near the data" }, "query_count": nq, "n": n, "dim": 384,
        "ef_search": idx.ef_search(),
        "source": if snapshot.is_some() { "snapshot" } else { "built in the browser" },
        "open_ms": open_ms,
        "p50_ms": quantile(&fast, 0.5), "p99_ms": quantile(&fast, 0.99),
        "exact_p50_ms": quantile(&slow, 0.5), "exact_p99_ms": quantile(&slow, 0.99),
        "recall10": recall,
    });
    Ok(JsValue::from_str(&row.to_string()))
}

/// Bytes of keys and values stored for knowledge base `name`, and its chunk count.
#[wasm_bindgen(js_name = __storedBytes)]
pub async fn stored_bytes(name: String) -> Result<JsValue, JsValue> {
    let store = IdbStore::open(&name).await.map_err(|e| to_js_error(&e))?;
    let c = store.load().await.map_err(|e| to_js_error(&e))?;
    store.close();
    let size = |l: &Vec<(String, Vec<u8>)>| l.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
    let row = serde_json::json!({
        "meta": size(&c.meta), "docs": size(&c.docs), "chunks": size(&c.chunks), "chunk_count": c.chunks.len(),
    });
    Ok(JsValue::from_str(&row.to_string()))
}

/// Bytes of the module's linear memory (what the CPU backend's weights live in).
#[wasm_bindgen(js_name = __wasmMemoryBytes)]
pub fn wasm_memory_bytes() -> f64 {
    let memory: js_sys::WebAssembly::Memory = wasm_bindgen::memory().unchecked_into();
    let buffer: js_sys::ArrayBuffer = memory.buffer().unchecked_into();
    buffer.byte_length() as f64
}

/// Milliseconds of `reps` many-row products of a random `rows × cols` Q8_0 matrix with `m`
/// activation rows (the embedder's kernel alone, for `www/bench.js`'s kernel figures).
#[wasm_bindgen(js_name = __benchMatmul)]
pub fn bench_matmul(rows: usize, cols: usize, m: usize, reps: usize) -> f64 {
    use crate::formats::GgmlType;
    use crate::kernels::QMatrix;
    let blocks = rows * cols / 32;
    let mut bytes = Vec::with_capacity(blocks * 34);
    let mut seed = 1u32;
    for _ in 0..blocks {
        bytes.extend_from_slice(&[0x00, 0x20]); // scale 2^-7 as f16... any finite value
        for _ in 0..32 {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
            bytes.push((seed >> 16) as u8);
        }
    }
    let w = QMatrix::new(GgmlType::Q8_0, rows, cols, std::sync::Arc::new(bytes), 0).unwrap();
    let x: Vec<f32> = (0..m * cols)
        .map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0)
        .collect();
    let mut y = vec![0f32; m * rows];
    let t = super::options::now_ms();
    for _ in 0..reps {
        w.matmul(&x, m, &mut y);
    }
    super::options::now_ms() - t
}
