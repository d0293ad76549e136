//! Model architectures, one per file (or folder): the forward pass and how its weights load.

pub mod bert;
pub mod decoder;
pub mod gemma3;
pub mod llama;
pub mod qwen2;
pub mod qwen3;
pub mod source;
