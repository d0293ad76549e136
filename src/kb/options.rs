//! The knobs of a knowledge base: as Rust holds them ([`KbOptions`]) and as `open` takes them
//! ([`KnowledgeBaseOptions`], checked by [`KnowledgeBaseOptions::validate`] before any model is
//! loaded and resolved against the model by [`KnowledgeBaseOptions::resolve`]).

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::error::{Error, Result};
use crate::options::{Options, composite_options};
use crate::retrieval::IndexOptions;
use crate::text::ChunkOptions;

/// Knobs of a knowledge base.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct KbOptions {
    pub chunk: ChunkOptions,
    pub index: IndexOptions,
    /// What the embedder and BM25 read besides a chunk's own text.
    pub context: PassageContext,
}

/// What the embedder and BM25 read besides a chunk's own text (the stored passage, its offsets
/// and what search returns are the chunk's text alone). A knowledge base keeps the one it was
/// made with (its manifest says which), since its vectors were embedded that way.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PassageContext {
    /// The chunk's text only (knowledge bases made before the context existed).
    None,
    /// The heading path above the chunk, then its text.
    Headings,
    /// The document's title and the heading path, then the text: the default, measured to
    /// help on every evaluation set (BENCHMARKS.md "Section context").
    #[default]
    TitleAndHeadings,
}

impl PassageContext {
    pub fn is_none(&self) -> bool {
        *self == PassageContext::None
    }
}

/// The options of a knowledge base that `open` and `import` take.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, TS)]
#[serde(rename_all = "camelCase", default)]
pub struct KnowledgeBaseOptions {
    /// Most tokens per chunk (default 200; at most the model's maxSeqLength - 2).
    #[ts(optional)]
    pub chunk_tokens: Option<usize>,
    /// Tokens of whole sentences repeated between consecutive chunks (default 24).
    #[ts(optional)]
    pub chunk_overlap: Option<usize>,
    /// Ask the browser to keep this origin's storage (`navigator.storage.persist()`). Default
    /// true.
    #[ts(optional)]
    pub persist: Option<bool>,
    /// Advanced: below this many chunks search is exact and no HNSW is built (default 4096).
    #[ts(optional)]
    pub exact_below: Option<usize>,
    /// Advanced: HNSW candidate list, 16..2048 (default 64), fixed when the base is (re)built.
    #[ts(optional)]
    pub ef_search: Option<usize>,
}

/// Bounds of the numeric options.
const CHUNK_TOKENS: (usize, usize) = (8, 100_000);
const EF_SEARCH: (usize, usize) = (16, 2048);
const EXACT_BELOW_MAX: usize = 1_000_000_000;

fn within(name: &str, v: Option<usize>, (min, max): (usize, usize)) -> Result<()> {
    match v {
        Some(n) if n < min || n > max => Err(Error::Input(format!(
            "{name} must be an integer from {min} to {max}, got {n}"
        ))),
        _ => Ok(()),
    }
}

impl KnowledgeBaseOptions {
    /// The checks that need no model (run before anything is downloaded).
    pub fn validate(&self) -> Result<()> {
        within("chunkTokens", self.chunk_tokens, CHUNK_TOKENS)?;
        within("chunkOverlap", self.chunk_overlap, (0, CHUNK_TOKENS.1))?;
        within("exactBelow", self.exact_below, (0, EXACT_BELOW_MAX))?;
        within("efSearch", self.ef_search, EF_SEARCH)
    }

    /// The options for a model that reads `max_seq_length` tokens (special tokens included), of
    /// which a passage may fill `passage_tokens` (the rest: special tokens and the passage
    /// prompt). Chunks default to 200 tokens, or about four fifths of a longer model's length
    /// (400 for the 512 of multilingual-e5-small), never past what a passage may fill.
    pub fn resolve(&self, max_seq_length: usize, passage_tokens: usize) -> Result<KbOptions> {
        self.validate()?;
        let mut chunk = ChunkOptions::default();
        let default = (max_seq_length * 25 / 32).max(chunk.max_tokens);
        chunk.max_tokens = self.chunk_tokens.unwrap_or(default.min(passage_tokens));
        if let Some(n) = self.chunk_overlap {
            chunk.overlap = n;
        }
        chunk.check(passage_tokens)?;
        let mut index = IndexOptions::default();
        if let Some(n) = self.exact_below {
            index.exact_below = n.max(2);
        }
        if let Some(n) = self.ef_search {
            index.ef_search = n;
        }
        Ok(KbOptions {
            chunk,
            index,
            ..KbOptions::default()
        })
    }

    /// Whether to ask the browser to keep the origin's storage.
    pub fn persist(&self) -> bool {
        self.persist.unwrap_or(true)
    }
}

impl Options for KnowledgeBaseOptions {
    fn validate(&self) -> Result<()> {
        KnowledgeBaseOptions::validate(self)
    }
}

/// The options of the raw `KnowledgeBase.import`: the knowledge base's, and whether to replace
/// one that holds documents.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, TS)]
#[serde(rename_all = "camelCase", default)]
#[ts(rename = "ImportKnowledgeBaseOptions")]
pub struct ImportOptions {
    /// Replace a knowledge base of that name that holds documents (default false: E_INPUT).
    #[ts(as = "Option<_>", optional)]
    pub overwrite: bool,
    /// Read from the same object.
    #[serde(skip_deserializing)]
    #[ts(skip)]
    pub kb: KnowledgeBaseOptions,
}

composite_options!(ImportOptions { kb: KnowledgeBaseOptions }, validate: |o: &ImportOptions| o.kb.validate());

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_checked_and_defaults_follow_the_model() {
        let o = |f: fn(&mut KnowledgeBaseOptions)| {
            let mut o = KnowledgeBaseOptions::default();
            f(&mut o);
            o
        };
        for bad in [
            o(|o| o.chunk_tokens = Some(7)),
            o(|o| o.ef_search = Some(15)),
            o(|o| o.ef_search = Some(2049)),
            o(|o| o.chunk_overlap = Some(100_001)),
        ] {
            assert_eq!(bad.validate().unwrap_err().code(), "E_INPUT", "{bad:?}");
        }
        let r = KnowledgeBaseOptions::default().resolve(128, 126).unwrap();
        assert_eq!(r.chunk.max_tokens, 126);
        let r = KnowledgeBaseOptions::default().resolve(256, 254).unwrap();
        assert_eq!(r.chunk.max_tokens, 200);
        // A 512-token model with a 3-token passage prompt.
        let r = KnowledgeBaseOptions::default().resolve(512, 507).unwrap();
        assert_eq!(r.chunk.max_tokens, 400);
        let e = o(|o| o.chunk_tokens = Some(508))
            .resolve(512, 507)
            .unwrap_err();
        assert!(e.message().contains("507"), "{e}");
        assert_eq!(r.index, IndexOptions::default());
        let too_long = o(|o| o.chunk_tokens = Some(300));
        assert!(too_long.validate().is_ok());
        assert_eq!(too_long.resolve(256, 254).unwrap_err().code(), "E_INPUT");
        let r = o(|o| {
            o.exact_below = Some(0);
            o.ef_search = Some(32);
        })
        .resolve(256, 254)
        .unwrap();
        assert_eq!((r.index.exact_below, r.index.ef_search), (2, 32));
    }
}
