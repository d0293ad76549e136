//! Text before it is indexed: the lexical analyzer, the chunker and the document structure.

mod analyze;
mod chunk;
mod structure;
mod utf16;

pub use analyze::analyze;
pub use chunk::{ChunkOptions, ChunkSpan, TokenSpans, chunk_text};
pub use structure::{Heading, Layout, Location, PageStart, Structure};
pub use utf16::{utf16_len, utf16_offsets};
