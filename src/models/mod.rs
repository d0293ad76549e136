//! Model architectures, one per file (or folder): the forward pass and how its weights load.

pub mod bert;
pub mod llama;
