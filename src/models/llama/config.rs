//! The hyper-parameters of a Llama-family model, from GGUF metadata or a Hugging Face
//! `config.json`.

use crate::error::{Error, Result};
use crate::formats::Gguf;

/// The hyper-parameters of a Llama-family model.
#[derive(Clone, Debug, PartialEq)]
pub struct LlamaConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_layers: usize,
    pub num_heads: usize,
    pub num_kv_heads: usize,
    pub rope_theta: f64,
    pub rms_eps: f64,
    /// Positions the model was trained for.
    pub context_length: usize,
}

impl LlamaConfig {
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_heads
    }

    pub(crate) fn kv_dim(&self) -> usize {
        self.num_kv_heads * self.head_dim()
    }

    pub(crate) fn check(&self) -> Result<()> {
        let c = self;
        let bad = |m: String| Err(Error::Config(m));
        if [
            c.vocab_size,
            c.hidden_size,
            c.intermediate_size,
            c.num_layers,
            c.num_heads,
            c.num_kv_heads,
            c.context_length,
        ]
        .contains(&0)
        {
            return bad(format!("model config has a zero size: {c:?}"));
        }
        if c.hidden_size % c.num_heads != 0 || c.head_dim() % 2 != 0 {
            return bad(format!(
                "hidden size {} does not split into {} heads of even size",
                c.hidden_size, c.num_heads
            ));
        }
        if c.num_heads % c.num_kv_heads != 0 {
            return bad(format!(
                "{} query heads cannot share {} key/value heads",
                c.num_heads, c.num_kv_heads
            ));
        }
        if !(c.rope_theta > 0.0 && c.rms_eps > 0.0) {
            return bad(format!(
                "rope theta and RMS epsilon must be positive: {c:?}"
            ));
        }
        if c.hidden_size > 1 << 16 || c.num_layers > 1024 || c.vocab_size > 1 << 24 {
            return bad(format!("model config is implausibly large: {c:?}"));
        }
        Ok(())
    }

    /// Reads `{arch}.*` keys of a GGUF file (`general.architecture` must be `llama`).
    pub fn from_gguf(g: &Gguf) -> Result<Self> {
        let arch = g.require_str("general.architecture")?;
        if arch != "llama" {
            return Err(Error::Config(format!(
                "model architecture `{arch}` is not supported (only llama)"
            )));
        }
        let u = |k: &str| g.require_u64(&format!("llama.{k}")).map(|v| v as usize);
        let f = |k: &str, default: f64| {
            g.get(&format!("llama.{k}"))
                .and_then(|v| v.as_f64())
                .unwrap_or(default)
        };
        let num_heads = u("attention.head_count")?;
        let vocab_size = match g.get("llama.vocab_size").and_then(|v| v.as_u64()) {
            Some(v) => v as usize,
            None => g
                .require("tokenizer.ggml.tokens")?
                .as_array()
                .map(|a| a.len())
                .unwrap_or(0),
        };
        let c = LlamaConfig {
            vocab_size,
            hidden_size: u("embedding_length")?,
            intermediate_size: u("feed_forward_length")?,
            num_layers: u("block_count")?,
            num_heads,
            num_kv_heads: g
                .get("llama.attention.head_count_kv")
                .and_then(|v| v.as_u64())
                .map(|v| v as usize)
                .unwrap_or(num_heads),
            rope_theta: f("rope.freq_base", 10_000.0),
            rms_eps: f("attention.layer_norm_rms_epsilon", 1e-5),
            context_length: u("context_length")?,
        };
        if let Some(d) = g.get("llama.rope.dimension_count").and_then(|v| v.as_u64()) {
            if d as usize != c.hidden_size / c.num_heads.max(1) {
                return Err(Error::Config(format!(
                    "partial rotary embeddings ({d} of {} dims) are not supported",
                    c.hidden_size / c.num_heads.max(1)
                )));
            }
        }
        c.check()?;
        Ok(c)
    }

    /// Reads a Hugging Face `config.json` of a `LlamaForCausalLM`.
    pub fn from_json(json: &[u8]) -> Result<Self> {
        let v: serde_json::Value = serde_json::from_slice(json)
            .map_err(|e| Error::Config(format!("config.json is not valid JSON: {e}")))?;
        let u = |k: &str| {
            v.get(k)
                .and_then(|x| x.as_u64())
                .map(|x| x as usize)
                .ok_or_else(|| Error::Config(format!("config.json: `{k}` is missing")))
        };
        let num_heads = u("num_attention_heads")?;
        let c = LlamaConfig {
            vocab_size: u("vocab_size")?,
            hidden_size: u("hidden_size")?,
            intermediate_size: u("intermediate_size")?,
            num_layers: u("num_hidden_layers")?,
            num_heads,
            num_kv_heads: u("num_key_value_heads").unwrap_or(num_heads),
            rope_theta: v
                .get("rope_theta")
                .and_then(|x| x.as_f64())
                .unwrap_or(10_000.0),
            rms_eps: v
                .get("rms_norm_eps")
                .and_then(|x| x.as_f64())
                .unwrap_or(1e-5),
            context_length: u("max_position_embeddings")?,
        };
        c.check()?;
        Ok(c)
    }
}
