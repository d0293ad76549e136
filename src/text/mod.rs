//! Text before it is indexed: the lexical analyzer and the chunker.

mod analyze;
mod chunk;
mod utf16;

pub use analyze::analyze;
pub use chunk::{ChunkOptions, ChunkSpan, TokenSpans, chunk_text};
pub use utf16::utf16_len;
