//! Gemma 3 (Gemma team, 2025), as llama.cpp reads its GGUF files:
//!
//! ```text
//! x = embedding · √hidden
//! N × [ h = x + PostNorm(Attn(Norm(x)));  x = h + PostNorm(MLP(Norm(h))) ]   ("sandwich" norms)
//! logits = Norm(x) · Eᵀ                                                       (tied embedding)
//! Attn: RMSNorm of each query and key head, then rotary embedding (two halves); five of every
//!       six layers attend over a sliding window (512 positions for the 270M model) with rotary
//!       base 10 000, the sixth over everything with the file's base (1 000 000).
//! MLP:  down(gelu_tanh(gate(x)) ⊙ up(x))   (GeGLU)
//! ```
//! The converter stores the norms' weights with Gemma's `1 +` already added, so every norm here
//! is a plain RMSNorm.

use super::decoder::{Activation, ArchKeys, DecoderConfig, RopeStyle};
use crate::error::Result;
use crate::formats::Gguf;

/// Gemma 3's layers alternate five sliding-window layers and one global layer.
const GLOBAL_EVERY: usize = 6;
/// The rotary base of the sliding-window layers (not in the file).
const ROPE_BASE_LOCAL: f32 = 10_000.0;

/// The config of a GGUF `gemma3` model.
pub fn config(g: &Gguf) -> Result<DecoderConfig> {
    let keys = ArchKeys { g, arch: "gemma3" };
    let mut c = keys.common(RopeStyle::Halves)?;
    c.rope_base = keys.f32_or("rope.freq_base", 1_000_000.0);
    c.rope_base_local = ROPE_BASE_LOCAL;
    c.sliding_window = Some(keys.usize_or("attention.sliding_window", 512));
    c.global_every = GLOBAL_EVERY;
    c.qk_norm = true;
    c.post_norms = true;
    c.activation = Activation::GeluTanh;
    c.embedding_scale = Some((c.hidden_size as f32).sqrt());
    // Scaled by the head size (`query_pre_attn_scalar` = head_dim for the released sizes).
    c.attention_scale = 1.0 / (c.head_dim as f32).sqrt();
    Ok(c)
}
