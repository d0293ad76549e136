//! Shared by the native integration tests: the golden fixture and the model folder.
#![allow(dead_code)]

use std::path::PathBuf;

use serde::Deserialize;

#[derive(Deserialize)]
pub struct Case {
    pub text: String,
    pub ids: Vec<u32>,
    pub embedding: Vec<f32>,
}

#[derive(Deserialize)]
pub struct Golden {
    pub model_sha256: String,
    pub max_seq_length: usize,
    pub dim: usize,
    pub cases: Vec<Case>,
}

pub fn golden() -> Golden {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/embeddings.json");
    serde_json::from_slice(&std::fs::read(path).expect("golden fixture")).expect("fixture JSON")
}

/// The model folder `make assets` fills (override with LOCALRAG_MODEL_DIR).
pub fn model_dir() -> PathBuf {
    std::env::var_os("LOCALRAG_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("www/models/all-MiniLM-L6-v2")
        })
}
