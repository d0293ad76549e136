//! Llama (Touvron et al., 2023) and the models built like it: SmolLM2, TinyLlama, Llama 3.x.
//!
//! ```text
//! ids ──► token embedding
//!     ──► N × [ x + Attn(RMSNorm(x)) ─► x + MLP(RMSNorm(x)) ]
//!     ──► RMSNorm ──► logits = h · Eᵀ (the output matrix, often the embedding itself)
//! Attn: q, k, v projections; rotary position embedding on q and k; grouped-query attention;
//!       causal softmax; output projection.          MLP: down(silu(gate(x)) ⊙ up(x)) (SwiGLU)
//! ```
//!
//! **Rotary layout.** Hugging Face checkpoints rotate the two halves of each head
//! (`rotate_half`). llama.cpp's converter permutes the rows of the q and k weights so that GGUF
//! files rotate adjacent pairs instead, so GGUF llama uses [`RopeStyle::Pairs`] and safetensors
//! [`RopeStyle::Halves`], each on its weights as stored. Llama 3.1+ scale the rotary
//! frequencies by the factors of the `rope_freqs.weight` tensor (read with the weights).

use super::decoder::{ArchKeys, DecoderConfig, RopeStyle};
use crate::error::{Error, Result};
use crate::formats::Gguf;

/// The config of a GGUF `llama` model.
pub fn config(g: &Gguf) -> Result<DecoderConfig> {
    ArchKeys { g, arch: "llama" }.common(RopeStyle::Pairs)
}

/// The config of a Hugging Face `LlamaForCausalLM` (`config.json`).
pub fn config_from_json(json: &[u8]) -> Result<DecoderConfig> {
    let v: serde_json::Value = serde_json::from_slice(json)
        .map_err(|e| Error::Config(format!("config.json is not valid JSON: {e}")))?;
    let u = |k: &str| {
        v.get(k)
            .and_then(|x| x.as_u64())
            .map(|x| x as usize)
            .ok_or_else(|| Error::Config(format!("config.json: `{k}` is missing")))
    };
    let f = |k: &str, default: f64| v.get(k).and_then(|x| x.as_f64()).unwrap_or(default) as f32;
    let num_heads = u("num_attention_heads")?;
    let hidden_size = u("hidden_size")?;
    let head_dim = u("head_dim").unwrap_or(hidden_size / num_heads.max(1));
    let rope_base = f("rope_theta", 10_000.0);
    Ok(DecoderConfig {
        arch: "llama".into(),
        vocab_size: u("vocab_size")?,
        hidden_size,
        intermediate_size: u("intermediate_size")?,
        num_layers: u("num_hidden_layers")?,
        num_heads,
        num_kv_heads: u("num_key_value_heads").unwrap_or(num_heads),
        head_dim,
        rms_eps: f("rms_norm_eps", 1e-5),
        context_length: u("max_position_embeddings")?,
        rope_style: RopeStyle::Halves,
        rope_base,
        rope_base_local: rope_base,
        sliding_window: None,
        global_every: 1,
        qkv_bias: false,
        qk_norm: false,
        post_norms: false,
        activation: super::decoder::Activation::Silu,
        embedding_scale: None,
        attention_scale: 1.0 / (head_dim as f32).sqrt(),
    })
}

/// Reorders the rows of a Hugging Face q or k weight (`[heads·d, in]`, row-major) so that
/// rotating adjacent pairs gives what `rotate_half` gives on the original: within each head, row
/// `j·d/2 + i` (half `j`, index `i`) moves to row `2i + j`. This is the permutation llama.cpp's
/// converter applies.
pub fn permute_for_pairs(w: &[f32], heads: usize, inp: usize) -> Vec<f32> {
    let rows = w.len() / inp;
    let d = rows / heads;
    let half = d / 2;
    let mut out = vec![0.0; w.len()];
    for h in 0..heads {
        for j in 0..2 {
            for i in 0..half {
                let from = h * d + j * half + i;
                let to = h * d + 2 * i + j;
                out[to * inp..(to + 1) * inp].copy_from_slice(&w[from * inp..(from + 1) * inp]);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permutation_moves_halves_to_pairs() {
        // One head of d = 4 over in = 1: rows [a0, a1, b0, b1] (halves a, b) → [a0, b0, a1, b1].
        let w = [10.0, 11.0, 20.0, 21.0];
        assert_eq!(permute_for_pairs(&w, 1, 1), vec![10.0, 20.0, 11.0, 21.0]);
        // Two heads, in = 2: each head permuted on its own, columns kept.
        let w: Vec<f32> = (0..16).map(|x| x as f32).collect();
        let p = permute_for_pairs(&w, 2, 2);
        assert_eq!(&p[..8], &[0.0, 1.0, 4.0, 5.0, 2.0, 3.0, 6.0, 7.0]);
        assert_eq!(&p[8..], &[8.0, 9.0, 12.0, 13.0, 10.0, 11.0, 14.0, 15.0]);
    }
}
