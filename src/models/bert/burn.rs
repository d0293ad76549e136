//! The encoder in Burn's tensor operations, f32 weights from safetensors: WebGPU through
//! Burn's wgpu backend or a Burn CPU backend (the embedder's path for safetensors models).

use burn::tensor::activation::{gelu, relu, softmax};
use burn::tensor::{Device, Int, Tensor, TensorData};

use super::{Activation, BertConfig};
use crate::error::{Error, Result};
use crate::formats::Weights;

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
        self.config
            .check_tokens(seq, ids.iter().map(|&id| id as i64))
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
