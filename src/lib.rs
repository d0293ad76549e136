//! localrag: private retrieval-augmented generation that runs inside a web page.
//!
//! The crate has a platform-free core (everything but [`web`]) that is tested natively, and a
//! thin browser layer ([`web`], wasm32 only) that is the only code touching `web-sys`/`js-sys`.

pub mod config;
pub mod device;
pub mod embedder;
pub mod error;
#[cfg(not(target_arch = "wasm32"))]
pub mod fs;
pub mod models;
pub mod weights;

#[cfg(target_arch = "wasm32")]
pub mod web;

pub use config::{BertConfig, Pooling};
pub use device::BackendKind;
pub use embedder::{Embedder, EmbedderFiles, EmbedderOptions, cosine};
pub use error::{Error, Result};
