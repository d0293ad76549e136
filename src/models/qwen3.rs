//! Qwen3 (Qwen team, 2025): Llama's layout without projection biases, with an RMSNorm of each
//! query and key head before the rotation (over the two halves of each head), and heads that
//! need not divide the hidden size.

use super::decoder::{ArchKeys, DecoderConfig, RopeStyle};
use crate::error::Result;
use crate::formats::Gguf;

/// The config of a GGUF `qwen3` model.
pub fn config(g: &Gguf) -> Result<DecoderConfig> {
    let mut c = ArchKeys { g, arch: "qwen3" }.common(RopeStyle::Halves)?;
    c.qk_norm = true;
    Ok(c)
}
