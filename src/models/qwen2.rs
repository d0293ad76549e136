//! Qwen2 and Qwen2.5 (Qwen team, 2024): Llama's layout with biases on the q, k and v
//! projections, and rotary embedding over the two halves of each head.

use super::decoder::{ArchKeys, DecoderConfig, RopeStyle};
use crate::error::Result;
use crate::formats::Gguf;

/// The config of a GGUF `qwen2` model.
pub fn config(g: &Gguf) -> Result<DecoderConfig> {
    let mut c = ArchKeys { g, arch: "qwen2" }.common(RopeStyle::Halves)?;
    c.qkv_bias = true;
    Ok(c)
}
