//! localrag: private retrieval-augmented generation that runs inside a web page.
//!
//! The crate has a platform-free core (everything but [`web`]) that is tested natively, and a
//! thin browser layer ([`web`], wasm32 only) that is the only code touching `web-sys`/`js-sys`.

pub mod archive;
pub mod chat;
pub mod chunk;
pub mod config;
pub mod device;
pub mod embedder;
pub mod error;
pub mod eval;
#[cfg(not(target_arch = "wasm32"))]
pub mod fs;
pub mod generator;
pub mod gguf;
pub mod index;
pub mod kb;
pub mod lexical;
pub mod models;
pub mod rag;
pub mod retrieve;
pub mod sample;
pub mod store;
pub mod weights;

#[cfg(target_arch = "wasm32")]
pub mod web;

pub use config::{BertConfig, Pooling};
pub use device::BackendKind;
pub use embedder::{Embedder, EmbedderFiles, EmbedderOptions, cosine};
pub use error::{Error, Result};
pub use generator::{GenerateParams, Generator};
pub use kb::{DocInput, Embed, Filter, Hit, KbOptions, KnowledgeBase, SearchOptions};
pub use retrieve::Mode;
pub use store::{MemoryStore, Store};
