//! Llama (Touvron et al., 2023) and the small models built like it (SmolLM2): a decoder-only
//! transformer.
//!
//! ```text
//! ids ──► token embedding
//!     ──► N × [ x + Attn(RMSNorm(x)) ─► x + MLP(RMSNorm(x)) ]
//!     ──► RMSNorm ──► logits = h · Eᵀ (the output matrix, often the embedding itself)
//! Attn: q, k, v projections; rotary position embedding on q and k; grouped-query attention
//!       (several query heads share one key/value head); causal softmax; output projection.
//! MLP:  down(silu(gate(x)) ⊙ up(x))   (SwiGLU)
//! ```
//!
//! **Rotary layout.** Hugging Face checkpoints rotate the two halves of each head
//! (`rotate_half`: element `i` pairs with `i + d/2`). llama.cpp's converter permutes the rows of
//! the q and k weights so that GGUF files rotate adjacent pairs (`2i`, `2i+1`) instead. This file
//! rotates adjacent pairs and uses GGUF weights as they are; safetensors weights get the same
//! row permutation at load ([`permute_for_pairs`]). The reference script computes with
//! `rotate_half` on un-permuted weights, so the parity tests prove the two agree.
//!
//! The forward pass keeps a key/value cache: the prompt is processed in one pass (prefill),
//! then one token per step. It returns the last position's logits; sampling happens on the CPU.

use burn::tensor::activation::{silu, softmax};
use burn::tensor::{Device, Tensor, TensorData};

use crate::error::{Error, Result};
use crate::gguf::{self, GgmlType, Gguf};
use crate::weights::Weights;

/// The untied output matrix of a Hugging Face causal LM (outside the `model.` prefix).
const LM_HEAD: &str = "lm_head.weight";

/// Added to the attention scores of future positions.
const MASKED: f32 = -1.0e9;

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

    fn kv_dim(&self) -> usize {
        self.num_kv_heads * self.head_dim()
    }

    fn check(&self) -> Result<()> {
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
fn transpose(w: &[f32], rows: usize, cols: usize) -> Vec<f32> {
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

/// The token embedding table, kept on the CPU: a prompt needs only a few rows, and keeping it
/// quantized (as GGUF ships it) saves the largest tensor's f32 copy.
enum TokenTable {
    Quantized { kind: GgmlType, bytes: Vec<u8> },
    F32(Vec<f32>),
}

/// `x / sqrt(mean(x²) + ε) · w` over the last dimension.
struct RmsNorm {
    weight: Tensor<1>,
    eps: f64,
}

impl RmsNorm {
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let mean_square = (x.clone() * x.clone()).mean_dim(2);
        x / (mean_square + self.eps).sqrt() * self.weight.clone().unsqueeze::<3>()
    }
}

struct Block {
    attn_norm: RmsNorm,
    /// q, k and v projections side by side: `[hidden, hidden + 2·kv_dim]` (one matmul).
    qkv: Tensor<2>,
    output: Tensor<2>,
    mlp_norm: RmsNorm,
    /// gate and up side by side: `[hidden, 2·intermediate]`.
    gate_up: Tensor<2>,
    down: Tensor<2>,
}

/// Keys and values of the positions seen so far, per layer: `[1, kv_heads, len, head_dim]`.
pub struct KvCache {
    layers: Vec<Option<(Tensor<4>, Tensor<4>)>>,
    len: usize,
}

impl KvCache {
    /// Positions in the cache.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// A Llama-family decoder with its weights on one device.
pub struct Llama {
    config: LlamaConfig,
    tokens: TokenTable,
    blocks: Vec<Block>,
    norm: RmsNorm,
    /// `[hidden, vocab]`.
    lm_head: Tensor<2>,
    device: Device,
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
        let table = gguf::dequantize(info.kind, &bytes, info.elements())
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
                TokenTable::Quantized { kind, bytes } => {
                    gguf::dequantize(*kind, bytes, c.vocab_size * h)
                        .map_err(|e| Error::ModelFormat(format!("GGUF: token_embd.weight: {e}")))?
                }
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

    pub fn config(&self) -> &LlamaConfig {
        &self.config
    }

    /// Bytes the weights hold: `(on the device, on the CPU)` (f32 tensors; the token table as
    /// stored).
    pub fn weight_bytes(&self) -> (usize, usize) {
        let c = &self.config;
        let (h, kv, ff) = (c.hidden_size, c.kv_dim(), c.intermediate_size);
        let per_block = h * (h + 2 * kv) + h * h + h * 2 * ff + ff * h + 2 * h;
        let device = 4 * (c.num_layers * per_block + h + h * c.vocab_size);
        let cpu = match &self.tokens {
            TokenTable::Quantized { bytes, .. } => bytes.len(),
            TokenTable::F32(t) => 4 * t.len(),
        };
        (device, cpu)
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// An empty cache for a new sequence.
    pub fn new_cache(&self) -> KvCache {
        KvCache {
            layers: (0..self.config.num_layers).map(|_| None).collect(),
            len: 0,
        }
    }

    fn embed(&self, ids: &[u32]) -> Result<Tensor<3>> {
        let h = self.config.hidden_size;
        let mut x = Vec::with_capacity(ids.len() * h);
        for &id in ids {
            if id as usize >= self.config.vocab_size {
                return Err(Error::Tokenizer(format!(
                    "token id {id} is outside the model's vocabulary of {}",
                    self.config.vocab_size
                )));
            }
            match &self.tokens {
                TokenTable::Quantized { kind, bytes } => {
                    x.extend(gguf::dequantize_row(*kind, bytes, h, id as usize)?)
                }
                TokenTable::F32(t) => {
                    x.extend_from_slice(&t[id as usize * h..(id as usize + 1) * h])
                }
            }
        }
        Ok(Tensor::from_data(
            TensorData::new(x, [1, ids.len(), h]),
            &self.device,
        ))
    }

    /// The rotation of each position, `[1, 1, seq, head_dim]` each, laid out for [`rope`]:
    /// `cos` holds cos θ twice per pair, `sin` holds (−sin θ, +sin θ) per pair, where
    /// θ(p, i) = p · base^(−2i/d).
    fn rotary(&self, start: usize, seq: usize) -> (Tensor<4>, Tensor<4>) {
        let d = self.config.head_dim();
        let mut cos = Vec::with_capacity(seq * d);
        let mut sin = Vec::with_capacity(seq * d);
        for p in start..start + seq {
            for i in 0..d / 2 {
                let freq = self.config.rope_theta.powf(-2.0 * i as f64 / d as f64);
                let (s, c) = (p as f64 * freq).sin_cos();
                cos.extend([c as f32, c as f32]);
                sin.extend([-s as f32, s as f32]);
            }
        }
        (
            Tensor::<2>::from_data(TensorData::new(cos, [seq, d]), &self.device).unsqueeze::<4>(),
            Tensor::<2>::from_data(TensorData::new(sin, [seq, d]), &self.device).unsqueeze::<4>(),
        )
    }

    /// Runs `ids` (the next positions of the sequence in `cache`) and returns the logits of the
    /// last one, `[1, vocab]`. The caller keeps `cache.len() + ids.len()` within the context.
    pub fn forward(&self, ids: &[u32], cache: &mut KvCache) -> Result<Tensor<2>> {
        let c = &self.config;
        let seq = ids.len();
        if seq == 0 {
            return Err(Error::Input("no tokens to run".into()));
        }
        let start = cache.len;
        if start + seq > c.context_length {
            return Err(Error::Input(format!(
                "{} positions exceed the model's context of {}",
                start + seq,
                c.context_length
            )));
        }
        let (h, d, heads, kv_heads) = (c.hidden_size, c.head_dim(), c.num_heads, c.num_kv_heads);
        let group = heads / kv_heads;
        let total = start + seq;
        let (cos, sin) = self.rotary(start, seq);
        // Future positions are masked. Rows are grouped per key/value head: row r of a group is
        // query head r / seq at position start + r % seq.
        let mask = (seq > 1).then(|| {
            let mut m = Vec::with_capacity(group * seq * total);
            for r in 0..group * seq {
                let pos = start + r % seq;
                m.extend((0..total).map(|j| if j > pos { MASKED } else { 0.0 }));
            }
            Tensor::<2>::from_data(TensorData::new(m, [group * seq, total]), &self.device)
                .unsqueeze::<4>()
        });
        let scale = 1.0 / (d as f64).sqrt();
        let mut x = self.embed(ids)?;
        for (block, slot) in self.blocks.iter().zip(cache.layers.iter_mut()) {
            let normed = block.attn_norm.forward(x.clone());
            let qkv = normed.reshape([seq, h]).matmul(block.qkv.clone());
            let heads_of = |t: Tensor<2>, n: usize| t.reshape([1, seq, n, d]).swap_dims(1, 2);
            let q = rope(heads_of(qkv.clone().narrow(1, 0, h), heads), &cos, &sin);
            let k = rope(
                heads_of(qkv.clone().narrow(1, h, kv_heads * d), kv_heads),
                &cos,
                &sin,
            );
            let v = heads_of(qkv.narrow(1, h + kv_heads * d, kv_heads * d), kv_heads);
            let (k, v) = match slot.take() {
                Some((pk, pv)) => (Tensor::cat(vec![pk, k], 2), Tensor::cat(vec![pv, v], 2)),
                None => (k, v),
            };
            *slot = Some((k.clone(), v.clone()));
            // Grouped-query attention without copying keys: the query heads that share a
            // key/value head are stacked along the sequence axis.
            let q = q.reshape([1, kv_heads, group * seq, d]);
            let mut scores = q.matmul(k.swap_dims(2, 3)) * scale;
            if let Some(m) = &mask {
                scores = scores + m.clone();
            }
            let context = softmax(scores, 3)
                .matmul(v)
                .reshape([1, heads, seq, d])
                .swap_dims(1, 2)
                .reshape([seq, h]);
            x = x + context.matmul(block.output.clone()).reshape([1, seq, h]);
            let normed = block.mlp_norm.forward(x.clone()).reshape([seq, h]);
            let gate_up = normed.matmul(block.gate_up.clone());
            let ff = c.intermediate_size;
            let hidden = silu(gate_up.clone().narrow(1, 0, ff)) * gate_up.narrow(1, ff, ff);
            x = x + hidden.matmul(block.down.clone()).reshape([1, seq, h]);
        }
        cache.len = total;
        let last = x.narrow(1, seq - 1, 1);
        Ok(self
            .norm
            .forward(last)
            .reshape([1, h])
            .matmul(self.lm_head.clone()))
    }

    /// [`Llama::forward`], read back to the CPU and checked for NaN/infinity.
    pub async fn logits(&self, ids: &[u32], cache: &mut KvCache) -> Result<Vec<f32>> {
        let before = cache.len;
        let t = self.forward(ids, cache)?;
        let data = t
            .into_data_async()
            .await
            .map_err(|e| Error::Backend(format!("reading logits back failed: {e:?}")));
        let values = data.and_then(|d| {
            d.try_into_vec::<f32>().map_err(|e| {
                Error::Backend(format!("logits came back in an unexpected type: {e:?}"))
            })
        });
        let values = match values {
            Ok(v) => v,
            Err(e) => {
                cache.len = before;
                return Err(e);
            }
        };
        if values.len() != self.config.vocab_size {
            return Err(Error::Output(format!(
                "{} logits for a vocabulary of {}",
                values.len(),
                self.config.vocab_size
            )));
        }
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(Error::Output(format!(
                "the model produced a non-finite logit (token {i}); the GPU may have failed"
            )));
        }
        Ok(values)
    }
}

/// Rotates adjacent pairs `(x₂ᵢ, x₂ᵢ₊₁)` of each head by the position's angle:
/// `(x₂ᵢ cos θ − x₂ᵢ₊₁ sin θ, x₂ᵢ₊₁ cos θ + x₂ᵢ sin θ)`, written as `x ⊙ cos + swap(x) ⊙ sin` with
/// `swap` exchanging the two elements of each pair, so that it is one flip and elementwise work
/// (which Burn fuses) rather than slicing and stacking. `x` is `[1, heads, seq, d]`, the tables
/// come from `Llama::rotary`.
fn rope(x: Tensor<4>, cos: &Tensor<4>, sin: &Tensor<4>) -> Tensor<4> {
    let [b, n, s, d] = x.dims();
    let swapped = x
        .clone()
        .reshape([b, n, s, d / 2, 2])
        .flip([4])
        .reshape([b, n, s, d]);
    x * cos.clone() + swapped * sin.clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permutation_moves_halves_to_pairs() {
        // One head of d = 4 over in = 1: rows [a0, a1, b0, b1] (halves a, b) → [a0, b0, a1, b1].
        let w = [10.0, 11.0, 20.0, 21.0];
        assert_eq!(permute_for_pairs(&w, 1, 1), vec![10.0, 20.0, 11.0, 21.0]);
        // Two heads, in = 2: each head permuted on its own, columns kept.
        let w: Vec<f32> = (0..16).map(|x| x as f32).collect();
        let p = permute_for_pairs(&w, 2, 2);
        assert_eq!(&p[..8], &[0.0, 1.0, 4.0, 5.0, 2.0, 3.0, 6.0, 7.0]);
        assert_eq!(&p[8..], &[8.0, 9.0, 12.0, 13.0, 10.0, 11.0, 14.0, 15.0]);
    }

    /// A tiny random Llama written twice: as Hugging Face safetensors (q/k rows in
    /// `rotate_half` order, `model.*` names) and as GGUF (q/k rows permuted the way llama.cpp's
    /// converter does, `blk.*` names, F32). Both must give the same logits: this proves the
    /// safetensors path undoes the layout difference.
    #[test]
    fn safetensors_and_gguf_of_the_same_weights_agree() {
        use crate::gguf::tests::Writer;
        use safetensors::Dtype;
        use safetensors::tensor::TensorView;
        use std::collections::HashMap;

        let (vocab, h, heads, kv_heads, ff, layers) =
            (32usize, 16usize, 4usize, 2usize, 24usize, 2usize);
        let d = h / heads;
        let mut seed = 12345u64;
        let mut rand = |n: usize| -> Vec<f32> {
            (0..n)
                .map(|_| {
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    ((seed >> 33) as f32 / (1u64 << 31) as f32 - 0.5) * 0.8
                })
                .collect()
        };
        // name → (HF [out, in] values, shape)
        let mut hf: Vec<(String, Vec<f32>, Vec<usize>)> = Vec::new();
        hf.push((
            "model.embed_tokens.weight".into(),
            rand(vocab * h),
            vec![vocab, h],
        ));
        hf.push((
            "model.norm.weight".into(),
            rand(h).iter().map(|x| 1.0 + x).collect(),
            vec![h],
        ));
        hf.push(("lm_head.weight".into(), rand(vocab * h), vec![vocab, h]));
        for l in 0..layers {
            let p = format!("model.layers.{l}");
            for (n, out, inp) in [
                ("self_attn.q_proj", h, h),
                ("self_attn.k_proj", kv_heads * d, h),
                ("self_attn.v_proj", kv_heads * d, h),
                ("self_attn.o_proj", h, h),
                ("mlp.gate_proj", ff, h),
                ("mlp.up_proj", ff, h),
                ("mlp.down_proj", h, ff),
            ] {
                hf.push((format!("{p}.{n}.weight"), rand(out * inp), vec![out, inp]));
            }
            for n in ["input_layernorm", "post_attention_layernorm"] {
                hf.push((
                    format!("{p}.{n}.weight"),
                    rand(h).iter().map(|x| 1.0 + x).collect(),
                    vec![h],
                ));
            }
        }
        let bytes: Vec<Vec<u8>> = hf
            .iter()
            .map(|(_, v, _)| v.iter().flat_map(|x| x.to_le_bytes()).collect())
            .collect();
        let views: HashMap<String, TensorView<'_>> = hf
            .iter()
            .zip(&bytes)
            .map(|((n, _, shape), b)| {
                (
                    n.clone(),
                    TensorView::new(Dtype::F32, shape.clone(), b).unwrap(),
                )
            })
            .collect();
        let st = safetensors::serialize(views, None).unwrap();

        let build_gguf = |permute: bool| -> Vec<u8> {
            let mut w = Writer::new();
            w.kv_str("general.architecture", "llama");
            for (k, v) in [
                ("llama.block_count", layers),
                ("llama.context_length", 64),
                ("llama.embedding_length", h),
                ("llama.feed_forward_length", ff),
                ("llama.attention.head_count", heads),
                ("llama.attention.head_count_kv", kv_heads),
                ("llama.vocab_size", vocab),
            ] {
                w.kv_u32(k, v as u32);
            }
            let gguf_name = |hf_name: &str| -> String {
                let n = hf_name
                    .replace("model.embed_tokens", "token_embd")
                    .replace("model.norm", "output_norm")
                    .replace("lm_head", "output")
                    .replace("model.layers.", "blk.")
                    .replace("self_attn.q_proj", "attn_q")
                    .replace("self_attn.k_proj", "attn_k")
                    .replace("self_attn.v_proj", "attn_v")
                    .replace("self_attn.o_proj", "attn_output")
                    .replace("mlp.gate_proj", "ffn_gate")
                    .replace("mlp.up_proj", "ffn_up")
                    .replace("mlp.down_proj", "ffn_down")
                    .replace("post_attention_layernorm", "ffn_norm")
                    .replace("input_layernorm", "attn_norm");
                n
            };
            for (n, v, shape) in &hf {
                let v = if permute && n.contains("q_proj") {
                    permute_for_pairs(v, heads, h)
                } else if permute && n.contains("k_proj") {
                    permute_for_pairs(v, kv_heads, h)
                } else {
                    v.clone()
                };
                let dims: Vec<u64> = shape.iter().rev().map(|&x| x as u64).collect();
                let b: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                w.tensor(&gguf_name(n), &dims, 0, &b);
            }
            w.finish()
        };
        let gguf_bytes = build_gguf(true);

        let device = crate::device::cpu_device();
        let g = Gguf::parse(&gguf_bytes).unwrap();
        let from_gguf = Llama::from_gguf(&g, &device).unwrap();
        let config = from_gguf.config().clone();
        let from_st = Llama::from_safetensors(&st, config, &device).unwrap();
        let ids = [3u32, 17, 5, 30, 1, 8];
        let run = |m: &Llama| {
            let mut cache = m.new_cache();
            let mut out = pollster::block_on(m.logits(&ids[..4], &mut cache)).unwrap();
            out.extend(pollster::block_on(m.logits(&ids[4..5], &mut cache)).unwrap());
            out.extend(pollster::block_on(m.logits(&ids[5..], &mut cache)).unwrap());
            out
        };
        let (a, b) = (run(&from_gguf), run(&from_st));
        let worst = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 1e-4, "logits differ by {worst}");
        // And the permutation matters: a GGUF written without it gives other logits.
        let unpermuted = build_gguf(false);
        let g2 = Gguf::parse(&unpermuted).unwrap();
        let c = run(&Llama::from_gguf(&g2, &device).unwrap());
        let diff = a
            .iter()
            .zip(&c)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max);
        assert!(diff > 1e-2, "the rotary layout made no difference ({diff})");

        // Prefill in one pass equals token-by-token decoding (the KV cache and the mask).
        let mut cache = from_gguf.new_cache();
        let whole = pollster::block_on(from_gguf.logits(&ids, &mut cache)).unwrap();
        let mut cache = from_gguf.new_cache();
        let mut last = Vec::new();
        for id in ids {
            last = pollster::block_on(from_gguf.logits(&[id], &mut cache)).unwrap();
        }
        let worst = whole
            .iter()
            .zip(&last)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 1e-4, "prefill and step-by-step differ by {worst}");
        assert_eq!(cache.len(), ids.len());
    }

    #[test]
    fn transpose_is_correct() {
        assert_eq!(
            transpose(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 2, 3),
            vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]
        );
    }
}
