//! Native only: reading a model folder from disk into the byte buffers the core loads from.

use std::path::{Path, PathBuf};

use crate::embedder::EmbedderFiles;
use crate::error::{Error, Result};

/// The files of a sentence-transformers folder, read into memory.
pub struct ModelDir {
    pub model: Vec<u8>,
    pub config: Vec<u8>,
    pub tokenizer: Vec<u8>,
    pub pooling: Option<Vec<u8>>,
    pub sentence_config: Option<Vec<u8>>,
}

fn read(path: PathBuf) -> Result<Vec<u8>> {
    std::fs::read(&path).map_err(|e| Error::Fetch(format!("cannot read {}: {e}", path.display())))
}

fn read_optional(path: PathBuf) -> Result<Option<Vec<u8>>> {
    if path.exists() {
        read(path).map(Some)
    } else {
        Ok(None)
    }
}

impl ModelDir {
    /// Reads `model.safetensors`, `config.json`, `tokenizer.json` and, when present,
    /// `1_Pooling/config.json` and `sentence_bert_config.json`.
    pub fn read(dir: &Path) -> Result<Self> {
        Ok(ModelDir {
            model: read(dir.join("model.safetensors"))?,
            config: read(dir.join("config.json"))?,
            tokenizer: read(dir.join("tokenizer.json"))?,
            pooling: read_optional(dir.join("1_Pooling").join("config.json"))?,
            sentence_config: read_optional(dir.join("sentence_bert_config.json"))?,
        })
    }

    /// Borrowed view for [`crate::Embedder::load`].
    pub fn files(&self) -> EmbedderFiles<'_> {
        EmbedderFiles {
            model: &self.model,
            config: &self.config,
            tokenizer: &self.tokenizer,
            pooling: self.pooling.as_deref(),
            sentence_config: self.sentence_config.as_deref(),
        }
    }
}
