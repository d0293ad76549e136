//! Dequantization of every block type against PyPI `gguf`'s reference
//! (`tests/reference/make_quant_golden.py`): random blocks, and the first rows of real tensors
//! of the test models.

use crate::common;

use base64::Engine;
use localrag::{GgmlType, Gguf, dequantize};
use serde::Deserialize;

#[derive(Deserialize)]
struct Random {
    n: usize,
    bytes: String,
    values: String,
}

#[derive(Deserialize)]
struct Real {
    file: String,
    tensor: String,
    #[serde(rename = "type")]
    kind: String,
    cols: usize,
    values: String,
}

#[derive(Deserialize)]
struct Golden {
    random: std::collections::BTreeMap<String, Random>,
    real: Vec<Real>,
}

fn golden() -> Golden {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/quant_golden.json"
    );
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn b64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

fn floats(s: &str) -> Vec<f32> {
    b64(s)
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn kind(name: &str) -> GgmlType {
    GgmlType::READABLE
        .into_iter()
        .find(|t| t.name() == name)
        .unwrap_or_else(|| panic!("{name} is not readable"))
}

/// The largest difference, relative to the value's magnitude (at least 1).
fn worst(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() / x.abs().max(1.0))
        .fold(0.0, f32::max)
}

#[test]
fn random_blocks_of_every_type_match_the_reference() {
    let g = golden();
    let types: Vec<String> = GgmlType::READABLE
        .iter()
        .map(|t| t.name())
        .filter(|n| n != "F32")
        .collect();
    for name in &types {
        let r = g
            .random
            .get(name)
            .unwrap_or_else(|| panic!("no golden blocks of {name}"));
        let got = dequantize(kind(name), &b64(&r.bytes), r.n).unwrap();
        let want = floats(&r.values);
        let w = worst(&got, &want);
        assert!(w <= 1e-6, "{name}: differs from gguf by {w}");
    }
}

#[test]
fn real_tensors_match_the_reference() {
    let g = golden();
    let files = [
        ("smollm2", common::gguf_path()),
        ("gemma3", common::gemma_path()),
    ];
    let mut checked = std::collections::BTreeSet::new();
    for (label, path) in files {
        let bytes = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (make test-models)", path.display()));
        let gguf = Gguf::parse(&bytes).unwrap();
        for r in g.real.iter().filter(|r| r.file == label) {
            let info = gguf.tensor(&r.tensor).unwrap();
            assert_eq!(info.kind, kind(&r.kind), "{}", r.tensor);
            let rows = 2 * r.cols;
            let row_bytes = info.kind.row_bytes(r.cols).unwrap();
            let data = &gguf.tensor_bytes(info).unwrap()[..2 * row_bytes];
            let got = dequantize(info.kind, data, rows).unwrap();
            let w = worst(&got, &floats(&r.values));
            assert!(w <= 1e-6, "{label} {}: differs from gguf by {w}", r.tensor);
            checked.insert(r.kind.clone());
        }
    }
    // The real files hold these types (the others are covered by random blocks).
    for t in ["Q8_0", "Q4_1", "Q5_0", "Q4_K", "Q6_K"] {
        assert!(checked.contains(t), "no real {t} tensor checked");
    }
}
