//! The forward pass on a GPU (WebGPU in the browser, wgpu natively) with the weights in their
//! ggml blocks: the matrix products of `crate::kernels::gpu`, and the decoder's own kernels in
//! `wgsl/` (RMSNorm, rotary embedding with the cache writes, attention, the gated activation).
//!
//! Everything a pass needs is allocated up front: activation buffers for `CHUNK` positions (a
//! longer prompt runs in several passes), and per sequence a key/value cache for its whole
//! capacity, a scratch row of attention scores per query, one uniform parameter slot per
//! dispatch and every bind group. A pass then writes the new embeddings, the rotation tables and
//! the parameters, records its dispatches into one compute pass and submits once; only the
//! last pass of a call reads anything back (the logits).

use std::sync::Arc;

use burn::tensor::wgpu::wgpu;

use super::config::{Activation, DecoderConfig, RopeStyle};
use super::cpu::rope_table;
use super::weights::DecoderWeights;
use crate::error::{Error, Result};
use crate::kernels::gpu::{Bound, GpuContext, GpuMatrix, Params, Product, Word, f32_bytes, groups};

/// Positions one pass runs at most.
pub const CHUNK: usize = 64;

struct LayerWeights {
    attn_norm: wgpu::Buffer,
    q: GpuMatrix,
    k: GpuMatrix,
    v: GpuMatrix,
    q_bias: Option<wgpu::Buffer>,
    k_bias: Option<wgpu::Buffer>,
    v_bias: Option<wgpu::Buffer>,
    q_norm: Option<wgpu::Buffer>,
    k_norm: Option<wgpu::Buffer>,
    o: GpuMatrix,
    post_attn_norm: Option<wgpu::Buffer>,
    ffn_norm: wgpu::Buffer,
    gate: GpuMatrix,
    up: GpuMatrix,
    down: GpuMatrix,
    post_ffw_norm: Option<wgpu::Buffer>,
}

/// Activations of one pass.
struct Activations {
    /// The residual stream `[CHUNK, hidden]`.
    x: wgpu::Buffer,
    /// Normed input of a block `[CHUNK, hidden]`.
    n: wgpu::Buffer,
    /// A block's output before its post-norm `[CHUNK, hidden]`.
    t: wgpu::Buffer,
    q: wgpu::Buffer,
    k: wgpu::Buffer,
    v: wgpu::Buffer,
    /// Attention output `[CHUNK, q_dim]`.
    a: wgpu::Buffer,
    gate: wgpu::Buffer,
    up: wgpu::Buffer,
    logits: wgpu::Buffer,
    /// Rotation tables of both bases: `[base][cos, sin][CHUNK][head_dim / 2]`.
    tables: wgpu::Buffer,
    /// Bound where a kernel has no such input (no bias, no q/k norm).
    dummy: wgpu::Buffer,
}

struct Kernels {
    norm: wgpu::ComputePipeline,
    rope: wgpu::ComputePipeline,
    attention: wgpu::ComputePipeline,
    act: wgpu::ComputePipeline,
}

/// The decoder's weights on the GPU.
pub struct GpuDecoder {
    ctx: Arc<GpuContext>,
    layers: Vec<LayerWeights>,
    norm: wgpu::Buffer,
    output: GpuMatrix,
    act: Activations,
    kernels: Kernels,
    bytes: usize,
}

struct LayerOps {
    attn_norm: Bound,
    q: Product,
    k: Product,
    v: Product,
    rope: Bound,
    attention: Bound,
    o: Product,
    post_attn_norm: Option<Bound>,
    ffn_norm: Bound,
    gate: Product,
    up: Product,
    act: Bound,
    down: Product,
    post_ffw_norm: Option<Bound>,
}

/// One sequence on the GPU: its key/value cache `[capacity, kv_dim]` per layer, and its passes
/// bound to it.
pub struct GpuCache {
    _k: Vec<wgpu::Buffer>,
    _v: Vec<wgpu::Buffer>,
    _scores: wgpu::Buffer,
    params: Params,
    layers: Vec<LayerOps>,
    final_norm: Bound,
    output: Product,
    /// Positions per pass (fewer than `CHUNK` when a long context makes the score rows large).
    chunk: usize,
    pub len: usize,
    pub capacity: usize,
    /// Dispatches of the last pass.
    pub dispatches: usize,
    bytes: usize,
}

impl GpuCache {
    /// Bytes the cache holds on the GPU (keys, values, attention scores).
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

impl GpuDecoder {
    pub fn upload(ctx: Arc<GpuContext>, c: &DecoderConfig, w: &DecoderWeights) -> Result<Self> {
        let up = |m| GpuMatrix::upload(&ctx, m);
        let vector = |v: &[f32]| ctx.upload_f32("localrag vector", v);
        let optional = |v: &Option<Vec<f32>>| v.as_deref().map(vector);
        let layers = w
            .layers
            .iter()
            .map(|l| {
                Ok(LayerWeights {
                    attn_norm: vector(&l.attn_norm),
                    q: up(&l.q)?,
                    k: up(&l.k)?,
                    v: up(&l.v)?,
                    q_bias: optional(&l.q_bias),
                    k_bias: optional(&l.k_bias),
                    v_bias: optional(&l.v_bias),
                    q_norm: optional(&l.q_norm),
                    k_norm: optional(&l.k_norm),
                    o: up(&l.o)?,
                    post_attn_norm: optional(&l.post_attn_norm),
                    ffn_norm: vector(&l.ffn_norm),
                    gate: up(&l.gate)?,
                    up: up(&l.up)?,
                    down: up(&l.down)?,
                    post_ffw_norm: optional(&l.post_ffw_norm),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let output = up(&w.output)?;
        let f = |n: usize| 4 * CHUNK * n;
        let act = Activations {
            x: ctx.scratch("localrag x", f(c.hidden_size)),
            n: ctx.scratch("localrag normed", f(c.hidden_size)),
            t: ctx.scratch("localrag branch", f(c.hidden_size)),
            q: ctx.scratch("localrag q", f(c.q_dim())),
            k: ctx.scratch("localrag k", f(c.kv_dim())),
            v: ctx.scratch("localrag v", f(c.kv_dim())),
            a: ctx.scratch("localrag attention", f(c.q_dim())),
            gate: ctx.scratch("localrag gate", f(c.intermediate_size)),
            up: ctx.scratch("localrag up", f(c.intermediate_size)),
            logits: ctx.scratch("localrag logits", 4 * c.vocab_size),
            tables: ctx.scratch("localrag rotary tables", 4 * f(c.head_dim / 2)),
            dummy: ctx.scratch("localrag none", 4),
        };
        let kernels = Kernels {
            norm: ctx.pipeline("localrag rms_norm", include_str!("wgsl/norm.wgsl")),
            rope: ctx.pipeline("localrag rope", include_str!("wgsl/rope.wgsl")),
            attention: ctx.pipeline("localrag attention", include_str!("wgsl/attention.wgsl")),
            act: ctx.pipeline("localrag gated activation", include_str!("wgsl/act.wgsl")),
        };
        let bytes = layers
            .iter()
            .map(|l| {
                [&l.q, &l.k, &l.v, &l.o, &l.gate, &l.up, &l.down]
                    .iter()
                    .map(|m| m.bytes())
                    .sum::<usize>()
            })
            .sum::<usize>()
            + output.bytes();
        let norm = vector(&w.norm);
        Ok(GpuDecoder {
            ctx,
            layers,
            norm,
            output,
            act,
            kernels,
            bytes,
        })
    }

    /// Bytes of the matrices on the GPU.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// A cache for `capacity` positions with every pass over it bound.
    pub fn new_cache(&self, c: &DecoderConfig, capacity: usize) -> Result<GpuCache> {
        let ctx = &*self.ctx;
        let a = &self.act;
        let capacity = capacity.max(1);
        let row = 4 * c.num_heads * capacity;
        let chunk = (ctx.max_binding as usize / row).min(CHUNK);
        let kv_bytes = 4 * capacity * c.kv_dim();
        if chunk == 0 || kv_bytes as u64 > ctx.max_binding {
            return Err(Error::Input(format!(
                "a context of {capacity} positions does not fit in the GPU's buffers"
            )));
        }
        let k: Vec<_> = (0..c.num_layers)
            .map(|_| ctx.scratch("localrag keys", kv_bytes))
            .collect();
        let v: Vec<_> = (0..c.num_layers)
            .map(|_| ctx.scratch("localrag values", kv_bytes))
            .collect();
        let scores = ctx.scratch("localrag scores", chunk * row);
        // Slots: one per dispatch — per layer at most 7 besides the products, one per part of
        // each product — and the final norm and output product.
        let slots = self
            .layers
            .iter()
            .map(|l| {
                7 + [&l.q, &l.k, &l.v, &l.o, &l.gate, &l.up, &l.down]
                    .iter()
                    .map(|m| m.parts())
                    .sum::<usize>()
            })
            .sum::<usize>()
            + 1
            + self.output.parts();
        let mut params = Params::new(ctx, slots as u32);
        let norm = &self.kernels.norm;
        let mut layers = Vec::with_capacity(c.num_layers);
        for (i, l) in self.layers.iter().enumerate() {
            let attn_norm = Bound::new(ctx, &mut params, norm, &[&a.x, &a.n, &l.attn_norm]);
            let rope = Bound::new(
                ctx,
                &mut params,
                &self.kernels.rope,
                &[
                    &a.q,
                    &a.k,
                    &a.v,
                    &k[i],
                    &v[i],
                    l.q_norm.as_ref().unwrap_or(&a.dummy),
                    l.k_norm.as_ref().unwrap_or(&a.dummy),
                    &a.tables,
                ],
            );
            let attention = Bound::new(
                ctx,
                &mut params,
                &self.kernels.attention,
                &[&a.q, &k[i], &v[i], &scores, &a.a],
            );
            let post_attn_norm = l
                .post_attn_norm
                .as_ref()
                .map(|w| Bound::new(ctx, &mut params, norm, &[&a.t, &a.x, w]));
            let ffn_norm = Bound::new(ctx, &mut params, norm, &[&a.x, &a.n, &l.ffn_norm]);
            let act = Bound::new(ctx, &mut params, &self.kernels.act, &[&a.gate, &a.up]);
            let post_ffw_norm = l
                .post_ffw_norm
                .as_ref()
                .map(|w| Bound::new(ctx, &mut params, norm, &[&a.t, &a.x, w]));
            let residual = |post: bool| if post { &a.t } else { &a.x };
            let o = l.o.product(
                ctx,
                &a.a,
                residual(post_attn_norm.is_some()),
                None,
                &a.dummy,
                &mut params,
            )?;
            let down = l.down.product(
                ctx,
                &a.up,
                residual(post_ffw_norm.is_some()),
                None,
                &a.dummy,
                &mut params,
            )?;
            layers.push(LayerOps {
                attn_norm,
                q: l.q
                    .product(ctx, &a.n, &a.q, l.q_bias.as_ref(), &a.dummy, &mut params)?,
                k: l.k
                    .product(ctx, &a.n, &a.k, l.k_bias.as_ref(), &a.dummy, &mut params)?,
                v: l.v
                    .product(ctx, &a.n, &a.v, l.v_bias.as_ref(), &a.dummy, &mut params)?,
                rope,
                attention,
                o,
                post_attn_norm,
                ffn_norm,
                gate: l
                    .gate
                    .product(ctx, &a.n, &a.gate, None, &a.dummy, &mut params)?,
                up: l
                    .up
                    .product(ctx, &a.n, &a.up, None, &a.dummy, &mut params)?,
                act,
                down,
                post_ffw_norm,
            });
        }
        let final_norm = Bound::new(ctx, &mut params, norm, &[&a.x, &a.n, &self.norm]);
        let output = self
            .output
            .product(ctx, &a.n, &a.logits, None, &a.dummy, &mut params)?;
        Ok(GpuCache {
            bytes: 2 * c.num_layers * kv_bytes + chunk * row,
            _k: k,
            _v: v,
            _scores: scores,
            params,
            layers,
            final_norm,
            output,
            chunk,
            len: 0,
            capacity,
            dispatches: 0,
        })
    }

    /// One pass over `seq ≤ chunk` positions whose embeddings are `x`; records and submits it.
    fn pass(
        &self,
        c: &DecoderConfig,
        factors: Option<&[f32]>,
        x: &[f32],
        seq: usize,
        cache: &mut GpuCache,
        last: bool,
    ) {
        let ctx = &*self.ctx;
        let a = &self.act;
        let start = cache.len;
        let half = c.head_dim / 2;
        ctx.queue.write_buffer(&a.x, 0, &f32_bytes(x));
        let mut tables = vec![0f32; 4 * CHUNK * half];
        for (b, base) in [c.rope_base, c.rope_base_local].into_iter().enumerate() {
            let (cos, sin) = rope_table(base, c.head_dim, factors, start, seq);
            let at = 2 * b * CHUNK * half;
            tables[at..at + cos.len()].copy_from_slice(&cos);
            tables[at + CHUNK * half..at + CHUNK * half + sin.len()].copy_from_slice(&sin);
        }
        ctx.queue.write_buffer(&a.tables, 0, &f32_bytes(&tables));

        let (h, seq_u, start_u) = (c.hidden_size as u32, seq as u32, start as u32);
        let eps = Word::F(c.rms_eps);
        let mut encoder = ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor::default());
        let mut dispatches = 0usize;
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("localrag decoder"),
                timestamp_writes: None,
            });
            let params = &mut cache.params;
            let norm_words = |rows: u32, src_off: u32, add: bool| {
                [
                    Word::U(h),
                    Word::U(rows),
                    Word::U(src_off),
                    Word::U(0),
                    eps,
                    Word::U(u32::from(add)),
                ]
            };
            let k = &self.kernels;
            let count = |p: &Product| p.dispatches();
            for (i, op) in cache.layers.iter().enumerate() {
                let sliding = c.is_sliding(i);
                op.attn_norm.record(
                    &mut pass,
                    params,
                    &k.norm,
                    &norm_words(seq_u, 0, false),
                    (seq_u, 1),
                );
                op.q.record(&mut pass, params, seq_u, 0, 0, false);
                op.k.record(&mut pass, params, seq_u, 0, 0, false);
                op.v.record(&mut pass, params, seq_u, 0, 0, false);
                let table_off = (2 * usize::from(sliding) * CHUNK * half) as u32;
                op.rope.record(
                    &mut pass,
                    params,
                    &k.rope,
                    &[
                        Word::U(seq_u),
                        Word::U(start_u),
                        Word::U(c.num_heads as u32),
                        Word::U(c.num_kv_heads as u32),
                        Word::U(c.head_dim as u32),
                        Word::U(u32::from(c.qk_norm)),
                        Word::U(u32::from(c.rope_style == RopeStyle::Halves)),
                        Word::U(table_off),
                        Word::U((CHUNK * half) as u32),
                        eps,
                    ],
                    ((c.num_heads + 2 * c.num_kv_heads) as u32, seq_u),
                );
                let window = if sliding {
                    c.sliding_window.unwrap_or(0)
                } else {
                    0
                };
                op.attention.record(
                    &mut pass,
                    params,
                    &k.attention,
                    &[
                        Word::U(seq_u),
                        Word::U(start_u),
                        Word::U(c.num_heads as u32),
                        Word::U(c.num_kv_heads as u32),
                        Word::U(c.head_dim as u32),
                        Word::U(window as u32),
                        Word::U(cache.capacity as u32),
                        Word::F(c.attention_scale),
                    ],
                    (c.num_heads as u32, seq_u),
                );
                op.o.record(&mut pass, params, seq_u, 0, 0, op.post_attn_norm.is_none());
                if let Some(n) = &op.post_attn_norm {
                    n.record(
                        &mut pass,
                        params,
                        &k.norm,
                        &norm_words(seq_u, 0, true),
                        (seq_u, 1),
                    );
                }
                op.ffn_norm.record(
                    &mut pass,
                    params,
                    &k.norm,
                    &norm_words(seq_u, 0, false),
                    (seq_u, 1),
                );
                op.gate.record(&mut pass, params, seq_u, 0, 0, false);
                op.up.record(&mut pass, params, seq_u, 0, 0, false);
                let n = seq_u * c.intermediate_size as u32;
                let (gx, gy) = groups(n.div_ceil(256));
                op.act.record(
                    &mut pass,
                    params,
                    &k.act,
                    &[
                        Word::U(n),
                        Word::U(u32::from(c.activation == Activation::GeluTanh)),
                        Word::U(gx),
                    ],
                    (gx, gy),
                );
                op.down
                    .record(&mut pass, params, seq_u, 0, 0, op.post_ffw_norm.is_none());
                if let Some(n) = &op.post_ffw_norm {
                    n.record(
                        &mut pass,
                        params,
                        &k.norm,
                        &norm_words(seq_u, 0, true),
                        (seq_u, 1),
                    );
                }
                dispatches += 5
                    + usize::from(op.post_attn_norm.is_some())
                    + usize::from(op.post_ffw_norm.is_some())
                    + [&op.q, &op.k, &op.v, &op.o, &op.gate, &op.up, &op.down]
                        .into_iter()
                        .map(count)
                        .sum::<usize>();
            }
            if last {
                cache.final_norm.record(
                    &mut pass,
                    params,
                    &k.norm,
                    &norm_words(1, (seq_u - 1) * h, false),
                    (1, 1),
                );
                cache.output.record(&mut pass, params, 1, 0, 0, false);
                dispatches += 1 + count(&cache.output);
            }
        }
        cache.params.write(ctx);
        ctx.queue.submit([encoder.finish()]);
        cache.dispatches = dispatches;
        cache.len = start + seq;
    }

    /// The logits of the last of the positions whose embeddings are `x` (`seq` rows).
    pub async fn logits(
        &self,
        c: &DecoderConfig,
        factors: Option<&[f32]>,
        x: Vec<f32>,
        seq: usize,
        cache: &mut GpuCache,
    ) -> Result<Vec<f32>> {
        let h = c.hidden_size;
        let before = cache.len;
        let chunk = cache.chunk;
        let passes = seq.div_ceil(chunk);
        for p in 0..passes {
            let rows = chunk.min(seq - p * chunk);
            let x = &x[p * chunk * h..(p * chunk + rows) * h];
            self.pass(c, factors, x, rows, cache, p + 1 == passes);
        }
        match self.ctx.read_f32(&self.act.logits, 4 * c.vocab_size).await {
            Ok(v) => Ok(v),
            Err(e) => {
                cache.len = before;
                Err(e)
            }
        }
    }
}
