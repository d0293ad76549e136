//! Shared by the native integration tests: the golden fixture and the model folder.
#![allow(dead_code)]

pub mod e5;
pub mod hash;

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

/// Keeps every `step`-th of `cases` (the first, then every `step`-th after it) and one of the
/// longest (by `len`; the first of them): where a backend is slow (software Vulkan), the same
/// kernels on fewer inputs, the longest shape among them once. (The MiniLM fixture has five
/// texts cut at 256 tokens: one shape, and most of the work.)
pub fn every_nth_and_longest<T>(cases: &mut Vec<T>, step: usize, len: impl Fn(&T) -> usize) {
    let longest = cases.iter().map(&len).max().unwrap_or(0);
    let first_longest = cases.iter().position(|c| len(c) == longest);
    let mut n = 0;
    cases.retain(|_| {
        n += 1;
        (n - 1) % step == 0 || Some(n - 1) == first_longest
    });
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

/// Real English prose, deterministically: documentation comment lines (5+ words) from the
/// sources of the crates in Cargo.lock, which cargo has unpacked in its registry by the time the
/// tests build. Returns up to `n` distinct lines.
pub fn real_texts(n: usize) -> Vec<String> {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .expect("CARGO_HOME or HOME");
    let lock =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("Cargo.lock"))
            .expect("Cargo.lock");
    let mut packages = Vec::new();
    let mut name = None;
    for line in lock.lines() {
        if let Some(v) = line.strip_prefix("name = ") {
            name = Some(v.trim_matches('"').to_string());
        } else if let Some(v) = line.strip_prefix("version = ")
            && let Some(n) = name.take()
        {
            packages.push(format!("{n}-{}", v.trim_matches('"')));
        }
    }
    let mut roots: Vec<PathBuf> = std::fs::read_dir(home.join("registry/src"))
        .expect("cargo registry sources")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    roots.sort();
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for pkg in packages {
        let Some(dir) = roots.iter().map(|r| r.join(&pkg)).find(|p| p.is_dir()) else {
            continue;
        };
        let mut files = Vec::new();
        let mut stack = vec![dir];
        while let Some(d) = stack.pop() {
            let Ok(rd) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "rs") {
                    files.push(p);
                }
            }
        }
        files.sort();
        for f in files {
            let Ok(src) = std::fs::read_to_string(&f) else {
                continue;
            };
            for line in src.lines() {
                let t = line.trim_start();
                let Some(doc) = t.strip_prefix("///").or_else(|| t.strip_prefix("//!")) else {
                    continue;
                };
                let doc = doc.trim();
                if doc.len() < 30
                    || doc.split_whitespace().count() < 5
                    || doc.starts_with('#')
                    || doc.contains("```")
                {
                    continue;
                }
                if seen.insert(doc.to_string()) {
                    out.push(doc.to_string());
                    if out.len() == n {
                        return out;
                    }
                }
            }
        }
    }
    out
}

/// The generator model `make assets` fetches (override with LOCALRAG_GGUF).
pub fn gguf_path() -> PathBuf {
    std::env::var_os("LOCALRAG_GGUF")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("www/models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
        })
}

/// Where `make test-models` puts the test-only models (override with LOCALRAG_TEST_MODELS).
pub fn test_models_dir() -> PathBuf {
    std::env::var_os("LOCALRAG_TEST_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".cache/test-models"))
}

/// Gemma 3 270M Q4_K_M, the test model `make test-models` fetches.
pub fn gemma_path() -> PathBuf {
    test_models_dir().join("gemma3-270m/gemma-3-270m-q4_k_m.gguf")
}
