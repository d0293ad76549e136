//! Llama (Touvron et al., 2023) and the small models built like it (SmolLM2): a decoder-only
//! transformer.
//!
//! ```text
//! ids ──► token embedding
//!     ──► N × [ x + Attn(RMSNorm(x)) ─► x + MLP(RMSNorm(x)) ]
//!     ──► RMSNorm ──► logits = h · Eᵀ (the output matrix, often the embedding itself)
//! Attn: q, k, v projections; rotary position embedding on q and k; grouped-query attention
//!       (several query heads share one key/value head); causal softmax; output projection.
//! MLP:  down(silu(gate(x)) ⊙ up(x))   (SwiGLU)
//! ```
//!
//! **Rotary layout.** Hugging Face checkpoints rotate the two halves of each head
//! (`rotate_half`: element `i` pairs with `i + d/2`). llama.cpp's converter permutes the rows of
//! the q and k weights so that GGUF files rotate adjacent pairs (`2i`, `2i+1`) instead. This file
//! rotates adjacent pairs and uses GGUF weights as they are; safetensors weights get the same
//! row permutation at load ([`permute_for_pairs`]). The reference script computes with
//! `rotate_half` on un-permuted weights, so the parity tests prove the two agree.
//!
//! The forward pass keeps a key/value cache: the prompt is processed in one pass (prefill),
//! then one token per step. It returns the last position's logits; sampling happens on the CPU.

mod config;
mod load;
mod model;

pub use config::LlamaConfig;
pub use load::permute_for_pairs;
pub use model::{KvCache, Llama};

#[cfg(test)]
mod tests {
    use super::load::transpose;
    use super::*;
    use crate::formats::Gguf;

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

    /// A tiny random Llama written twice: as Hugging Face safetensors (q/k rows in
    /// `rotate_half` order, `model.*` names) and as GGUF (q/k rows permuted the way llama.cpp's
    /// converter does, `blk.*` names, F32). Both must give the same logits: this proves the
    /// safetensors path undoes the layout difference.
    #[test]
    fn safetensors_and_gguf_of_the_same_weights_agree() {
        use crate::formats::gguf::tests::Writer;
        use safetensors::Dtype;
        use safetensors::tensor::TensorView;
        use std::collections::HashMap;

        let (vocab, h, heads, kv_heads, ff, layers) =
            (32usize, 16usize, 4usize, 2usize, 24usize, 2usize);
        let d = h / heads;
        let mut seed = 12345u64;
        let mut rand = |n: usize| -> Vec<f32> {
            (0..n)
                .map(|_| {
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    ((seed >> 33) as f32 / (1u64 << 31) as f32 - 0.5) * 0.8
                })
                .collect()
        };
        // name → (HF [out, in] values, shape)
        let mut hf: Vec<(String, Vec<f32>, Vec<usize>)> = Vec::new();
        hf.push((
            "model.embed_tokens.weight".into(),
            rand(vocab * h),
            vec![vocab, h],
        ));
        hf.push((
            "model.norm.weight".into(),
            rand(h).iter().map(|x| 1.0 + x).collect(),
            vec![h],
        ));
        hf.push(("lm_head.weight".into(), rand(vocab * h), vec![vocab, h]));
        for l in 0..layers {
            let p = format!("model.layers.{l}");
            for (n, out, inp) in [
                ("self_attn.q_proj", h, h),
                ("self_attn.k_proj", kv_heads * d, h),
                ("self_attn.v_proj", kv_heads * d, h),
                ("self_attn.o_proj", h, h),
                ("mlp.gate_proj", ff, h),
                ("mlp.up_proj", ff, h),
                ("mlp.down_proj", h, ff),
            ] {
                hf.push((format!("{p}.{n}.weight"), rand(out * inp), vec![out, inp]));
            }
            for n in ["input_layernorm", "post_attention_layernorm"] {
                hf.push((
                    format!("{p}.{n}.weight"),
                    rand(h).iter().map(|x| 1.0 + x).collect(),
                    vec![h],
                ));
            }
        }
        let bytes: Vec<Vec<u8>> = hf
            .iter()
            .map(|(_, v, _)| v.iter().flat_map(|x| x.to_le_bytes()).collect())
            .collect();
        let views: HashMap<String, TensorView<'_>> = hf
            .iter()
            .zip(&bytes)
            .map(|((n, _, shape), b)| {
                (
                    n.clone(),
                    TensorView::new(Dtype::F32, shape.clone(), b).unwrap(),
                )
            })
            .collect();
        let st = safetensors::serialize(views, None).unwrap();

        let build_gguf = |permute: bool| -> Vec<u8> {
            let mut w = Writer::new();
            w.kv_str("general.architecture", "llama");
            for (k, v) in [
                ("llama.block_count", layers),
                ("llama.context_length", 64),
                ("llama.embedding_length", h),
                ("llama.feed_forward_length", ff),
                ("llama.attention.head_count", heads),
                ("llama.attention.head_count_kv", kv_heads),
                ("llama.vocab_size", vocab),
            ] {
                w.kv_u32(k, v as u32);
            }
            let gguf_name = |hf_name: &str| -> String {
                let n = hf_name
                    .replace("model.embed_tokens", "token_embd")
                    .replace("model.norm", "output_norm")
                    .replace("lm_head", "output")
                    .replace("model.layers.", "blk.")
                    .replace("self_attn.q_proj", "attn_q")
                    .replace("self_attn.k_proj", "attn_k")
                    .replace("self_attn.v_proj", "attn_v")
                    .replace("self_attn.o_proj", "attn_output")
                    .replace("mlp.gate_proj", "ffn_gate")
                    .replace("mlp.up_proj", "ffn_up")
                    .replace("mlp.down_proj", "ffn_down")
                    .replace("post_attention_layernorm", "ffn_norm")
                    .replace("input_layernorm", "attn_norm");
                n
            };
            for (n, v, shape) in &hf {
                let v = if permute && n.contains("q_proj") {
                    permute_for_pairs(v, heads, h)
                } else if permute && n.contains("k_proj") {
                    permute_for_pairs(v, kv_heads, h)
                } else {
                    v.clone()
                };
                let dims: Vec<u64> = shape.iter().rev().map(|&x| x as u64).collect();
                let b: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                w.tensor(&gguf_name(n), &dims, 0, &b);
            }
            w.finish()
        };
        let gguf_bytes = build_gguf(true);

        let device = crate::device::cpu_device();
        let g = Gguf::parse(&gguf_bytes).unwrap();
        let from_gguf = Llama::from_gguf(&g, &device).unwrap();
        let config = from_gguf.config().clone();
        let from_st = Llama::from_safetensors(&st, config, &device).unwrap();
        let ids = [3u32, 17, 5, 30, 1, 8];
        let run = |m: &Llama| {
            let mut cache = m.new_cache();
            let mut out = pollster::block_on(m.logits(&ids[..4], &mut cache)).unwrap();
            out.extend(pollster::block_on(m.logits(&ids[4..5], &mut cache)).unwrap());
            out.extend(pollster::block_on(m.logits(&ids[5..], &mut cache)).unwrap());
            out
        };
        let (a, b) = (run(&from_gguf), run(&from_st));
        let worst = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 1e-4, "logits differ by {worst}");
        // And the permutation matters: a GGUF written without it gives other logits.
        let unpermuted = build_gguf(false);
        let g2 = Gguf::parse(&unpermuted).unwrap();
        let c = run(&Llama::from_gguf(&g2, &device).unwrap());
        let diff = a
            .iter()
            .zip(&c)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max);
        assert!(diff > 1e-2, "the rotary layout made no difference ({diff})");

        // Prefill in one pass equals token-by-token decoding (the KV cache and the mask).
        let mut cache = from_gguf.new_cache();
        let whole = pollster::block_on(from_gguf.logits(&ids, &mut cache)).unwrap();
        let mut cache = from_gguf.new_cache();
        let mut last = Vec::new();
        for id in ids {
            last = pollster::block_on(from_gguf.logits(&[id], &mut cache)).unwrap();
        }
        let worst = whole
            .iter()
            .zip(&last)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 1e-4, "prefill and step-by-step differ by {worst}");
        assert_eq!(cache.len(), ids.len());
    }

    #[test]
    fn transpose_is_correct() {
        assert_eq!(
            transpose(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 2, 3),
            vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]
        );
    }
}
