//! Building a [`Llama`] from a GGUF file or Hugging Face safetensors: every weight is checked
//! against the config, q/k rows are brought into the adjacent-pairs rotary order, and matrices
//! are uploaded as `[in, out]`.

use burn::tensor::{Device, Tensor, TensorData};

use super::model::{Block, RmsNorm, TokenTable};
use super::{Llama, LlamaConfig};
use crate::error::{Error, Result};
use crate::formats::{Gguf, Weights, dequantize};

/// The untied output matrix of a Hugging Face causal LM (outside the `model.` prefix).
const LM_HEAD: &str = "lm_head.weight";

/// Reorders the rows of a Hugging Face q or k weight (`[heads·d, in]`, row-major) so that
/// rotating adjacent pairs gives what `rotate_half` gives on the original: within each head, row
/// `j·d/2 + i` (half `j`, index `i`) moves to row `2i + j`. This is the permutation llama.cpp's
/// converter applies.
pub fn permute_for_pairs(w: &[f32], heads: usize, inp: usize) -> Vec<f32> {
    let rows = w.len() / inp;
    let d = rows / heads;
    let half = d / 2;
    let mut out = vec![0.0; w.len()];
    for h in 0..heads {
        for j in 0..2 {
            for i in 0..half {
                let from = h * d + j * half + i;
                let to = h * d + 2 * i + j;
                out[to * inp..(to + 1) * inp].copy_from_slice(&w[from * inp..(from + 1) * inp]);
            }
        }
    }
    out
}

/// Transposes a row-major `[rows, cols]` matrix.
pub(super) fn transpose(w: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; w.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = w[r * cols + c];
        }
    }
    out
}

/// Where the weights come from. Every method returns f32 values in PyTorch's `[out, in]`
/// row-major layout, with q/k rows already in the adjacent-pairs rotary order.
enum Source<'a> {
    Gguf(&'a Gguf<'a>),
    /// The model's tensors (`model.` prefix) and the file's root (for `lm_head.weight`).
    Safetensors(&'a Weights<'a>, &'a Weights<'a>),
}

impl Source<'_> {
    fn matrix(&self, gguf_name: &str, hf_name: &str, out: usize, inp: usize) -> Result<Vec<f32>> {
        match self {
            Source::Gguf(g) => g.tensor_f32(gguf_name, &[inp as u64, out as u64]),
            Source::Safetensors(w, root) => {
                let w = if hf_name == LM_HEAD { root } else { w };
                Ok(w.get(hf_name, &[out, inp])?
                    .try_into_vec::<f32>()
                    .map_err(|e| Error::ModelFormat(format!("weights: `{hf_name}`: {e:?}")))?)
            }
        }
    }

    fn vector(&self, gguf_name: &str, hf_name: &str, n: usize) -> Result<Vec<f32>> {
        match self {
            Source::Gguf(g) => g.tensor_f32(gguf_name, &[n as u64]),
            Source::Safetensors(w, _) => Ok(w
                .get(hf_name, &[n])?
                .try_into_vec::<f32>()
                .map_err(|e| Error::ModelFormat(format!("weights: `{hf_name}`: {e:?}")))?),
        }
    }

    fn has(&self, gguf_name: &str, hf_name: &str) -> bool {
        match self {
            Source::Gguf(g) => g.tensor(gguf_name).is_ok(),
            Source::Safetensors(_, root) => root.contains(hf_name),
        }
    }
}

impl Llama {
    /// Loads the weights of a GGUF file (`blk.N.*` names).
    pub fn from_gguf(g: &Gguf, device: &Device) -> Result<Self> {
        let config = LlamaConfig::from_gguf(g)?;
        let info = g.tensor("token_embd.weight")?;
        let expect = [config.hidden_size as u64, config.vocab_size as u64];
        if info.dims != expect {
            return Err(Error::ModelFormat(format!(
                "GGUF: token_embd.weight has dims {:?}, the config implies {expect:?}",
                info.dims
            )));
        }
        let bytes = g.tensor_bytes(info)?.to_vec();
        // Check the table dequantises cleanly (and is finite) before trusting its rows. The f32
        // copy is dropped at once: held through the layers' upload it would raise the peak
        // memory by its 113 MB; a tied output matrix dequantises it again at the end.
        let table = dequantize(info.kind, &bytes, info.elements())
            .map_err(|e| Error::ModelFormat(format!("GGUF: token_embd.weight: {e}")))?;
        if table.iter().any(|v| !v.is_finite()) {
            return Err(Error::ModelFormat(
                "GGUF: token_embd.weight is not finite".into(),
            ));
        }
        drop(table);
        let tokens = TokenTable::Quantized {
            kind: info.kind,
            bytes,
        };
        Self::build(config, &Source::Gguf(g), tokens, device)
    }

    /// Loads Hugging Face safetensors weights (`model.layers.N.*` names) with their config.
    pub fn from_safetensors(bytes: &[u8], config: LlamaConfig, device: &Device) -> Result<Self> {
        config.check()?;
        let w = Weights::from_bytes(bytes, "embed_tokens.weight")?;
        let table = w
            .get(
                "embed_tokens.weight",
                &[config.vocab_size, config.hidden_size],
            )?
            .try_into_vec::<f32>()
            .map_err(|e| Error::ModelFormat(format!("weights: embed_tokens: {e:?}")))?;
        let root = Weights::unprefixed(bytes)?;
        Self::build(
            config,
            &Source::Safetensors(&w, &root),
            TokenTable::F32(table),
            device,
        )
    }

    fn build(
        config: LlamaConfig,
        src: &Source,
        tokens: TokenTable,
        device: &Device,
    ) -> Result<Self> {
        let c = &config;
        let (h, kv, ff) = (c.hidden_size, c.kv_dim(), c.intermediate_size);
        // `[out, in]` blocks stacked by rows, then transposed to `[in, Σout]`.
        // Each staging copy is freed before the next is made: for the 113 MB output matrix the
        // peak memory of loading is set here.
        let upload = |parts: Vec<Vec<f32>>, inp: usize| -> Tensor<2> {
            let stacked: Vec<f32> = if parts.len() == 1 {
                parts.into_iter().next().expect("one part")
            } else {
                parts.concat()
            };
            let out = stacked.len() / inp;
            let transposed = transpose(&stacked, out, inp);
            drop(stacked);
            Tensor::from_data(TensorData::new(transposed, [inp, out]), device)
        };
        let vector = |g: &str, f: &str, n: usize| -> Result<Tensor<1>> {
            Ok(Tensor::from_data(
                TensorData::new(src.vector(g, f, n)?, [n]),
                device,
            ))
        };
        let is_hf = matches!(src, Source::Safetensors(..));
        let mut blocks = Vec::with_capacity(c.num_layers);
        for i in 0..c.num_layers {
            let (g, f) = (format!("blk.{i}"), format!("layers.{i}"));
            let m = |gn: &str, hn: &str, out: usize, inp: usize| {
                src.matrix(
                    &format!("{g}.{gn}.weight"),
                    &format!("{f}.{hn}.weight"),
                    out,
                    inp,
                )
            };
            let mut q = m("attn_q", "self_attn.q_proj", h, h)?;
            let mut k = m("attn_k", "self_attn.k_proj", kv, h)?;
            if is_hf {
                q = permute_for_pairs(&q, c.num_heads, h);
                k = permute_for_pairs(&k, c.num_kv_heads, h);
            }
            let v = m("attn_v", "self_attn.v_proj", kv, h)?;
            blocks.push(Block {
                attn_norm: RmsNorm {
                    weight: vector(
                        &format!("{g}.attn_norm.weight"),
                        &format!("{f}.input_layernorm.weight"),
                        h,
                    )?,
                    eps: c.rms_eps,
                },
                qkv: upload(vec![q, k, v], h),
                output: upload(vec![m("attn_output", "self_attn.o_proj", h, h)?], h),
                mlp_norm: RmsNorm {
                    weight: vector(
                        &format!("{g}.ffn_norm.weight"),
                        &format!("{f}.post_attention_layernorm.weight"),
                        h,
                    )?,
                    eps: c.rms_eps,
                },
                gate_up: upload(
                    vec![
                        m("ffn_gate", "mlp.gate_proj", ff, h)?,
                        m("ffn_up", "mlp.up_proj", ff, h)?,
                    ],
                    h,
                ),
                down: upload(vec![m("ffn_down", "mlp.down_proj", h, ff)?], ff),
            });
        }
        let norm = RmsNorm {
            weight: vector("output_norm.weight", "norm.weight", h)?,
            eps: c.rms_eps,
        };
        // Untied models have their own output matrix; tied ones reuse the embedding.
        let head = if src.has("output.weight", LM_HEAD) {
            src.matrix("output.weight", LM_HEAD, c.vocab_size, h)?
        } else {
            match &tokens {
                TokenTable::F32(t) => t.clone(),
                TokenTable::Quantized { kind, bytes } => dequantize(*kind, bytes, c.vocab_size * h)
                    .map_err(|e| Error::ModelFormat(format!("GGUF: token_embd.weight: {e}")))?,
            }
        };
        let lm_head = upload(vec![head], h);
        Ok(Llama {
            config,
            tokens,
            blocks,
            norm,
            lm_head,
            device: device.clone(),
        })
    }
}
