//! A small deterministic embedder for the knowledge-base tests and the fuzzing run: no model.

use std::cell::Cell;

use localrag::{Embed, IndexOptions, KbOptions, Result, Role, TokenSpans};

/// Bag of hashed words, normalised. Counts the texts it embeds.
pub struct HashEmbedder {
    pub dim: usize,
    pub salt: u64,
    pub calls: Cell<usize>,
}

impl HashEmbedder {
    pub fn new() -> Self {
        HashEmbedder {
            dim: 64,
            salt: 0,
            calls: Cell::new(0),
        }
    }
}

impl TokenSpans for HashEmbedder {
    fn token_spans(&self, text: &str) -> Result<Vec<(usize, usize)>> {
        let mut out = Vec::new();
        let mut start = None;
        for (i, c) in text.char_indices() {
            if c.is_alphanumeric() {
                start.get_or_insert(i);
            } else if let Some(s) = start.take() {
                out.push((s, i));
            }
        }
        if let Some(s) = start {
            out.push((s, text.len()));
        }
        Ok(out)
    }
}

impl Embed for HashEmbedder {
    fn fingerprint(&self) -> String {
        format!("hash-{}-{}", self.dim, self.salt)
    }
    fn dim(&self) -> usize {
        self.dim
    }
    fn max_seq_length(&self) -> usize {
        256
    }
    async fn embed_texts(&self, texts: &[&str], _role: Role) -> Result<Vec<Vec<f32>>> {
        self.calls.set(self.calls.get() + texts.len());
        Ok(texts
            .iter()
            .map(|t| {
                let mut v = vec![0f32; self.dim];
                for w in t
                    .split(|c: char| !c.is_alphanumeric())
                    .filter(|w| !w.is_empty())
                {
                    let mut h: u64 = 0xcbf29ce484222325 ^ self.salt;
                    for b in w.to_lowercase().bytes() {
                        h = (h ^ b as u64).wrapping_mul(0x100000001b3);
                    }
                    v[(h % self.dim as u64) as usize] += 1.0;
                }
                v[0] += 0.01;
                let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                v.into_iter().map(|x| x / n).collect()
            })
            .collect())
    }
}

/// Knowledge-base options whose index builds its HNSW base from `exact_below` vectors and
/// compacts its mutable segment from `mutable_min`: small, so that tests reach both.
pub fn small_index_options(exact_below: usize, mutable_min: usize) -> KbOptions {
    KbOptions {
        index: IndexOptions {
            exact_below,
            mutable_min,
            ..Default::default()
        },
        ..Default::default()
    }
}
