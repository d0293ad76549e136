//! Model file formats: safetensors, the GGUF container, and ggml's quantized blocks.

pub(crate) mod gguf;
pub(crate) mod quant;
pub(crate) mod safetensors;

pub use gguf::{Gguf, TensorInfo, Value as GgufValue};
pub use quant::{GgmlType, dequantize, dequantize_row};
pub use safetensors::Weights;

/// A model file given as bytes.
#[derive(ts_rs::TS)]
#[ts(type = "ArrayBuffer | Uint8Array")]
pub struct ModelBytes;
