//! The decoder-only transformer the generator runs, shared by the architectures of
//! `crate::models` (`llama`, `qwen2`, `qwen3`, `gemma3`), which only say how their files
//! describe it.
//!
//! - `config`: the shape and the options an architecture sets;
//! - `weights`: the weights, kept in the file's blocks;
//! - `cpu`: the forward pass on the CPU, with quantized matrix products and a preallocated
//!   key/value cache;
//! - `gpu`: the same forward pass on WebGPU/wgpu, with quantized kernels and a preallocated
//!   cache too;
//! - `burn`: the forward pass with Burn's tensor operations on f32 weights (the generator before
//!   the quantized kernels): the benchmarks' reference, on any Burn device.

mod burn;
mod config;
mod cpu;
#[cfg(feature = "gpu")]
mod gpu;
mod weights;

use std::sync::Arc;

use ::burn::tensor::Device;

pub(crate) use config::ArchKeys;
pub use config::{Activation, DecoderConfig, RopeStyle};
pub use weights::{DecoderWeights, GgufSource, SafetensorsSource, load as load_weights};

use crate::device::BackendKind;
use crate::error::{Error, Result};
use crate::formats::Gguf;

/// The architectures localrag runs, by their GGUF name.
pub const ARCHITECTURES: [&str; 4] = ["llama", "qwen2", "qwen3", "gemma3"];

/// The config of a GGUF file's model, by its architecture.
pub fn config_of(g: &Gguf) -> Result<DecoderConfig> {
    let arch = g.require_str("general.architecture")?;
    let config = match arch {
        "llama" => super::llama::config(g)?,
        "qwen2" => super::qwen2::config(g)?,
        "qwen3" => super::qwen3::config(g)?,
        "gemma3" => super::gemma3::config(g)?,
        other => {
            return Err(Error::Config(format!(
                "model architecture `{other}` is not supported (supported: {})",
                ARCHITECTURES.join(", ")
            )));
        }
    };
    config.check()?;
    Ok(config)
}

enum Engine {
    Cpu,
    #[cfg(feature = "gpu")]
    Gpu(gpu::GpuDecoder),
    Burn(burn::BurnDecoder),
}

/// A decoder with its weights, on the CPU or on the GPU.
pub struct Decoder {
    config: DecoderConfig,
    weights: DecoderWeights,
    engine: Engine,
}

/// The key/value cache of one sequence.
pub enum Cache {
    Cpu(cpu::KvCache),
    #[cfg(feature = "gpu")]
    Gpu(gpu::GpuCache),
    Burn(burn::BurnCache),
}

impl Cache {
    /// Positions in the cache.
    pub fn len(&self) -> usize {
        match self {
            Cache::Cpu(c) => c.len(),
            #[cfg(feature = "gpu")]
            Cache::Gpu(c) => c.len,
            Cache::Burn(c) => c.len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Positions the cache was made for.
    pub fn capacity(&self) -> usize {
        match self {
            Cache::Cpu(c) => c.capacity(),
            #[cfg(feature = "gpu")]
            Cache::Gpu(c) => c.capacity,
            Cache::Burn(c) => c.capacity,
        }
    }

    /// Bytes the cache holds (on the GPU for a GPU cache).
    pub fn bytes(&self) -> usize {
        match self {
            Cache::Cpu(c) => c.bytes(),
            #[cfg(feature = "gpu")]
            Cache::Gpu(c) => c.bytes(),
            Cache::Burn(_) => 0,
        }
    }

    /// GPU dispatches of the last pass (a decode step once a prompt has run).
    pub fn dispatches(&self) -> Option<usize> {
        match self {
            #[cfg(feature = "gpu")]
            Cache::Gpu(c) => Some(c.dispatches),
            _ => None,
        }
    }
}

impl Decoder {
    /// The model of a GGUF file, its weights sharing `bytes` (which `g` was parsed from).
    pub fn from_gguf(g: &Gguf, bytes: Arc<Vec<u8>>, kind: BackendKind) -> Result<Self> {
        let config = config_of(g)?;
        let weights = weights::load(&config, &GgufSource { gguf: g, bytes })?;
        Self::new(config, weights, kind)
    }

    /// A model from its config and weights, on the CPU or on the GPU device (which must have
    /// been initialised, `crate::device::gpu_device*`).
    pub fn new(config: DecoderConfig, weights: DecoderWeights, kind: BackendKind) -> Result<Self> {
        let engine = match kind {
            BackendKind::Cpu => Engine::Cpu,
            #[cfg(feature = "gpu")]
            BackendKind::Gpu => {
                let ctx = crate::device::gpu_kernels().ok_or_else(|| {
                    Error::Backend("the GPU device has not been initialised".into())
                })?;
                Engine::Gpu(gpu::GpuDecoder::upload(ctx, &config, &weights)?)
            }
            #[cfg(not(feature = "gpu"))]
            BackendKind::Gpu => return Err(crate::device::no_gpu()),
        };
        Ok(Decoder {
            config,
            weights,
            engine,
        })
    }

    /// A model run by Burn's tensor operations on `device` with every matrix uploaded as f32
    /// (the benchmarks' reference: the generator before the quantized kernels).
    pub fn burn(config: DecoderConfig, weights: DecoderWeights, device: &Device) -> Self {
        let engine = Engine::Burn(burn::BurnDecoder::upload(&config, &weights, device));
        Decoder {
            config,
            weights,
            engine,
        }
    }

    pub fn config(&self) -> &DecoderConfig {
        &self.config
    }

    /// Bytes the weights hold in memory (their blocks as stored).
    pub fn weight_bytes(&self) -> usize {
        self.weights.bytes()
    }

    /// Bytes of the matrices uploaded to the GPU (0 on the CPU).
    pub fn gpu_bytes(&self) -> usize {
        match &self.engine {
            #[cfg(feature = "gpu")]
            Engine::Gpu(g) => g.bytes(),
            _ => 0,
        }
    }

    /// A cache for a sequence of at most `capacity` positions.
    pub fn new_cache(&self, capacity: usize) -> Result<Cache> {
        Ok(match &self.engine {
            Engine::Cpu => Cache::Cpu(cpu::KvCache::new(&self.config, capacity)),
            #[cfg(feature = "gpu")]
            Engine::Gpu(g) => Cache::Gpu(g.new_cache(&self.config, capacity)?),
            Engine::Burn(b) => Cache::Burn(b.new_cache(capacity)),
        })
    }

    /// Runs `ids` (the next positions of the sequence in `cache`) and returns the last one's
    /// logits, checked for NaN and infinity.
    pub async fn logits(&self, ids: &[u32], cache: &mut Cache) -> Result<Vec<f32>> {
        let c = &self.config;
        if ids.is_empty() {
            return Err(Error::Input("no tokens to run".into()));
        }
        let end = cache.len() + ids.len();
        if end > c.context_length.min(cache.capacity()) {
            return Err(Error::Input(format!(
                "{end} positions exceed the {} the cache was made for (the model's context is {})",
                cache.capacity(),
                c.context_length
            )));
        }
        let values = match (&self.engine, cache) {
            (Engine::Cpu, Cache::Cpu(cache)) => {
                cpu::CpuDecoder {
                    config: c,
                    weights: &self.weights,
                }
                .logits(ids, cache)
                .await?
            }
            #[cfg(feature = "gpu")]
            (Engine::Gpu(g), Cache::Gpu(cache)) => {
                let x = cpu::embed(c, &self.weights, ids)?;
                let factors = self.weights.rope_factors.as_deref();
                g.logits(c, factors, x, ids.len(), cache).await?
            }
            (Engine::Burn(b), Cache::Burn(cache)) => {
                let x = cpu::embed(c, &self.weights, ids)?;
                let factors = self.weights.rope_factors.as_deref();
                b.logits(c, factors, x, ids.len(), cache).await?
            }
            _ => return Err(Error::Input("the cache belongs to another device".into())),
        };
        if values.len() != c.vocab_size {
            return Err(Error::Output(format!(
                "{} logits for a vocabulary of {}",
                values.len(),
                c.vocab_size
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

#[cfg(test)]
mod tests {
    use super::*;

    fn max_diff(a: &[f32], b: &[f32]) -> f32 {
        assert_eq!(a.len(), b.len());
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    }

    /// A tiny random Llama written twice: as Hugging Face safetensors (q/k rows in
    /// `rotate_half` order, `model.*` names) and as GGUF (q/k rows permuted the way llama.cpp's
    /// converter does, `blk.*` names, F32). Both must give the same logits: this proves the
    /// safetensors path undoes the layout difference.
    #[test]
    fn safetensors_and_gguf_of_the_same_weights_agree_on_both_engines() {
        use crate::formats::gguf::tests::Writer;
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
                    crate::models::llama::permute_for_pairs(v, heads, h)
                } else if permute && n.contains("k_proj") {
                    crate::models::llama::permute_for_pairs(v, kv_heads, h)
                } else {
                    v.clone()
                };
                let dims: Vec<u64> = shape.iter().rev().map(|&x| x as u64).collect();
                let b: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                w.tensor(&gguf_name(n), &dims, 0, &b);
            }
            w.finish()
        };
        let gguf_bytes = Arc::new(build_gguf(true));

        let g = Gguf::parse(&gguf_bytes).unwrap();
        // Every engine: the CPU kernels, the GPU kernels (on lavapipe in CI), and Burn's tensor
        // operations on Burn's CPU backend.
        let device = crate::device::cpu_device();
        crate::device::gpu_device()
            .expect("a wgpu adapter (lavapipe: apt-get install mesa-vulkan-drivers)");
        let engines = [Engine::Cpu, Engine::Burn, Engine::Gpu];
        #[derive(Debug, Clone, Copy)]
        enum Engine {
            Cpu,
            Gpu,
            Burn,
        }
        let make = |g: &Gguf, bytes: &Arc<Vec<u8>>, e: Engine| match e {
            Engine::Cpu => Decoder::from_gguf(g, bytes.clone(), BackendKind::Cpu).unwrap(),
            Engine::Gpu => Decoder::from_gguf(g, bytes.clone(), BackendKind::Gpu).unwrap(),
            Engine::Burn => {
                let config = config_of(g).unwrap();
                let w = load_weights(
                    &config,
                    &GgufSource {
                        gguf: g,
                        bytes: bytes.clone(),
                    },
                )
                .unwrap();
                Decoder::burn(config, w, &device)
            }
        };
        let mut first: Option<Vec<f32>> = None;
        for kind in engines {
            let from_gguf = make(&g, &gguf_bytes, kind);
            let mut config = from_gguf.config().clone();
            config.rope_style = RopeStyle::Halves;
            let st = Arc::new(st.clone());
            let file = safetensors::SafeTensors::deserialize(&st).unwrap();
            let weights = load_weights(
                &config,
                &SafetensorsSource {
                    file,
                    bytes: st.clone(),
                },
            )
            .unwrap();
            let from_st = match kind {
                Engine::Cpu => Decoder::new(config, weights, BackendKind::Cpu).unwrap(),
                Engine::Gpu => Decoder::new(config, weights, BackendKind::Gpu).unwrap(),
                Engine::Burn => Decoder::burn(config, weights, &device),
            };
            let ids = [3u32, 17, 5, 30, 1, 8];
            let run = |m: &Decoder| {
                let mut cache = m.new_cache(ids.len()).unwrap();
                let mut out = pollster::block_on(m.logits(&ids[..4], &mut cache)).unwrap();
                out.extend(pollster::block_on(m.logits(&ids[4..5], &mut cache)).unwrap());
                out.extend(pollster::block_on(m.logits(&ids[5..], &mut cache)).unwrap());
                out
            };
            let (a, b) = (run(&from_gguf), run(&from_st));
            assert!(
                max_diff(&a, &b) < 1e-4,
                "{kind:?}: logits differ by {}",
                max_diff(&a, &b)
            );
            // Every engine gives the CPU's logits.
            match &first {
                None => first = Some(a.clone()),
                Some(cpu) => assert!(
                    max_diff(cpu, &a) < 1e-3,
                    "{kind:?} and the CPU differ by {}",
                    max_diff(cpu, &a)
                ),
            }
            // And the permutation matters: a GGUF written without it gives other logits.
            let unpermuted = Arc::new(build_gguf(false));
            let g2 = Gguf::parse(&unpermuted).unwrap();
            let c = run(&make(&g2, &unpermuted, kind));
            assert!(
                max_diff(&a, &c) > 1e-2,
                "the rotary layout made no difference"
            );

            // Prefill in one pass equals token-by-token decoding (the KV cache and the mask).
            let mut cache = from_gguf.new_cache(ids.len()).unwrap();
            let whole = pollster::block_on(from_gguf.logits(&ids, &mut cache)).unwrap();
            let mut cache = from_gguf.new_cache(ids.len()).unwrap();
            let mut last = Vec::new();
            for id in ids {
                last = pollster::block_on(from_gguf.logits(&[id], &mut cache)).unwrap();
            }
            assert!(
                max_diff(&whole, &last) < 1e-4,
                "{kind:?}: prefill and step-by-step differ"
            );
            assert_eq!(cache.len(), ids.len());
            // A full cache refuses more positions instead of growing.
            let err = pollster::block_on(from_gguf.logits(&[1], &mut cache)).unwrap_err();
            assert_eq!(err.code(), "E_INPUT", "{err}");
        }
    }
}
