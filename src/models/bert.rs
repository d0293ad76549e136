//! BERT (Devlin et al., 2019): the encoder behind all-MiniLM-L6-v2 and most sentence embedders.
//!
//! ```text
//! ids ──► word + position + token-type embeddings ──► LayerNorm
//!     ──► N × [ self-attention ─► +residual ─► LayerNorm ─► FFN(GELU) ─► +residual ─► LayerNorm ]
//! ```
//! Post-norm layers, learned absolute positions, weights in Hugging Face's layout.

use burn::tensor::activation::{gelu, relu, softmax};
use burn::tensor::{Device, Int, Tensor, TensorData};

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::formats::Weights;

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

/// Added to attention scores of padding keys: large enough that softmax gives them zero weight,
/// small enough to stay finite in f32 arithmetic.
const MASKED: f32 = -1.0e9;

/// `y = x·W + b`, with `W` stored as `[in, out]`.
struct Linear {
    weight: Tensor<2>,
    bias: Tensor<1>,
}

impl Linear {
    fn load(w: &Weights, name: &str, inp: usize, out: usize, device: &Device) -> Result<Self> {
        Ok(Linear {
            weight: Tensor::from_data(
                w.get_linear_weight(&format!("{name}.weight"), out, inp)?,
                device,
            ),
            bias: Tensor::from_data(w.get(&format!("{name}.bias"), &[out])?, device),
        })
    }

    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let [batch, seq, inp] = x.dims();
        let out = self.bias.dims()[0];
        let y = x.reshape([batch * seq, inp]).matmul(self.weight.clone())
            + self.bias.clone().unsqueeze::<2>();
        y.reshape([batch, seq, out])
    }
}

/// Layer normalisation over the hidden dimension.
struct LayerNorm {
    gamma: Tensor<1>,
    beta: Tensor<1>,
    eps: f64,
}

impl LayerNorm {
    fn load(w: &Weights, name: &str, dim: usize, eps: f64, device: &Device) -> Result<Self> {
        // Older checkpoints name the parameters gamma/beta instead of weight/bias.
        let (g, b) = if w.contains(&format!("{name}.weight")) {
            ("weight", "bias")
        } else {
            ("gamma", "beta")
        };
        Ok(LayerNorm {
            gamma: Tensor::from_data(w.get(&format!("{name}.{g}"), &[dim])?, device),
            beta: Tensor::from_data(w.get(&format!("{name}.{b}"), &[dim])?, device),
            eps,
        })
    }

    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let (var, mean) = x.clone().var_mean_bias(2);
        let normed = (x - mean) / (var + self.eps).sqrt();
        normed * self.gamma.clone().unsqueeze::<3>() + self.beta.clone().unsqueeze::<3>()
    }
}

struct Embeddings {
    word: Tensor<2>,
    position: Tensor<2>,
    token_type: Tensor<2>,
    norm: LayerNorm,
}

impl Embeddings {
    fn forward(&self, ids: Tensor<2, Int>) -> Tensor<3> {
        let [batch, seq] = ids.dims();
        let hidden = self.word.dims()[1];
        let words = self
            .word
            .clone()
            .select(0, ids.reshape([batch * seq]))
            .reshape([batch, seq, hidden]);
        let positions = self.position.clone().narrow(0, 0, seq).unsqueeze::<3>();
        // Every token is segment 0: sentence embedders encode one text at a time.
        let segment = self.token_type.clone().narrow(0, 0, 1).unsqueeze::<3>();
        self.norm.forward(words + positions + segment)
    }
}

struct SelfAttention {
    query: Linear,
    key: Linear,
    value: Linear,
    output: Linear,
    heads: usize,
    head_dim: usize,
}

impl SelfAttention {
    /// `mask_bias` is `[batch, 1, 1, seq]`: 0 for real tokens, [`MASKED`] for padding.
    fn forward(&self, x: Tensor<3>, mask_bias: Tensor<4>) -> Tensor<3> {
        let [batch, seq, hidden] = x.dims();
        let split = |t: Tensor<3>| {
            t.reshape([batch, seq, self.heads, self.head_dim])
                .swap_dims(1, 2)
        };
        let q = split(self.query.forward(x.clone()));
        let k = split(self.key.forward(x.clone()));
        let v = split(self.value.forward(x));
        let scores = q.matmul(k.swap_dims(2, 3)) / (self.head_dim as f64).sqrt() + mask_bias;
        let context = softmax(scores, 3).matmul(v);
        let merged = context.swap_dims(1, 2).reshape([batch, seq, hidden]);
        self.output.forward(merged)
    }
}

struct Layer {
    attention: SelfAttention,
    attention_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    output_norm: LayerNorm,
    activation: Activation,
}

impl Layer {
    fn forward(&self, x: Tensor<3>, mask_bias: Tensor<4>) -> Tensor<3> {
        let attended = self.attention.forward(x.clone(), mask_bias);
        let x = self.attention_norm.forward(attended + x);
        let h = self.intermediate.forward(x.clone());
        let h = match self.activation {
            Activation::Gelu => gelu(h),
            Activation::GeluTanh => burn::tensor::activation::gelu_approximate(h),
            Activation::Relu => relu(h),
        };
        self.output_norm.forward(self.output.forward(h) + x)
    }
}

/// A BERT encoder with its weights on one device.
pub struct Bert {
    embeddings: Embeddings,
    layers: Vec<Layer>,
    config: BertConfig,
    device: Device,
}

impl Bert {
    /// Builds the encoder from safetensors bytes, checking every tensor's shape against `config`.
    pub fn load(bytes: &[u8], config: &BertConfig, device: &Device) -> Result<Self> {
        let w = Weights::from_bytes(bytes, "embeddings.word_embeddings.weight")?;
        let c = config;
        let h = c.hidden_size;
        let embeddings = Embeddings {
            word: Tensor::from_data(
                w.get("embeddings.word_embeddings.weight", &[c.vocab_size, h])?,
                device,
            ),
            position: Tensor::from_data(
                w.get(
                    "embeddings.position_embeddings.weight",
                    &[c.max_position_embeddings, h],
                )?,
                device,
            ),
            token_type: Tensor::from_data(
                w.get(
                    "embeddings.token_type_embeddings.weight",
                    &[c.type_vocab_size, h],
                )?,
                device,
            ),
            norm: LayerNorm::load(&w, "embeddings.LayerNorm", h, c.layer_norm_eps, device)?,
        };
        let mut layers = Vec::with_capacity(c.num_hidden_layers);
        for i in 0..c.num_hidden_layers {
            let p = format!("encoder.layer.{i}");
            layers.push(Layer {
                attention: SelfAttention {
                    query: Linear::load(&w, &format!("{p}.attention.self.query"), h, h, device)?,
                    key: Linear::load(&w, &format!("{p}.attention.self.key"), h, h, device)?,
                    value: Linear::load(&w, &format!("{p}.attention.self.value"), h, h, device)?,
                    output: Linear::load(&w, &format!("{p}.attention.output.dense"), h, h, device)?,
                    heads: c.num_attention_heads,
                    head_dim: c.head_dim(),
                },
                attention_norm: LayerNorm::load(
                    &w,
                    &format!("{p}.attention.output.LayerNorm"),
                    h,
                    c.layer_norm_eps,
                    device,
                )?,
                intermediate: Linear::load(
                    &w,
                    &format!("{p}.intermediate.dense"),
                    h,
                    c.intermediate_size,
                    device,
                )?,
                output: Linear::load(
                    &w,
                    &format!("{p}.output.dense"),
                    c.intermediate_size,
                    h,
                    device,
                )?,
                output_norm: LayerNorm::load(
                    &w,
                    &format!("{p}.output.LayerNorm"),
                    h,
                    c.layer_norm_eps,
                    device,
                )?,
                activation: c.activation,
            });
        }
        Ok(Bert {
            embeddings,
            layers,
            config: config.clone(),
            device: device.clone(),
        })
    }

    /// The configuration the weights were checked against.
    pub fn config(&self) -> &BertConfig {
        &self.config
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Encodes a padded batch. `ids` and `mask` are row-major `[batch, seq]`; `mask` is 1 for
    /// real tokens and 0 for padding. Returns the last hidden state `[batch, seq, hidden]`.
    ///
    /// The caller guarantees `seq <= max_position_embeddings` and every id `< vocab_size`
    /// (checked by [`Bert::check_input`]).
    pub fn forward(&self, ids: Tensor<2, Int>, mask: Tensor<2>) -> Tensor<3> {
        let [batch, seq] = mask.dims();
        let mask_bias = ((mask.neg() + 1.0) * MASKED).reshape([batch, 1, 1, seq]);
        let mut x = self.embeddings.forward(ids);
        for layer in &self.layers {
            x = layer.forward(x, mask_bias.clone());
        }
        x
    }

    /// Checks a batch before it reaches the device, where a bad index would be undefined
    /// behaviour on the GPU and a panic on the CPU.
    pub fn check_input(&self, ids: &[i32], batch: usize, seq: usize) -> Result<()> {
        if seq == 0 || batch == 0 || ids.len() != batch * seq {
            return Err(Error::Input(format!(
                "batch of {} ids does not match shape [{batch}, {seq}]",
                ids.len()
            )));
        }
        if seq > self.config.max_position_embeddings {
            return Err(Error::Input(format!(
                "sequence of {seq} tokens exceeds the model's {} positions",
                self.config.max_position_embeddings
            )));
        }
        if let Some(bad) = ids
            .iter()
            .find(|&&id| id < 0 || id as usize >= self.config.vocab_size)
        {
            return Err(Error::Tokenizer(format!(
                "token id {bad} is outside the model's vocabulary of {}: tokenizer and model do not match",
                self.config.vocab_size
            )));
        }
        Ok(())
    }

    /// Uploads a checked batch and runs [`Bert::forward`].
    pub fn encode(
        &self,
        ids: Vec<i32>,
        mask: Vec<f32>,
        batch: usize,
        seq: usize,
    ) -> Result<Tensor<3>> {
        self.check_input(&ids, batch, seq)?;
        let ids = Tensor::<2, Int>::from_data(TensorData::new(ids, [batch, seq]), &self.device);
        let mask = Tensor::<2>::from_data(TensorData::new(mask, [batch, seq]), &self.device);
        Ok(self.forward(ids, mask))
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
