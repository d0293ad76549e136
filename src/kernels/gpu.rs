//! Matrix products with weights in their ggml blocks on a GPU, through wgpu (WebGPU in the
//! browser, Vulkan/Metal/DX12 natively) on the device Burn set up: the matrix's bytes are
//! uploaded as they are in the file, and WGSL kernels dequantize each weight where they read it
//! (`wgsl/quant.wgsl` plus `deq`/`deq8`/`dot8` per type below). `matvec.wgsl` is the decode and
//! short-prompt product (one invocation per output row, each weight dequantized once for 8 rows
//! of activations), `matmul.wgsl` the long-prompt product (tiles of 64 × 64).
//!
//! Small pieces the decoder's kernels share live here too: the uniform parameter slots every
//! dispatch reads, buffer helpers and reading a buffer back.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use burn::tensor::wgpu::wgpu;
use wgpu::util::DeviceExt;

use super::QMatrix;
use crate::error::{Error, Result};
use crate::formats::GgmlType;

/// Bytes between two parameter slots: WebGPU's largest allowed
/// `minUniformBufferOffsetAlignment`.
pub const SLOT: u64 = 256;
/// Workgroups along one dimension of a dispatch, at most (WebGPU's guaranteed limit).
pub const MAX_GROUPS: u32 = 65_535;
/// Bytes one storage binding may cover, at most, whatever the device allows: WebGPU guarantees
/// 128 MiB, and a large vocabulary's output matrix is more, so such a matrix is uploaded in
/// parts.
pub const MAX_BINDING: u64 = 128 << 20;

/// `deq(b, j)`: element `j` of the block at byte `b`, per type, with the type's elements (`QK`)
/// and bytes (`BB`) per block; `deq8(base, k)`: elements `k..k + 8` of the row at byte `base`
/// (`k` a multiple of 8), the block's scales read once; `dot8(base, k, xo)`: their dot product
/// with `x[xo..xo + 8]`.
fn deq_source(kind: GgmlType) -> Option<String> {
    let (deq, qk, bb) = match kind {
        GgmlType::F32 => ("return bitcast<f32>(wq[b >> 2u]);".to_string(), 1, 4),
        GgmlType::F16 => ("return half_at(b);".to_string(), 1, 2),
        GgmlType::BF16 => (
            "let v = wq[b >> 2u];
             let h = select(v & 0xffffu, v >> 16u, (b & 2u) != 0u);
             return bitcast<f32>(h << 16u);"
                .to_string(),
            1,
            2,
        ),
        GgmlType::Q4_0 => (
            "return half_at(b) * (f32(nibble(b + 2u, j)) - 8.0);".to_string(),
            32,
            18,
        ),
        GgmlType::Q4_1 => (
            "return half_at(b) * f32(nibble(b + 4u, j)) + half_at(b + 2u);".to_string(),
            32,
            20,
        ),
        GgmlType::Q5_0 => (
            "let n = nibble(b + 6u, j) | (((word_at(b + 2u) >> j) & 1u) << 4u);
             return half_at(b) * (f32(n) - 16.0);"
                .to_string(),
            32,
            22,
        ),
        GgmlType::Q5_1 => (
            "let n = nibble(b + 8u, j) | (((word_at(b + 4u) >> j) & 1u) << 4u);
             return half_at(b) * f32(n) + half_at(b + 2u);"
                .to_string(),
            32,
            24,
        ),
        GgmlType::Q8_0 => (
            "return half_at(b) * signed_byte(byte_at(b + 2u + j));".to_string(),
            32,
            34,
        ),
        GgmlType::Q4K | GgmlType::Q5K => {
            // Sub-block `is` of 32 (scale, min); elements 64g..64g+32 are the low nibbles of
            // bytes 32g.., the next 32 the high nibbles; Q5_K's 5th bit is bit `is` of qh[l].
            let (qs, fifth, bytes) = if kind == GgmlType::Q4K {
                (16, "", 144)
            } else {
                (48, "n |= ((byte_at(b + 16u + l) >> is) & 1u) << 4u;", 176)
            };
            (
                format!(
                    "let is = j >> 5u;
                     let l = j & 31u;
                     let sm = scale_min_k4(b + 4u, is);
                     let q = byte_at(b + {qs}u + 32u * (j >> 6u) + l);
                     var n = select(q & 15u, q >> 4u, (is & 1u) == 1u);
                     {fifth}
                     return half_at(b) * f32(sm.x) * f32(n) - half_at(b + 2u) * f32(sm.y);"
                ),
                256,
                bytes,
            )
        }
        GgmlType::Q6K => (
            // Halves of 128; in each, quarter k of 32 takes ql[l + 32·(k & 1)] (low nibble for
            // k < 2), bits 2k.. of qh[l], scale 2k + l/16.
            "let n = j >> 7u;
             let r = j & 127u;
             let k = r >> 5u;
             let l = r & 31u;
             let ql = byte_at(b + 64u * n + l + 32u * (k & 1u));
             let lo = select(ql & 15u, ql >> 4u, k >= 2u);
             let hi = (byte_at(b + 128u + 32u * n + l) >> (2u * k)) & 3u;
             let sc = signed_byte(byte_at(b + 192u + 8u * n + (l >> 4u) + 2u * k));
             return half_at(b + 208u) * sc * (f32(lo | (hi << 4u)) - 32.0);"
                .to_string(),
            256,
            210,
        ),
        GgmlType::Other(_) => return None,
    };
    Some(format!(
        "const QK: u32 = {qk}u;\nconst BB: u32 = {bb}u;\n\
         fn deq(b: u32, j: u32) -> f32 {{\n{deq}\n}}\n{}",
        deq8_source(kind)
    ))
}

/// `deq8` and `dot8` (Σ of the 8 elements times `x[xo..]`, the decode kernel's step) per type,
/// from `prelude`, which reads the block's scales and the 8 elements' bytes once (`b`: the
/// block's byte, `j`: the first element's index in it), and element `i` = `d·raw(i) + min`
/// (`dot8` scales the sums once).
/// Every offset read is even, as `bytes8` needs.
fn deq8_source(kind: GgmlType) -> String {
    let nibbles = |at: &str| {
        format!("let w = bytes8(b + {at} + (j & 15u));\nlet sh = select(0u, 4u, j >= 16u);")
    };
    let nibble = "((byte8(w, i) >> sh) & 15u)";
    let fifth = "(((qh >> (j + i)) & 1u) << 4u)";
    let (prelude, (raw, min)) = match kind {
        GgmlType::Q4_0 => (
            format!("let d = half_at(b);\n{}", nibbles("2u")),
            (format!("f32({nibble}) - 8.0"), ""),
        ),
        GgmlType::Q4_1 => (
            format!("let d = half_at(b);\nlet m = half_at(b + 2u);\n{}", nibbles("4u")),
            (format!("f32({nibble})"), "m"),
        ),
        GgmlType::Q5_0 => (
            format!("let d = half_at(b);\nlet qh = word_at(b + 2u);\n{}", nibbles("6u")),
            (format!("f32({nibble} | {fifth}) - 16.0"), ""),
        ),
        GgmlType::Q5_1 => (
            format!(
                "let d = half_at(b);\nlet m = half_at(b + 2u);\nlet qh = word_at(b + 4u);\n{}",
                nibbles("8u")
            ),
            (format!("f32({nibble} | {fifth})"), "m"),
        ),
        GgmlType::Q8_0 => (
            "let d = half_at(b);\nlet w = bytes8(b + 2u + j);".to_string(),
            ("signed_byte(byte8(w, i))".to_string(), ""),
        ),
        GgmlType::Q4K | GgmlType::Q5K => {
            let (qs, fifth) = if kind == GgmlType::Q4K {
                ("16u", "")
            } else {
                ("48u", " | (((byte8(qh, i) >> is) & 1u) << 4u)")
            };
            (
                format!(
                    "let is = j >> 5u;\nlet l = j & 31u;\nlet sm = scale_min_k4(b + 4u, is);\n\
                     let d = half_at(b) * f32(sm.x);\nlet m = half_at(b + 2u) * f32(sm.y);\n\
                     let w = bytes8(b + {qs} + 32u * (j >> 6u) + l);\n\
                     let qh = bytes8(b + 16u + l);\nlet sh = (is & 1u) * 4u;"
                ),
                (format!("f32({nibble}{fifth})"), "-m"),
            )
        }
        GgmlType::Q6K => (
            "let n = j >> 7u;\nlet r = j & 127u;\nlet q = r >> 5u;\nlet l = r & 31u;\n\
             let ql = bytes8(b + 64u * n + l + 32u * (q & 1u));\n\
             let qh = bytes8(b + 128u + 32u * n + l);\n\
             let d = half_at(b + 208u) * \
               signed_byte(byte_at(b + 192u + 8u * n + (l >> 4u) + 2u * q));\n\
             let sh = select(0u, 4u, q >= 2u);"
                .to_string(),
            (
                "f32(((byte8(ql, i) >> sh) & 15u) | (((byte8(qh, i) >> (2u * q)) & 3u) << 4u)) - 32.0"
                    .to_string(),
                "",
            ),
        ),
        // One element per block: element by element, within the row.
        _ => (
            "let d = 1.0;".to_string(),
            (
                "select(0.0, deq(base + ((k + i) / QK) * BB, (k + i) % QK), k + i < p.cols)"
                    .to_string(),
                "",
            ),
        ),
    };
    let start = "let b = base + (k / QK) * BB;\nlet j = k % QK;";
    let (value, result) = if min.is_empty() {
        (format!("d * ({raw})"), "d * s".to_string())
    } else {
        (
            format!("d * ({raw}) + {min}"),
            format!("d * s + ({min}) * sx"),
        )
    };
    // Written out 8 times with constant indices: software implementations (SwiftShader) keep a
    // dynamically indexed array in memory.
    let unrolled = |body: &dyn Fn(usize) -> String| {
        (0..8)
            .map(|i| format!("{{ let i = {i}u; {} }}\n", body(i)))
            .collect::<String>()
    };
    let deq8 = unrolled(&|i| format!("out[{i}] = {value};"));
    let dot8 = unrolled(&|_| format!("let xi = x[xo + i]; s += ({raw}) * xi; sx += xi;"));
    format!(
        "fn deq8(base: u32, k: u32) -> array<f32, 8> {{\n{start}\n{prelude}\n\
         var out: array<f32, 8>;\n{deq8}return out;\n}}\n\
         fn dot8(base: u32, k: u32, xo: u32) -> f32 {{\n{start}\n{prelude}\n\
         var s = 0.0;\nvar sx = 0.0;\n{dot8}return {result};\n}}\n"
    )
}

/// From this many rows of activations on, the tiled kernel; fewer go to the vector kernel, 8
/// rows per workgroup. On SwiftShader (headless Chromium's WebGPU) the tiled kernel's barriers
/// made a 44-token prefill of SmolLM2 take 54 s, several times the vector kernel's; from a full
/// tile on, the tiles read the weights 8 times less often.
const TILED_FROM: u32 = 64;

/// The two product kernels.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Shape {
    /// Fewer than `TILED_FROM` rows of activations: one invocation per output row.
    Vector,
    /// More rows, in tiles of 64.
    Tiles,
}

/// The device, its queue and the compiled product kernels (per weight type, on first use).
pub struct GpuContext {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    /// The bindings every product kernel has: weights, x, y, bias, parameters.
    product_layout: wgpu::BindGroupLayout,
    product_pipeline_layout: wgpu::PipelineLayout,
    pipelines: Mutex<HashMap<(GgmlType, Shape), wgpu::ComputePipeline>>,
    /// Bytes one storage binding may cover here.
    pub max_binding: u64,
}

fn entry(binding: u32, ty: wgpu::BufferBindingType) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty,
            has_dynamic_offset: false,
            min_binding_size: None,
        },
        count: None,
    }
}

const READ: wgpu::BufferBindingType = wgpu::BufferBindingType::Storage { read_only: true };
const WRITE: wgpu::BufferBindingType = wgpu::BufferBindingType::Storage { read_only: false };
const UNIFORM: wgpu::BufferBindingType = wgpu::BufferBindingType::Uniform;

impl GpuContext {
    pub fn new(device: wgpu::Device, queue: wgpu::Queue) -> Arc<Self> {
        Self::with_max_binding(device, queue, MAX_BINDING)
    }

    /// [`GpuContext::new`] with bindings of at most `max_binding` bytes (tests split matrices
    /// into parts with it).
    pub fn with_max_binding(
        device: wgpu::Device,
        queue: wgpu::Queue,
        max_binding: u64,
    ) -> Arc<Self> {
        let product_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("localrag product"),
            entries: &[
                entry(0, READ),
                entry(1, READ),
                entry(2, WRITE),
                entry(3, READ),
                entry(4, UNIFORM),
            ],
        });
        let product_pipeline_layout =
            device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some("localrag product"),
                bind_group_layouts: &[Some(&product_layout)],
                immediate_size: 0,
            });
        let max_binding = device
            .limits()
            .max_storage_buffer_binding_size
            .min(device.limits().max_buffer_size)
            .min(max_binding);
        Arc::new(GpuContext {
            device,
            queue,
            product_layout,
            product_pipeline_layout,
            pipelines: Mutex::new(HashMap::new()),
            max_binding,
        })
    }

    /// A compute pipeline of a WGSL source with its layout taken from the shader.
    pub fn pipeline(&self, label: &str, source: &str) -> wgpu::ComputePipeline {
        let module = self
            .device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(label),
                source: wgpu::ShaderSource::Wgsl(source.into()),
            });
        self.device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(label),
                layout: None,
                module: &module,
                entry_point: Some("main"),
                compilation_options: Default::default(),
                cache: None,
            })
    }

    fn product_pipeline(&self, kind: GgmlType, shape: Shape) -> Result<wgpu::ComputePipeline> {
        let mut cache = self.pipelines.lock().expect("pipeline cache");
        if let Some(p) = cache.get(&(kind, shape)) {
            return Ok(p.clone());
        }
        let deq = deq_source(kind).ok_or_else(|| {
            Error::ModelFormat(format!("{} weights cannot be read on the GPU", kind.name()))
        })?;
        let kernel = match shape {
            Shape::Vector => include_str!("wgsl/matvec.wgsl"),
            Shape::Tiles => include_str!("wgsl/matmul.wgsl"),
        };
        let source = format!(
            "{}\n{kernel}\n{}\n{deq}",
            include_str!("wgsl/product.wgsl"),
            include_str!("wgsl/quant.wgsl")
        );
        let label = format!("localrag {:?} {}", shape, kind.name());
        let module = self
            .device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(&label),
                source: wgpu::ShaderSource::Wgsl(source.into()),
            });
        let pipeline = self
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(&label),
                layout: Some(&self.product_pipeline_layout),
                module: &module,
                entry_point: Some("main"),
                compilation_options: Default::default(),
                cache: None,
            });
        cache.insert((kind, shape), pipeline.clone());
        Ok(pipeline)
    }

    /// A storage buffer of `bytes` (at least 4) that kernels write and that can be copied out.
    pub fn scratch(&self, label: &str, bytes: usize) -> wgpu::Buffer {
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: (bytes.max(4) as u64).next_multiple_of(4),
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_DST
                | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        })
    }

    /// Queues `bytes` into `buffer` from its start, in slices. In the browser
    /// `GPUQueue.writeBuffer` reads them straight out of the wasm memory, where a buffer mapped
    /// at creation would first be copied into a temporary `Vec` as large as the buffer (wgpu's
    /// WebGPU backend), growing the wasm memory, which never shrinks, by the largest matrix.
    pub fn write(&self, buffer: &wgpu::Buffer, bytes: &[u8]) {
        const SLICE: usize = 16 << 20;
        let whole = bytes.len() / 4 * 4;
        for (i, part) in bytes[..whole].chunks(SLICE).enumerate() {
            self.queue.write_buffer(buffer, (i * SLICE) as u64, part);
        }
        if whole < bytes.len() {
            let mut tail = bytes[whole..].to_vec();
            tail.resize(4, 0);
            self.queue.write_buffer(buffer, whole as u64, &tail);
        }
    }

    /// A storage buffer holding `values`.
    pub fn upload_f32(&self, label: &str, values: &[f32]) -> wgpu::Buffer {
        let bytes = if values.is_empty() {
            vec![0; 4]
        } else {
            f32_bytes(values)
        };
        self.device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents: &bytes,
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
            })
    }

    /// A bind group for `pipeline` with `buffers` at bindings 0.. and parameter slot `slot` of
    /// `params` last.
    pub fn bind(
        &self,
        pipeline: &wgpu::ComputePipeline,
        buffers: &[&wgpu::Buffer],
        params: &wgpu::Buffer,
        slot: u32,
    ) -> wgpu::BindGroup {
        bind_with(
            &self.device,
            &pipeline.get_bind_group_layout(0),
            buffers,
            params,
            slot,
        )
    }

    /// Reads `bytes` bytes of `buffer` (which must allow `COPY_SRC`) back as f32 values, after
    /// the work submitted so far.
    pub async fn read_f32(&self, buffer: &wgpu::Buffer, bytes: usize) -> Result<Vec<f32>> {
        let size = (bytes as u64).next_multiple_of(4);
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("localrag readback"),
            size,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor::default());
        encoder.copy_buffer_to_buffer(buffer, 0, &staging, 0, size);
        self.queue.submit([encoder.finish()]);
        let (tx, rx) = oneshot();
        staging.map_async(wgpu::MapMode::Read, .., move |r| tx.send(r));
        #[cfg(not(target_arch = "wasm32"))]
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| Error::Backend(format!("waiting for the GPU failed: {e}")))?;
        rx.await
            .map_err(|e| Error::Backend(format!("reading from the GPU failed: {e}")))?;
        let values = {
            let view = staging
                .get_mapped_range(..)
                .map_err(|e| Error::Backend(format!("reading from the GPU failed: {e}")))?;
            view.chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect()
        };
        staging.unmap();
        Ok(values)
    }
}

fn bind_with(
    device: &wgpu::Device,
    layout: &wgpu::BindGroupLayout,
    buffers: &[&wgpu::Buffer],
    params: &wgpu::Buffer,
    slot: u32,
) -> wgpu::BindGroup {
    let mut entries: Vec<wgpu::BindGroupEntry> = buffers
        .iter()
        .enumerate()
        .map(|(i, b)| wgpu::BindGroupEntry {
            binding: i as u32,
            resource: b.as_entire_binding(),
        })
        .collect();
    entries.push(wgpu::BindGroupEntry {
        binding: buffers.len() as u32,
        resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
            buffer: params,
            offset: slot as u64 * SLOT,
            size: wgpu::BufferSize::new(SLOT),
        }),
    });
    device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: None,
        layout,
        entries: &entries,
    })
}

/// The uniform parameters of a sequence of dispatches: slot `i` (16 words) at byte `i·SLOT` of
/// one buffer, written once before the work is submitted.
pub struct Params {
    pub buffer: wgpu::Buffer,
    bytes: Vec<u8>,
    next: u32,
}

/// One parameter word.
#[derive(Clone, Copy)]
pub enum Word {
    U(u32),
    F(f32),
}

impl Params {
    pub fn new(ctx: &GpuContext, slots: u32) -> Self {
        let size = slots as u64 * SLOT;
        Params {
            buffer: ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("localrag parameters"),
                size,
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }),
            bytes: vec![0; size as usize],
            next: 0,
        }
    }

    /// Reserves a slot.
    pub fn slot(&mut self) -> u32 {
        let s = self.next;
        assert!(
            (s as u64 + 1) * SLOT <= self.bytes.len() as u64,
            "parameter slots exhausted"
        );
        self.next += 1;
        s
    }

    /// Sets slot `s`.
    pub fn set(&mut self, s: u32, words: &[Word]) {
        let at = s as usize * SLOT as usize;
        for (i, w) in words.iter().enumerate() {
            let v = match w {
                Word::U(u) => *u,
                Word::F(f) => f.to_bits(),
            };
            self.bytes[at + 4 * i..at + 4 * i + 4].copy_from_slice(&v.to_le_bytes());
        }
    }

    /// Queues the slots' values (before the commands that read them are submitted).
    pub fn write(&self, ctx: &GpuContext) {
        ctx.queue.write_buffer(&self.buffer, 0, &self.bytes);
    }
}

/// A dispatch of one of a model's own kernels (anything but a product), bound once to its
/// buffers and a parameter slot, and recorded with its parameters in every pass.
pub struct Bound {
    group: wgpu::BindGroup,
    slot: u32,
}

impl Bound {
    /// Binds `buffers` at `pipeline`'s bindings 0.., and a new slot of `params` after them.
    pub fn new(
        ctx: &GpuContext,
        params: &mut Params,
        pipeline: &wgpu::ComputePipeline,
        buffers: &[&wgpu::Buffer],
    ) -> Bound {
        let slot = params.slot();
        Bound {
            group: ctx.bind(pipeline, buffers, &params.buffer, slot),
            slot,
        }
    }

    /// Sets the slot to `words` and records `groups` workgroups of `pipeline`.
    pub fn record(
        &self,
        pass: &mut wgpu::ComputePass,
        params: &mut Params,
        pipeline: &wgpu::ComputePipeline,
        words: &[Word],
        (gx, gy): (u32, u32),
    ) {
        params.set(self.slot, words);
        pass.set_pipeline(pipeline);
        pass.set_bind_group(0, &self.group, &[]);
        pass.dispatch_workgroups(gx, gy, 1);
    }
}

/// `values` as little-endian bytes, as buffers hold them.
pub fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Workgroup counts covering `n` groups: `(x, y)` with `x ≤ MAX_GROUPS`.
pub fn groups(n: u32) -> (u32, u32) {
    if n <= MAX_GROUPS {
        (n.max(1), 1)
    } else {
        (MAX_GROUPS, n.div_ceil(MAX_GROUPS))
    }
}

/// A weight matrix on the GPU: its bytes as in the file, in parts of whole rows that each fit a
/// binding.
pub struct GpuMatrix {
    kind: GgmlType,
    rows: usize,
    cols: usize,
    row_bytes: usize,
    /// (buffer, first row, rows)
    parts: Vec<(wgpu::Buffer, usize, usize)>,
}

impl GpuMatrix {
    pub fn upload(ctx: &GpuContext, m: &QMatrix) -> Result<Self> {
        let row_bytes = m.row_bytes;
        let per_part = (ctx.max_binding as usize / row_bytes).min(m.rows());
        if per_part == 0 {
            return Err(Error::Backend(format!(
                "a row of {row_bytes} bytes does not fit in a GPU binding"
            )));
        }
        let parts = (0..m.rows())
            .step_by(per_part)
            .map(|first| {
                let n = per_part.min(m.rows() - first);
                let bytes = &m.bytes()[first * row_bytes..(first + n) * row_bytes];
                let buffer = ctx.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("localrag weights"),
                    size: (bytes.len() as u64).next_multiple_of(4),
                    usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                });
                ctx.write(&buffer, bytes);
                (buffer, first, n)
            })
            .collect();
        // Compile the kernels now, so a type the GPU cannot read fails the load.
        ctx.product_pipeline(m.kind(), Shape::Vector)?;
        ctx.product_pipeline(m.kind(), Shape::Tiles)?;
        Ok(GpuMatrix {
            kind: m.kind(),
            rows: m.rows(),
            cols: m.cols(),
            row_bytes,
            parts,
        })
    }

    /// Parts the matrix is uploaded in (a product records one dispatch per part).
    pub fn parts(&self) -> usize {
        self.parts.len()
    }

    /// Bytes held on the GPU.
    pub fn bytes(&self) -> usize {
        self.rows * self.row_bytes
    }

    /// The product of this matrix with activations in `x` into `y` (and `bias`, or a dummy),
    /// with parameter slots reserved in `params`: record it with [`Product::record`].
    pub fn product(
        &self,
        ctx: &GpuContext,
        x: &wgpu::Buffer,
        y: &wgpu::Buffer,
        bias: Option<&wgpu::Buffer>,
        dummy: &wgpu::Buffer,
        params: &mut Params,
    ) -> Result<Product> {
        let parts = self
            .parts
            .iter()
            .map(|(buffer, first, rows)| {
                let slot = params.slot();
                let group = bind_with(
                    &ctx.device,
                    &ctx.product_layout,
                    &[buffer, x, y, bias.unwrap_or(dummy)],
                    &params.buffer,
                    slot,
                );
                (group, slot, *first as u32, *rows as u32)
            })
            .collect();
        Ok(Product {
            vector: ctx.product_pipeline(self.kind, Shape::Vector)?,
            tiles: ctx.product_pipeline(self.kind, Shape::Tiles)?,
            cols: self.cols as u32,
            rows: self.rows as u32,
            row_bytes: self.row_bytes as u32,
            has_bias: bias.is_some(),
            parts,
        })
    }
}

/// A matrix product bound to its buffers, recorded once per forward pass.
pub struct Product {
    vector: wgpu::ComputePipeline,
    tiles: wgpu::ComputePipeline,
    cols: u32,
    rows: u32,
    row_bytes: u32,
    has_bias: bool,
    /// (bind group, parameter slot, first row, rows) per part.
    parts: Vec<(wgpu::BindGroup, u32, u32, u32)>,
}

impl Product {
    /// Dispatches a record takes (one per part).
    pub fn dispatches(&self) -> usize {
        self.parts.len()
    }

    /// Records `y[y_off + t·rows + r] (+)= Σ_k x[x_off + t·cols + k]·W[r, k]` for `m` rows `t`.
    pub fn record(
        &self,
        pass: &mut wgpu::ComputePass,
        params: &mut Params,
        m: u32,
        x_off: u32,
        y_off: u32,
        accumulate: bool,
    ) {
        let flags = u32::from(self.has_bias) | (u32::from(accumulate) << 1);
        for (group, slot, first, rows) in &self.parts {
            let vector = m < TILED_FROM;
            let (gx, gy, gz) = if vector {
                let (gx, gy) = groups(rows.div_ceil(64));
                (gx, gy, m.div_ceil(8))
            } else {
                (rows.div_ceil(64), m.div_ceil(64), 1)
            };
            params.set(
                *slot,
                &[
                    Word::U(*rows),
                    Word::U(self.cols),
                    Word::U(self.row_bytes),
                    Word::U(x_off),
                    Word::U(y_off + first),
                    Word::U(flags),
                    Word::U(m),
                    Word::U(gx),
                    Word::U(self.rows),
                    Word::U(*first),
                ],
            );
            pass.set_pipeline(if vector { &self.vector } else { &self.tiles });
            pass.set_bind_group(0, group, &[]);
            pass.dispatch_workgroups(gx, gy, gz);
        }
    }
}

/// A single-use channel: the value of a callback, awaited.
fn oneshot<T>() -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Mutex::new((None, None)));
    (Sender(shared.clone()), Receiver(shared))
}

type Slot<T> = Arc<Mutex<(Option<T>, Option<std::task::Waker>)>>;

struct Sender<T>(Slot<T>);
struct Receiver<T>(Slot<T>);

impl<T> Sender<T> {
    fn send(self, value: T) {
        let mut s = self.0.lock().expect("oneshot");
        s.0 = Some(value);
        if let Some(w) = s.1.take() {
            w.wake();
        }
    }
}

impl<T> std::future::Future for Receiver<T> {
    type Output = T;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<T> {
        let mut s = self.0.lock().expect("oneshot");
        match s.0.take() {
            Some(v) => std::task::Poll::Ready(v),
            None => {
                s.1 = Some(cx.waker().clone());
                std::task::Poll::Pending
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Random bytes in `kind`'s blocks with sane scales (random f16 bits would give NaN and
    /// huge values).
    fn random_matrix(kind: GgmlType, rows: usize, cols: usize, seed: &mut u64) -> QMatrix {
        let mut next = || {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            *seed
        };
        let half = |v: f32| burn::tensor::f16::from_f32(v).to_le_bytes();
        let (block, bytes) = kind.block().unwrap();
        let n = rows * cols / block;
        let mut data = Vec::with_capacity(n * bytes);
        for _ in 0..n {
            let mut b: Vec<u8> = (0..bytes).map(|_| next() as u8).collect();
            let scale = |r: u64| 0.002 + (r % 1000) as f32 * 1e-4;
            match kind {
                GgmlType::F32 => {
                    b.copy_from_slice(&((next() % 2001) as f32 / 1000.0 - 1.0).to_le_bytes())
                }
                GgmlType::F16 => b.copy_from_slice(&half((next() % 2001) as f32 / 1000.0 - 1.0)),
                GgmlType::BF16 => b.copy_from_slice(
                    &burn::tensor::bf16::from_f32((next() % 2001) as f32 / 1000.0 - 1.0)
                        .to_le_bytes(),
                ),
                GgmlType::Q6K => b[208..210].copy_from_slice(&half(scale(next()))),
                _ => {
                    b[0..2].copy_from_slice(&half(scale(next())));
                    if matches!(
                        kind,
                        GgmlType::Q4_1 | GgmlType::Q5_1 | GgmlType::Q4K | GgmlType::Q5K
                    ) {
                        b[2..4].copy_from_slice(&half(-scale(next())));
                    }
                }
            }
            data.extend(b);
        }
        QMatrix::new(kind, rows, cols, Arc::new(data), 0).unwrap()
    }

    /// The GPU products of every type (decode and prefill shapes, bias, accumulation, a matrix
    /// in parts) equal the products with the CPU's dequantized weights.
    #[test]
    fn gpu_products_of_every_type_equal_the_dequantized_product() {
        crate::device::gpu_device()
            .expect("a wgpu adapter (lavapipe: apt-get install mesa-vulkan-drivers)");
        let base = crate::device::gpu_kernels().unwrap();
        // Bindings of 20 rows at most: the 70 rows go in 4 parts.
        let (rows, cols) = (70usize, 512usize);
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for kind in GgmlType::READABLE {
            let m = random_matrix(kind, rows, cols, &mut seed);
            let mut w = vec![0f32; rows * cols];
            super::super::cpu::dequantize_rows(kind, m.bytes(), cols, &mut w);
            let row_bytes = m.bytes().len() / rows;
            for max_binding in [MAX_BINDING, 20 * row_bytes as u64] {
                let ctx = GpuContext::with_max_binding(
                    base.device.clone(),
                    base.queue.clone(),
                    max_binding,
                );
                let g = GpuMatrix::upload(&ctx, &m).unwrap();
                assert_eq!(
                    g.parts.len(),
                    if max_binding == MAX_BINDING { 1 } else { 4 }
                );
                for (tokens, with_bias, accumulate) in
                    [(1, false, false), (3, true, true), (70, true, false)]
                {
                    let x: Vec<f32> = (0..tokens * cols)
                        .map(|i| (i * 7919 % 1000) as f32 / 500.0 - 1.0)
                        .collect();
                    let bias: Vec<f32> = (0..rows).map(|r| r as f32 * 0.01).collect();
                    let before: Vec<f32> = (0..tokens * rows).map(|i| (i % 5) as f32).collect();
                    let xb = ctx.upload_f32("x", &x);
                    let yb = ctx.scratch("y", 4 * tokens * rows);
                    ctx.queue.write_buffer(&yb, 0, &f32_bytes(&before));
                    let bb = ctx.upload_f32("bias", &bias);
                    let dummy = ctx.scratch("dummy", 4);
                    let mut params = Params::new(&ctx, 8);
                    let product = g
                        .product(
                            &ctx,
                            &xb,
                            &yb,
                            with_bias.then_some(&bb),
                            &dummy,
                            &mut params,
                        )
                        .unwrap();
                    let mut encoder = ctx
                        .device
                        .create_command_encoder(&wgpu::CommandEncoderDescriptor::default());
                    {
                        let mut pass = encoder.begin_compute_pass(&Default::default());
                        product.record(&mut pass, &mut params, tokens as u32, 0, 0, accumulate);
                    }
                    params.write(&ctx);
                    ctx.queue.submit([encoder.finish()]);
                    let got = pollster::block_on(ctx.read_f32(&yb, 4 * tokens * rows)).unwrap();
                    for t in 0..tokens {
                        for r in 0..rows {
                            let (mut want, mut size) = (0f64, 0f64);
                            for k in 0..cols {
                                let p = w[r * cols + k] as f64 * x[t * cols + k] as f64;
                                want += p;
                                size += p.abs();
                            }
                            if with_bias {
                                want += bias[r] as f64;
                            }
                            if accumulate {
                                want += before[t * rows + r] as f64;
                            }
                            let g = got[t * rows + r] as f64;
                            assert!(
                                (g - want).abs() <= 1e-5 * size + 1e-5,
                                "{} m={tokens} parts={} [{t}, {r}]: {g} vs {want}",
                                kind.name(),
                                g.abs(),
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn every_readable_type_has_a_gpu_dequantizer() {
        for kind in GgmlType::READABLE {
            assert!(deq_source(kind).is_some(), "{}", kind.name());
        }
        assert!(deq_source(GgmlType::Other(10)).is_none());
    }
}
