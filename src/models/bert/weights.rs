//! A BERT encoder's weights from a GGUF file (llama.cpp's `bert` names: `token_embd`,
//! `blk.N.attn_q`, …) or Hugging Face safetensors (`embeddings.*`, `encoder.layer.N.*`).
//! Matrices stay in the file's blocks ([`QMatrix`], sharing its bytes): the token table too,
//! whose rows are dequantized one token at a time.

use super::{Activation, BertConfig};
use crate::error::{Error, Result};
use crate::formats::Gguf;
use crate::kernels::QMatrix;
use crate::models::source::Source;

/// A LayerNorm's scale and shift.
pub struct Norm {
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
}

/// `y = W·x + b` with `W` as `[out, in]` blocks.
pub struct Linear {
    pub weight: QMatrix,
    pub bias: Vec<f32>,
}

/// One post-norm encoder layer.
pub struct Layer {
    pub q: Linear,
    pub k: Linear,
    pub v: Linear,
    pub o: Linear,
    pub attn_norm: Norm,
    pub up: Linear,
    pub down: Linear,
    pub out_norm: Norm,
}

/// Every weight of an encoder.
pub struct BertWeights {
    /// `[vocab, hidden]`, rows looked up per token.
    pub tokens: QMatrix,
    /// `[max_positions, hidden]`.
    pub positions: QMatrix,
    /// Row 0 of the token-type table (every token is segment 0).
    pub token_type: Vec<f32>,
    pub embed_norm: Norm,
    pub layers: Vec<Layer>,
}

impl BertWeights {
    /// Bytes the weights hold (matrices as stored, vectors as f32).
    pub fn bytes(&self) -> usize {
        let lin = |l: &Linear| l.weight.bytes().len() + 4 * l.bias.len();
        let norm = |n: &Norm| 4 * (n.weight.len() + n.bias.len());
        self.tokens.bytes().len()
            + self.positions.bytes().len()
            + 4 * self.token_type.len()
            + norm(&self.embed_norm)
            + self
                .layers
                .iter()
                .map(|l| {
                    lin(&l.q)
                        + lin(&l.k)
                        + lin(&l.v)
                        + lin(&l.o)
                        + norm(&l.attn_norm)
                        + lin(&l.up)
                        + lin(&l.down)
                        + norm(&l.out_norm)
                })
                .sum::<usize>()
    }

    /// Reads every weight of an encoder with `config` from `src`.
    pub fn load(config: &BertConfig, src: &impl Source) -> Result<Self> {
        let c = config;
        let h = c.hidden_size;
        let linear = |g: &str, hf: &str, rows: usize, cols: usize| -> Result<Linear> {
            Ok(Linear {
                weight: src.matrix(&format!("{g}.weight"), &format!("{hf}.weight"), rows, cols)?,
                bias: src.vector(&format!("{g}.bias"), &format!("{hf}.bias"), rows)?,
            })
        };
        let norm = |g: &str, hf: &str| -> Result<Norm> {
            // Older checkpoints name a LayerNorm's parameters gamma/beta.
            let (w, b) = if src.has("", &format!("{hf}.gamma")) {
                ("gamma", "beta")
            } else {
                ("weight", "bias")
            };
            Ok(Norm {
                weight: src.vector(&format!("{g}.weight"), &format!("{hf}.{w}"), h)?,
                bias: src.vector(&format!("{g}.bias"), &format!("{hf}.{b}"), h)?,
            })
        };
        let mut layers = Vec::with_capacity(c.num_hidden_layers);
        for i in 0..c.num_hidden_layers {
            let (g, f) = (format!("blk.{i}"), format!("encoder.layer.{i}"));
            let ff = c.intermediate_size;
            layers.push(Layer {
                q: linear(
                    &format!("{g}.attn_q"),
                    &format!("{f}.attention.self.query"),
                    h,
                    h,
                )?,
                k: linear(
                    &format!("{g}.attn_k"),
                    &format!("{f}.attention.self.key"),
                    h,
                    h,
                )?,
                v: linear(
                    &format!("{g}.attn_v"),
                    &format!("{f}.attention.self.value"),
                    h,
                    h,
                )?,
                o: linear(
                    &format!("{g}.attn_output"),
                    &format!("{f}.attention.output.dense"),
                    h,
                    h,
                )?,
                attn_norm: norm(
                    &format!("{g}.attn_output_norm"),
                    &format!("{f}.attention.output.LayerNorm"),
                )?,
                up: linear(
                    &format!("{g}.ffn_up"),
                    &format!("{f}.intermediate.dense"),
                    ff,
                    h,
                )?,
                down: linear(
                    &format!("{g}.ffn_down"),
                    &format!("{f}.output.dense"),
                    h,
                    ff,
                )?,
                out_norm: norm(
                    &format!("{g}.layer_output_norm"),
                    &format!("{f}.output.LayerNorm"),
                )?,
            });
        }
        let types = src.matrix(
            "token_types.weight",
            "embeddings.token_type_embeddings.weight",
            c.type_vocab_size,
            h,
        )?;
        Ok(BertWeights {
            tokens: src.matrix(
                "token_embd.weight",
                "embeddings.word_embeddings.weight",
                c.vocab_size,
                h,
            )?,
            positions: src.matrix(
                "position_embd.weight",
                "embeddings.position_embeddings.weight",
                c.max_position_embeddings,
                h,
            )?,
            token_type: types.row_f32(0),
            embed_norm: norm("token_embd_norm", "embeddings.LayerNorm")?,
            layers,
        })
    }
}

/// The encoder's config from a GGUF file of llama.cpp's `bert` architecture (the vocabulary,
/// positions and token types from the tables' shapes).
pub fn config_from_gguf(g: &Gguf) -> Result<BertConfig> {
    let arch = g.require_str("general.architecture")?;
    if arch != "bert" {
        return Err(Error::Config(format!(
            "GGUF architecture `{arch}` is not an embedding model (supported: bert)"
        )));
    }
    let u = |key: &str| -> Result<usize> {
        let v = g.require_u64(&format!("bert.{key}"))?;
        usize::try_from(v)
            .ok()
            .filter(|&v| v > 0)
            .ok_or_else(|| Error::Config(format!("GGUF: `bert.{key}` must be greater than 0")))
    };
    if g.get("bert.attention.causal").and_then(|v| v.as_bool()) == Some(true) {
        return Err(Error::Config(
            "GGUF: a causal `bert` model is not a sentence embedder".into(),
        ));
    }
    let rows = |name: &str| -> Result<usize> {
        let info = g.tensor(name)?;
        match info.dims.as_slice() {
            [_, rows] => Ok(*rows as usize),
            dims => Err(Error::ModelFormat(format!(
                "GGUF: tensor `{name}` has dims {dims:?}, expected a matrix"
            ))),
        }
    };
    let eps = g
        .get("bert.attention.layer_norm_epsilon")
        .and_then(|v| v.as_f64())
        .unwrap_or(1e-12);
    let config = BertConfig {
        vocab_size: rows("token_embd.weight")?,
        hidden_size: u("embedding_length")?,
        num_hidden_layers: u("block_count")?,
        num_attention_heads: u("attention.head_count")?,
        intermediate_size: u("feed_forward_length")?,
        // llama.cpp computes its tanh approximation; the models were trained with the exact one.
        activation: Activation::Gelu,
        layer_norm_eps: eps,
        max_position_embeddings: rows("position_embd.weight")?,
        type_vocab_size: rows("token_types.weight")?,
    };
    config.check()?;
    Ok(config)
}
