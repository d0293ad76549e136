//! BERT (Devlin et al., 2019): the encoder behind all-MiniLM-L6-v2 and most sentence embedders.
//!
//! ```text
//! ids ──► word + position + token-type embeddings ──► LayerNorm
//!     ──► N × [ self-attention ─► +residual ─► LayerNorm ─► FFN(GELU) ─► +residual ─► LayerNorm ]
//! ```
//! Post-norm layers, learned absolute positions, weights in Hugging Face's layout.

pub mod burn;
pub mod cpu;
#[cfg(feature = "gpu")]
pub mod gpu;
pub mod weights;

use serde::Deserialize;

use crate::error::{Error, Result};

pub use self::burn::Bert;
pub use weights::BertWeights;

/// Tokens one pass of the quantized engines encodes at most (texts are packed without
/// padding): bounds their activations to a few MB whatever the batch size.
pub const PASS_TOKENS: usize = 1024;

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
        config.check()?;
        Ok(config)
    }

    /// Checks what every source of a config must satisfy.
    pub fn check(&self) -> Result<()> {
        if self.hidden_size % self.num_attention_heads != 0 {
            return Err(Error::Config(format!(
                "model config: hidden_size {} is not a multiple of num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            )));
        }
        if !(self.layer_norm_eps.is_finite() && self.layer_norm_eps > 0.0) {
            return Err(Error::Config(
                "model config: layer_norm_eps must be > 0".into(),
            ));
        }
        if self.type_vocab_size == 0 || self.max_position_embeddings < 2 {
            return Err(Error::Config(
                "model config: at least one token type and two positions are needed".into(),
            ));
        }
        Ok(())
    }

    /// Checks a text's tokens before they reach a device, where a bad index would be
    /// undefined behaviour on the GPU and a panic on the CPU: `len` of them, 1 to the model's
    /// positions, every id inside the vocabulary.
    pub fn check_tokens(&self, len: usize, mut ids: impl Iterator<Item = i64>) -> Result<()> {
        if len == 0 || len > self.max_position_embeddings {
            return Err(Error::Input(format!(
                "a text of {len} tokens does not fit the model's {} positions",
                self.max_position_embeddings
            )));
        }
        if let Some(bad) = ids.find(|&id| id < 0 || id as u64 >= self.vocab_size as u64) {
            return Err(Error::Tokenizer(format!(
                "token id {bad} is outside the model's vocabulary of {}: tokenizer and model do not match",
                self.vocab_size
            )));
        }
        Ok(())
    }

    /// Width of one attention head.
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
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
}
