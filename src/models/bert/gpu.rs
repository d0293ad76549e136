//! The encoder on a GPU (WebGPU in the browser, wgpu natively) with its matrices in their ggml
//! blocks: the generator's product kernels (`crate::kernels::gpu`) and the encoder's own in
//! `wgsl/` (post-norm residual LayerNorm, GELU, attention of packed texts).
//!
//! A pass holds up to [`PASS_TOKENS`] tokens of texts packed without padding. The embeddings
//! (token, position and type rows, then their LayerNorm) are computed on the CPU, where the
//! token table stays in its blocks; everything after runs in one submitted compute pass, and
//! the last hidden state is read back.

use std::sync::Arc;

use burn::tensor::wgpu::wgpu;

use super::weights::{BertWeights, Linear};
use super::{Activation, BertConfig};
use crate::error::{Error, Result};
use crate::kernels::gpu::{Bound, GpuContext, GpuMatrix, Params, Product, Word, f32_bytes, groups};

/// Tokens one pass holds at most.
pub use super::PASS_TOKENS;

struct GpuLinear {
    weight: GpuMatrix,
    bias: wgpu::Buffer,
}

struct GpuLayer {
    q: GpuLinear,
    k: GpuLinear,
    v: GpuLinear,
    o: GpuLinear,
    attn_norm: (wgpu::Buffer, wgpu::Buffer),
    up: GpuLinear,
    down: GpuLinear,
    out_norm: (wgpu::Buffer, wgpu::Buffer),
}

struct LayerOps {
    q: Product,
    k: Product,
    v: Product,
    attention: Bound,
    o: Product,
    attn_norm: Bound,
    up: Product,
    act: Bound,
    down: Product,
    out_norm: Bound,
}

struct Kernels {
    norm: wgpu::ComputePipeline,
    act: wgpu::ComputePipeline,
    attention: wgpu::ComputePipeline,
}

/// The encoder's weights on the GPU with every dispatch of a pass bound.
pub struct GpuEncoder {
    ctx: Arc<GpuContext>,
    _layers: Vec<GpuLayer>,
    ops: Vec<LayerOps>,
    kernels: Kernels,
    params: Params,
    /// Residual stream `[PASS_TOKENS, hidden]`, read back at the end.
    x: wgpu::Buffer,
    /// Each token's text as `[start, end)` in the pass, `[PASS_TOKENS, 2]`.
    spans: wgpu::Buffer,
    /// Longest text a pass holds (a scratch row of attention scores).
    max_len: usize,
    bytes: usize,
    _scratch: Vec<wgpu::Buffer>,
}

impl GpuEncoder {
    /// Uploads the matrices and binds every dispatch of a pass over `max_len`-token texts.
    pub fn upload(
        ctx: Arc<GpuContext>,
        c: &BertConfig,
        w: &BertWeights,
        max_len: usize,
    ) -> Result<Self> {
        let vector = |v: &[f32]| ctx.upload_f32("localrag vector", v);
        let linear = |l: &Linear| -> Result<GpuLinear> {
            Ok(GpuLinear {
                weight: GpuMatrix::upload(&ctx, &l.weight)?,
                bias: vector(&l.bias),
            })
        };
        let layers = w
            .layers
            .iter()
            .map(|l| {
                Ok(GpuLayer {
                    q: linear(&l.q)?,
                    k: linear(&l.k)?,
                    v: linear(&l.v)?,
                    o: linear(&l.o)?,
                    attn_norm: (vector(&l.attn_norm.weight), vector(&l.attn_norm.bias)),
                    up: linear(&l.up)?,
                    down: linear(&l.down)?,
                    out_norm: (vector(&l.out_norm.weight), vector(&l.out_norm.bias)),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let (h, ff, heads) = (c.hidden_size, c.intermediate_size, c.num_attention_heads);
        let f = |n: usize| 4 * PASS_TOKENS * n;
        let scores_bytes = 4 * PASS_TOKENS * heads * max_len;
        if scores_bytes as u64 > ctx.max_binding || f(ff) as u64 > ctx.max_binding {
            return Err(Error::Backend(format!(
                "a pass of {PASS_TOKENS} tokens does not fit in the GPU's buffers"
            )));
        }
        let x = ctx.scratch("localrag x", f(h));
        let t = ctx.scratch("localrag branch", f(h));
        let q = ctx.scratch("localrag q", f(h));
        let k = ctx.scratch("localrag k", f(h));
        let v = ctx.scratch("localrag v", f(h));
        let a = ctx.scratch("localrag attention", f(h));
        let mid = ctx.scratch("localrag intermediate", f(ff));
        let spans = ctx.scratch("localrag spans", 8 * PASS_TOKENS);
        let scores = ctx.scratch("localrag scores", scores_bytes);
        let dummy = ctx.scratch("localrag none", 4);
        let kernels = Kernels {
            norm: ctx.pipeline("localrag layer_norm", include_str!("wgsl/layernorm.wgsl")),
            act: ctx.pipeline("localrag gelu", include_str!("wgsl/gelu.wgsl")),
            attention: ctx.pipeline(
                "localrag encoder attention",
                include_str!("wgsl/attention.wgsl"),
            ),
        };
        let slots = layers
            .iter()
            .map(|l| {
                4 + [&l.q, &l.k, &l.v, &l.o, &l.up, &l.down]
                    .iter()
                    .map(|m| m.weight.parts())
                    .sum::<usize>()
            })
            .sum::<usize>();
        let mut params = Params::new(&ctx, slots as u32);
        let mut ops = Vec::with_capacity(layers.len());
        for l in &layers {
            let product =
                |params: &mut Params, m: &GpuLinear, x: &wgpu::Buffer, y: &wgpu::Buffer| {
                    m.weight.product(&ctx, x, y, Some(&m.bias), &dummy, params)
                };
            let qp = product(&mut params, &l.q, &x, &q)?;
            let kp = product(&mut params, &l.k, &x, &k)?;
            let vp = product(&mut params, &l.v, &x, &v)?;
            let attention = Bound::new(
                &ctx,
                &mut params,
                &kernels.attention,
                &[&q, &k, &v, &spans, &scores, &a],
            );
            let o = product(&mut params, &l.o, &a, &t)?;
            let attn_norm = Bound::new(
                &ctx,
                &mut params,
                &kernels.norm,
                &[&t, &x, &l.attn_norm.0, &l.attn_norm.1],
            );
            let up = product(&mut params, &l.up, &x, &mid)?;
            let act = Bound::new(&ctx, &mut params, &kernels.act, &[&mid]);
            let down = product(&mut params, &l.down, &mid, &t)?;
            let out_norm = Bound::new(
                &ctx,
                &mut params,
                &kernels.norm,
                &[&t, &x, &l.out_norm.0, &l.out_norm.1],
            );
            ops.push(LayerOps {
                q: qp,
                k: kp,
                v: vp,
                attention,
                o,
                attn_norm,
                up,
                act,
                down,
                out_norm,
            });
        }
        let bytes = layers
            .iter()
            .map(|l| {
                [&l.q, &l.k, &l.v, &l.o, &l.up, &l.down]
                    .iter()
                    .map(|m| m.weight.bytes())
                    .sum::<usize>()
            })
            .sum();
        Ok(GpuEncoder {
            ctx: ctx.clone(),
            _layers: layers,
            ops,
            kernels,
            params,
            x,
            spans,
            max_len,
            bytes,
            _scratch: vec![t, q, k, v, a, mid, scores, dummy],
        })
    }

    /// Bytes of the matrices on the GPU.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The last hidden state of packed texts whose embeddings (after the embedding LayerNorm)
    /// are `x` (`tokens × hidden`), each text's `[start, end)` in `spans`.
    pub async fn forward(
        &mut self,
        c: &BertConfig,
        x: &[f32],
        spans: &[(usize, usize)],
    ) -> Result<Vec<f32>> {
        let h = c.hidden_size;
        let tokens = x.len() / h;
        assert!(tokens <= PASS_TOKENS && tokens > 0);
        let mut token_spans = Vec::with_capacity(2 * tokens);
        for &(a, b) in spans {
            assert!(b - a <= self.max_len);
            for _ in a..b {
                token_spans.extend([a as u32, b as u32]);
            }
        }
        let ctx = &*self.ctx;
        ctx.queue.write_buffer(&self.x, 0, &f32_bytes(x));
        let span_bytes: Vec<u8> = token_spans.iter().flat_map(|v| v.to_le_bytes()).collect();
        ctx.queue.write_buffer(&self.spans, 0, &span_bytes);
        let n = tokens as u32;
        let heads = c.num_attention_heads as u32;
        let eps = Word::F(c.layer_norm_eps as f32);
        let kind = match c.activation {
            Activation::Gelu => 0,
            Activation::GeluTanh => 1,
            Activation::Relu => 2,
        };
        let mut encoder = ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor::default());
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("localrag encoder"),
                timestamp_writes: None,
            });
            let params = &mut self.params;
            let k = &self.kernels;
            let norm_words = [Word::U(h as u32), Word::U(n), eps];
            for op in &self.ops {
                op.q.record(&mut pass, params, n, 0, 0, false);
                op.k.record(&mut pass, params, n, 0, 0, false);
                op.v.record(&mut pass, params, n, 0, 0, false);
                op.attention.record(
                    &mut pass,
                    params,
                    &k.attention,
                    &[
                        Word::U(n),
                        Word::U(heads),
                        Word::U(c.head_dim() as u32),
                        Word::U(self.max_len as u32),
                        Word::F(1.0 / (c.head_dim() as f32).sqrt()),
                    ],
                    (heads, n),
                );
                op.o.record(&mut pass, params, n, 0, 0, false);
                op.attn_norm
                    .record(&mut pass, params, &k.norm, &norm_words, (n, 1));
                op.up.record(&mut pass, params, n, 0, 0, false);
                let count = n * c.intermediate_size as u32;
                let (gx, gy) = groups(count.div_ceil(256));
                op.act.record(
                    &mut pass,
                    params,
                    &k.act,
                    &[Word::U(count), Word::U(kind), Word::U(gx)],
                    (gx, gy),
                );
                op.down.record(&mut pass, params, n, 0, 0, false);
                op.out_norm
                    .record(&mut pass, params, &k.norm, &norm_words, (n, 1));
            }
        }
        self.params.write(ctx);
        ctx.queue.submit([encoder.finish()]);
        ctx.read_f32(&self.x, 4 * tokens * h).await
    }
}
