//! The sentence-transformers settings around the encoder: `1_Pooling/config.json` (how token
//! vectors become one vector) and `sentence_bert_config.json` (how many tokens are read). The
//! encoder's own `config.json` is the model's (`crate::models::bert`).

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::error::{Error, Result};
use crate::options::Options;

/// Texts per forward pass, at most.
pub const MAX_BATCH_SIZE: usize = 1024;

/// Knobs that override what the model files say.
#[derive(Clone, Debug, PartialEq, Deserialize, TS)]
#[serde(rename_all = "camelCase", default)]
pub struct EmbedderOptions {
    /// Tokens read per text (default: the model's max_seq_length, 256 for all-MiniLM-L6-v2).
    #[ts(optional)]
    pub max_seq_length: Option<usize>,
    /// Overrides the pooling config.
    #[ts(optional)]
    pub pooling: Option<Pooling>,
    /// Texts per forward pass, 1..1024 (default 16).
    #[ts(as = "Option<_>", optional)]
    pub batch_size: usize,
    /// Prompts put before queries and passages; each given one overrides the model folder's
    /// `config_sentence_transformers.json` (E5 models: `"query: "` and `"passage: "`).
    #[ts(optional)]
    pub prompts: Option<Prompts>,
    /// L2-normalise the output (sentence-transformers' `Normalize` module). Default true.
    #[serde(skip)]
    #[ts(skip)]
    pub normalize: bool,
}

impl Default for EmbedderOptions {
    fn default() -> Self {
        EmbedderOptions {
            max_seq_length: None,
            pooling: None,
            batch_size: 16,
            prompts: None,
            normalize: true,
        }
    }
}

impl EmbedderOptions {
    /// Checks what can be checked without the model.
    pub fn validate(&self) -> Result<()> {
        check_batch_size(self.batch_size)
    }
}

/// Texts per forward pass must be 1..=[`MAX_BATCH_SIZE`].
pub(crate) fn check_batch_size(batch_size: usize) -> Result<()> {
    if batch_size == 0 || batch_size > MAX_BATCH_SIZE {
        return Err(Error::Input(format!(
            "batchSize {batch_size} must be between 1 and {MAX_BATCH_SIZE}"
        )));
    }
    Ok(())
}

/// Which side of a search a text is on: models such as E5 embed each with its own prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// What a user searches with.
    Query,
    /// What is searched: the knowledge base's chunks.
    Passage,
}

/// Text put before each query and each passage (sentence-transformers' `prompts`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, TS)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Prompts {
    #[ts(optional)]
    pub query: Option<String>,
    #[ts(optional)]
    pub passage: Option<String>,
}

impl Prompts {
    /// Reads `prompts` from sentence-transformers' `config_sentence_transformers.json`: the
    /// query prompt named `query`, the passage prompt `passage` or `document`. Other prompt
    /// names (task instructions) are not used.
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        #[derive(Deserialize)]
        struct Raw {
            #[serde(default)]
            prompts: std::collections::BTreeMap<String, String>,
        }
        let mut raw: Raw = serde_json::from_slice(bytes).map_err(|e| {
            Error::Config(format!(
                "config_sentence_transformers.json is not valid: {e}"
            ))
        })?;
        let take = |raw: &mut Raw, key: &str| raw.prompts.remove(key).filter(|p| !p.is_empty());
        let query = take(&mut raw, "query");
        let passage = take(&mut raw, "passage").or_else(|| take(&mut raw, "document"));
        Ok(Prompts { query, passage })
    }

    /// These prompts with each one `over` gives replacing them.
    pub fn overridden_by(self, over: Option<&Prompts>) -> Prompts {
        match over {
            None => self,
            Some(o) => Prompts {
                query: o.query.clone().or(self.query),
                passage: o.passage.clone().or(self.passage),
            },
        }
    }

    /// The prompt of `role` ("" when none).
    pub fn of(&self, role: Role) -> &str {
        match role {
            Role::Query => self.query.as_deref(),
            Role::Passage => self.passage.as_deref(),
        }
        .unwrap_or("")
    }
}

/// How token vectors become one sentence vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    /// Mean over the tokens the attention mask keeps (sentence-transformers' default).
    Mean,
    /// The first token's (`[CLS]`) vector.
    Cls,
}

#[derive(Deserialize)]
struct RawPooling {
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
}

impl Pooling {
    /// Parses sentence-transformers' `1_Pooling/config.json`.
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        let raw: RawPooling = serde_json::from_slice(bytes)
            .map_err(|e| Error::Config(format!("pooling config is not valid: {e}")))?;
        if raw.pooling_mode_max_tokens || raw.pooling_mode_mean_sqrt_len_tokens {
            return Err(Error::Config(
                "pooling config: max and mean-sqrt-len pooling are not supported".into(),
            ));
        }
        match (raw.pooling_mode_mean_tokens, raw.pooling_mode_cls_token) {
            (true, false) => Ok(Pooling::Mean),
            (false, true) => Ok(Pooling::Cls),
            (true, true) => Err(Error::Config(
                "pooling config: concatenated CLS + mean pooling is not supported".into(),
            )),
            (false, false) => Err(Error::Config("pooling config names no pooling mode".into())),
        }
    }
}

/// Reads `max_seq_length` from sentence-transformers' `sentence_bert_config.json`.
pub fn max_seq_length_from_json(bytes: &[u8]) -> Result<usize> {
    #[derive(Deserialize)]
    struct Raw {
        max_seq_length: Option<usize>,
    }
    let raw: Raw = serde_json::from_slice(bytes)
        .map_err(|e| Error::Config(format!("sentence_bert_config.json is not valid: {e}")))?;
    match raw.max_seq_length {
        Some(n) if n >= 2 => Ok(n),
        Some(n) => Err(Error::Config(format!(
            "sentence_bert_config.json: max_seq_length {n} is too small"
        ))),
        None => Err(Error::Config(
            "sentence_bert_config.json: missing `max_seq_length`".into(),
        )),
    }
}

impl Options for EmbedderOptions {
    fn validate(&self) -> Result<()> {
        EmbedderOptions::validate(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_pooling_modes() {
        let mean = br#"{"word_embedding_dimension":384,"pooling_mode_cls_token":false,"pooling_mode_mean_tokens":true}"#;
        assert_eq!(Pooling::from_json(mean).unwrap(), Pooling::Mean);
        let cls = br#"{"pooling_mode_cls_token":true,"pooling_mode_mean_tokens":false}"#;
        assert_eq!(Pooling::from_json(cls).unwrap(), Pooling::Cls);
        let max = br#"{"pooling_mode_max_tokens":true}"#;
        assert_eq!(Pooling::from_json(max).unwrap_err().code(), "E_CONFIG");
        assert_eq!(
            serde_json::from_str::<Pooling>("\"cls\"").unwrap(),
            Pooling::Cls
        );
        assert!(serde_json::from_str::<Pooling>("\"max\"").is_err());
    }

    #[test]
    fn reads_prompts() {
        let e5 = br#"{"prompts": {"query": "query: ", "passage": "passage: "}, "default_prompt_name": null}"#;
        let p = Prompts::from_json(e5).unwrap();
        assert_eq!(
            (p.of(Role::Query), p.of(Role::Passage)),
            ("query: ", "passage: ")
        );
        let doc =
            br#"{"prompts": {"query": "Represent this: ", "document": "", "classification": "x"}}"#;
        let p = Prompts::from_json(doc).unwrap();
        assert_eq!(
            (p.of(Role::Query), p.of(Role::Passage)),
            ("Represent this: ", "")
        );
        assert_eq!(Prompts::from_json(b"{}").unwrap(), Prompts::default());
        assert_eq!(Prompts::from_json(b"[").unwrap_err().code(), "E_CONFIG");
        let over = Prompts {
            passage: Some("doc: ".into()),
            query: None,
        };
        let p = Prompts::from_json(e5).unwrap().overridden_by(Some(&over));
        assert_eq!(
            (p.of(Role::Query), p.of(Role::Passage)),
            ("query: ", "doc: ")
        );
    }

    #[test]
    fn reads_max_seq_length() {
        assert_eq!(
            max_seq_length_from_json(br#"{"max_seq_length": 256}"#).unwrap(),
            256
        );
        assert!(max_seq_length_from_json(b"{}").is_err());
        assert!(max_seq_length_from_json(br#"{"max_seq_length": 1}"#).is_err());
    }
}
