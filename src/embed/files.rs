//! The files of a sentence-transformers model: the one list of them (JavaScript gets it from
//! the module too), borrowed for loading, and owned when read from a folder (natively) or sent
//! by the page (the browser's `Embedder.load` takes them as bytes).

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::EmbedderOptions;
use crate::device::DeviceOptions;
#[cfg(not(target_arch = "wasm32"))]
use crate::error::{Error, Result};
use crate::formats::ModelBytes;
use crate::options::{Options, composite_options};

/// One file of a sentence-transformers model folder.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct EmbedderFile {
    /// Its key in the loaders' options (`EmbedderFileBytes`, `LocalRag.open`'s `embedder`).
    pub key: &'static str,
    /// Its path in the model folder.
    pub path: &'static str,
    /// Where to look when `path` is missing (the model: GGUF first, then safetensors).
    pub fallback: Option<&'static str>,
    /// Whether a model can do without it.
    pub required: bool,
}

/// Every file the embedder reads, in the order they are fetched.
pub const FILES: [EmbedderFile; 6] = [
    EmbedderFile {
        key: "config",
        path: "config.json",
        fallback: None,
        required: false,
    },
    EmbedderFile {
        key: "tokenizer",
        path: "tokenizer.json",
        fallback: None,
        required: false,
    },
    EmbedderFile {
        key: "poolingConfig",
        path: "1_Pooling/config.json",
        fallback: None,
        required: false,
    },
    EmbedderFile {
        key: "sentenceConfig",
        path: "sentence_bert_config.json",
        fallback: None,
        required: false,
    },
    EmbedderFile {
        key: "sentenceTransformersConfig",
        path: "config_sentence_transformers.json",
        fallback: None,
        required: false,
    },
    EmbedderFile {
        key: "model",
        path: "model.gguf",
        fallback: Some("model.safetensors"),
        required: true,
    },
];

/// The files of a sentence-transformers model, as bytes.
#[derive(Clone, Copy)]
pub struct EmbedderFiles<'a> {
    /// `model.gguf` or `model.safetensors`.
    pub model: &'a [u8],
    /// `config.json`; empty with a GGUF model, which carries its config.
    pub config: &'a [u8],
    /// `tokenizer.json`; empty with a GGUF model that carries its vocabulary.
    pub tokenizer: &'a [u8],
    /// `1_Pooling/config.json`; mean pooling when absent.
    pub pooling: Option<&'a [u8]>,
    /// `sentence_bert_config.json`; gives `max_seq_length` when present.
    pub sentence_config: Option<&'a [u8]>,
    /// `config_sentence_transformers.json`; gives the query and passage prompts when present.
    pub st_config: Option<&'a [u8]>,
}

/// The files of a sentence-transformers model as bytes (owned).
#[derive(Clone, Debug, Default, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct EmbedderFileBytes {
    /// `config.json` (empty or absent: read from a GGUF model).
    #[serde(default, with = "serde_bytes")]
    #[ts(as = "Option<ModelBytes>", optional)]
    pub config: Vec<u8>,
    /// `tokenizer.json` (empty or absent: the vocabulary a GGUF model carries).
    #[serde(default, with = "serde_bytes")]
    #[ts(as = "Option<ModelBytes>", optional)]
    pub tokenizer: Vec<u8>,
    /// `1_Pooling/config.json` (optional; mean pooling without it).
    #[serde(default, with = "serde_bytes")]
    #[ts(as = "Option<ModelBytes>", optional)]
    pub pooling_config: Option<Vec<u8>>,
    /// `sentence_bert_config.json` (optional; gives max_seq_length).
    #[serde(default, with = "serde_bytes")]
    #[ts(as = "Option<ModelBytes>", optional)]
    pub sentence_config: Option<Vec<u8>>,
    /// `config_sentence_transformers.json` (optional; gives the query and passage prompts).
    #[serde(default, with = "serde_bytes")]
    #[ts(as = "Option<ModelBytes>", optional)]
    pub sentence_transformers_config: Option<Vec<u8>>,
    /// `model.gguf` (a `bert` GGUF file) or `model.safetensors`.
    #[serde(with = "serde_bytes")]
    #[ts(as = "ModelBytes")]
    pub model: Vec<u8>,
}

impl EmbedderFileBytes {
    /// Borrowed view for [`crate::Embedder::load`].
    pub fn files(&self) -> EmbedderFiles<'_> {
        EmbedderFiles {
            model: &self.model,
            config: &self.config,
            tokenizer: &self.tokenizer,
            pooling: self.pooling_config.as_deref(),
            sentence_config: self.sentence_config.as_deref(),
            st_config: self.sentence_transformers_config.as_deref(),
        }
    }

    /// A model folder ([`EmbedderFileBytes::read_dir`]) or a single GGUF file.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn read(path: &std::path::Path) -> Result<Self> {
        if path.is_dir() {
            return Self::read_dir(path);
        }
        let model = std::fs::read(path)
            .map_err(|e| Error::Fetch(format!("cannot read {}: {e}", path.display())))?;
        Ok(EmbedderFileBytes {
            model,
            ..Default::default()
        })
    }

    /// Reads the files of a model folder (the optional ones when present).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn read_dir(dir: &std::path::Path) -> Result<Self> {
        let read = |key: &str| -> Result<Option<Vec<u8>>> {
            let file = FILES.iter().find(|f| f.key == key).expect("a known file");
            let mut path = dir.join(file.path);
            if let Some(fallback) = file.fallback
                && !path.exists()
            {
                path = dir.join(fallback);
            }
            match std::fs::read(&path) {
                Ok(bytes) => Ok(Some(bytes)),
                Err(e) if !file.required && e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(Error::Fetch(format!("cannot read {}: {e}", path.display()))),
            }
        };
        let required = |key: &str| read(key).map(Option::unwrap_or_default);
        Ok(EmbedderFileBytes {
            config: required("config")?,
            tokenizer: required("tokenizer")?,
            pooling_config: read("poolingConfig")?,
            sentence_config: read("sentenceConfig")?,
            sentence_transformers_config: read("sentenceTransformersConfig")?,
            model: required("model")?,
        })
    }
}

impl Options for EmbedderFileBytes {}

/// What the browser's `Embedder.load` takes: the model's files as bytes, the embedder's options
/// and the device, in one object.
#[derive(Clone, Debug, Default, Deserialize, TS)]
#[serde(default)]
#[ts(rename = "EmbedderLoadOptions")]
pub struct EmbedderLoad {
    #[serde(skip_deserializing)]
    #[ts(skip)]
    pub files: EmbedderFileBytes,
    #[serde(skip_deserializing)]
    #[ts(skip)]
    pub options: EmbedderOptions,
    #[serde(skip_deserializing)]
    #[ts(skip)]
    pub device: DeviceOptions,
}

composite_options!(
    EmbedderLoad {
        files: EmbedderFileBytes,
        options: EmbedderOptions,
        device: DeviceOptions,
    },
    validate: |l: &EmbedderLoad| l.options.validate()
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_options_are_read_from_one_object() {
        let o = serde_json::json!({
            "config": [1], "tokenizer": [2], "model": [3], "batchSize": 8, "backend": "cpu"
        });
        let l = EmbedderLoad::read_from(&o, "Embedder.load", &[]).unwrap();
        assert_eq!((l.files.model, l.options.batch_size), (vec![3], 8));
        assert_eq!(l.device.backend, crate::device::BackendChoice::Cpu);
        let bad =
            serde_json::json!({ "config": [1], "tokenizer": [2], "model": [3], "batchsize": 8 });
        let e = EmbedderLoad::read_from(&bad, "Embedder.load", &[]).unwrap_err();
        assert!(
            e.message()
                .starts_with("unknown Embedder.load option `batchsize`"),
            "{e}"
        );
        let zero =
            serde_json::json!({ "config": [1], "tokenizer": [2], "model": [3], "batchSize": 0 });
        assert_eq!(
            EmbedderLoad::read_from(&zero, "x", &[]).unwrap_err().code(),
            "E_INPUT"
        );
        // A value of the wrong type is named by its key.
        let typed =
            serde_json::json!({ "config": [1], "tokenizer": [2], "model": [3], "batchSize": "8" });
        let e = EmbedderLoad::read_from(&typed, "x", &[]).unwrap_err();
        assert!(
            e.message().starts_with("option `batchSize`: invalid type"),
            "{e}"
        );
    }

    #[test]
    fn the_list_matches_the_struct() {
        let fields = serde_aux::serde_introspection::serde_introspect::<EmbedderFileBytes>();
        let keys: Vec<&str> = FILES.iter().map(|f| f.key).collect();
        assert_eq!(fields, keys.as_slice());
        // Exactly the files the struct can do without are optional.
        for f in FILES {
            // The model's config and vocabulary may come from a GGUF file instead.
            assert_eq!(f.required, f.key == "model", "{}", f.key);
        }
    }

    #[test]
    fn a_folder_without_the_optional_files_reads() {
        let dir = std::env::temp_dir().join(format!("localrag-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for f in ["config.json", "tokenizer.json", "model.safetensors"] {
            std::fs::write(dir.join(f), f).unwrap();
        }
        let files = EmbedderFileBytes::read_dir(&dir).unwrap();
        assert_eq!(files.model, b"model.safetensors");
        assert!(files.pooling_config.is_none() && files.sentence_config.is_none());
        std::fs::remove_file(dir.join("tokenizer.json")).unwrap();
        assert!(
            EmbedderFileBytes::read_dir(&dir)
                .unwrap()
                .tokenizer
                .is_empty()
        );
        // GGUF weights are looked for first.
        std::fs::write(dir.join("model.gguf"), "gguf").unwrap();
        assert_eq!(EmbedderFileBytes::read_dir(&dir).unwrap().model, b"gguf");
        let single = EmbedderFileBytes::read(&dir.join("model.gguf")).unwrap();
        assert!(single.model == b"gguf" && single.config.is_empty());
        std::fs::remove_file(dir.join("model.gguf")).unwrap();
        std::fs::remove_file(dir.join("model.safetensors")).unwrap();
        assert_eq!(
            EmbedderFileBytes::read_dir(&dir).unwrap_err().code(),
            "E_MODEL_FETCH"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
