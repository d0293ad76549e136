//! Model configuration read from the files that ship with a sentence-transformers model:
//! `config.json` (the encoder), `1_Pooling/config.json` and `sentence_bert_config.json`.

use serde::Deserialize;

use crate::error::{Error, Result};

/// Non-linearity of the feed-forward block, as named by Hugging Face's `hidden_act`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// Exact GELU, x·Φ(x) with the error function (`"gelu"`).
    Gelu,
    /// The tanh approximation (`"gelu_new"`, `"gelu_pytorch_tanh"`).
    GeluTanh,
    /// `"relu"`.
    Relu,
}

/// The encoder's shape and numerics (Hugging Face `config.json` of a BERT-family model).
#[derive(Debug, Clone, PartialEq)]
pub struct BertConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub activation: Activation,
    pub layer_norm_eps: f64,
    pub max_position_embeddings: usize,
    pub type_vocab_size: usize,
}

#[derive(Deserialize)]
struct RawBertConfig {
    vocab_size: Option<usize>,
    hidden_size: Option<usize>,
    num_hidden_layers: Option<usize>,
    num_attention_heads: Option<usize>,
    intermediate_size: Option<usize>,
    #[serde(default = "default_act")]
    hidden_act: String,
    #[serde(default = "default_eps")]
    layer_norm_eps: f64,
    max_position_embeddings: Option<usize>,
    #[serde(default = "default_type_vocab")]
    type_vocab_size: usize,
    #[serde(default)]
    position_embedding_type: Option<String>,
    #[serde(default)]
    model_type: Option<String>,
}

fn default_act() -> String {
    "gelu".into()
}
fn default_eps() -> f64 {
    1e-12
}
fn default_type_vocab() -> usize {
    2
}

fn required(v: Option<usize>, name: &str) -> Result<usize> {
    match v {
        Some(0) => Err(Error::Config(format!(
            "config.json: `{name}` must be greater than 0"
        ))),
        Some(v) => Ok(v),
        None => Err(Error::Config(format!("config.json: missing `{name}`"))),
    }
}

impl BertConfig {
    /// Parses and checks `config.json`.
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        let raw: RawBertConfig = serde_json::from_slice(bytes)
            .map_err(|e| Error::Config(format!("config.json is not valid: {e}")))?;
        if let Some(t) = raw.model_type.as_deref() {
            const KNOWN: [&str; 4] = ["bert", "roberta", "xlm-roberta", "distilbert"];
            if !KNOWN.contains(&t) {
                return Err(Error::Config(format!(
                    "config.json: model_type `{t}` is not a BERT-family encoder"
                )));
            }
        }
        if let Some(p) = raw.position_embedding_type.as_deref() {
            if p != "absolute" {
                return Err(Error::Config(format!(
                    "config.json: position_embedding_type `{p}` is not supported (only `absolute`)"
                )));
            }
        }
        let activation = match raw.hidden_act.as_str() {
            "gelu" => Activation::Gelu,
            "gelu_new" | "gelu_pytorch_tanh" => Activation::GeluTanh,
            "relu" => Activation::Relu,
            other => {
                return Err(Error::Config(format!(
                    "config.json: hidden_act `{other}` is not supported"
                )));
            }
        };
        let config = BertConfig {
            vocab_size: required(raw.vocab_size, "vocab_size")?,
            hidden_size: required(raw.hidden_size, "hidden_size")?,
            num_hidden_layers: required(raw.num_hidden_layers, "num_hidden_layers")?,
            num_attention_heads: required(raw.num_attention_heads, "num_attention_heads")?,
            intermediate_size: required(raw.intermediate_size, "intermediate_size")?,
            activation,
            layer_norm_eps: raw.layer_norm_eps,
            max_position_embeddings: required(
                raw.max_position_embeddings,
                "max_position_embeddings",
            )?,
            type_vocab_size: raw.type_vocab_size.max(1),
        };
        if config.hidden_size % config.num_attention_heads != 0 {
            return Err(Error::Config(format!(
                "config.json: hidden_size {} is not a multiple of num_attention_heads {}",
                config.hidden_size, config.num_attention_heads
            )));
        }
        if !(config.layer_norm_eps.is_finite() && config.layer_norm_eps > 0.0) {
            return Err(Error::Config(
                "config.json: layer_norm_eps must be > 0".into(),
            ));
        }
        Ok(config)
    }

    /// Width of one attention head.
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }
}

/// How token vectors become one sentence vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

    /// Parses the name used in options: `"mean"` or `"cls"`.
    pub fn from_name(name: &str) -> Result<Self> {
        match name {
            "mean" => Ok(Pooling::Mean),
            "cls" => Ok(Pooling::Cls),
            other => Err(Error::Config(format!(
                "pooling `{other}` is not supported (use \"mean\" or \"cls\")"
            ))),
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

#[cfg(test)]
mod tests {
    use super::*;

    const MINILM: &str = r#"{"architectures":["BertModel"],"hidden_act":"gelu","hidden_size":384,
        "intermediate_size":1536,"layer_norm_eps":1e-12,"max_position_embeddings":512,
        "model_type":"bert","num_attention_heads":12,"num_hidden_layers":6,"type_vocab_size":2,
        "vocab_size":30522}"#;

    #[test]
    fn reads_minilm_config() {
        let c = BertConfig::from_json(MINILM.as_bytes()).unwrap();
        assert_eq!(c.hidden_size, 384);
        assert_eq!(c.head_dim(), 32);
        assert_eq!(c.activation, Activation::Gelu);
        assert_eq!(c.layer_norm_eps, 1e-12);
    }

    #[test]
    fn rejects_bad_configs() {
        for (text, needle) in [
            ("not json", "not valid"),
            (r#"{"hidden_size":384}"#, "missing"),
            (
                &MINILM.replace("\"num_attention_heads\":12", "\"num_attention_heads\":7"),
                "multiple",
            ),
            (&MINILM.replace("\"gelu\"", "\"swish\""), "hidden_act"),
            (&MINILM.replace("\"bert\"", "\"llama\""), "BERT-family"),
            (
                &MINILM.replace("\"hidden_size\":384", "\"hidden_size\":0"),
                "greater than 0",
            ),
        ] {
            let e = BertConfig::from_json(text.as_bytes()).unwrap_err();
            assert_eq!(e.code(), "E_CONFIG");
            assert!(e.message().contains(needle), "{e} should mention {needle}");
        }
    }

    #[test]
    fn reads_pooling_modes() {
        let mean = br#"{"word_embedding_dimension":384,"pooling_mode_cls_token":false,"pooling_mode_mean_tokens":true}"#;
        assert_eq!(Pooling::from_json(mean).unwrap(), Pooling::Mean);
        let cls = br#"{"pooling_mode_cls_token":true,"pooling_mode_mean_tokens":false}"#;
        assert_eq!(Pooling::from_json(cls).unwrap(), Pooling::Cls);
        let max = br#"{"pooling_mode_max_tokens":true}"#;
        assert_eq!(Pooling::from_json(max).unwrap_err().code(), "E_CONFIG");
        assert_eq!(Pooling::from_name("cls").unwrap(), Pooling::Cls);
        assert!(Pooling::from_name("max").is_err());
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
