//! Matrix products with weights kept in their ggml blocks (see `crate::formats::quant`).
//!
//! A [`QMatrix`] is a weight matrix exactly as a GGUF file stores it: `rows` rows (one per
//! output), each `cols` elements of whole blocks. It shares the file's bytes instead of copying
//! them, so a model held this way takes the memory of its file. `cpu` has the CPU kernels, `gpu`
//! the WebGPU/wgpu ones.

pub mod cpu;
#[cfg(feature = "gpu")]
pub mod gpu;
pub mod int8;
mod lanes;
pub mod math;
pub mod pool;

pub use pool::on_pool;

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::formats::GgmlType;

/// Rows dequantized at once in a many-row product (a panel of at most 64 × cols floats).
const PANEL: usize = 64;
/// From this many activation rows on, a product dequantizes panels and uses `gemm`.
const GEMM_FROM: usize = 4;
/// Bytes of quantized activations the integer products keep in the cache at a time (about
/// 150 rows of a 384-wide input, 37 of a 1536-wide one).
const ACTIVATION_BYTES: usize = 192 * 1024;
/// With threads (`cfg(parallel)`: natively, and the threaded wasm module), rows of a
/// matrix-vector product per thread task at most.
#[cfg(parallel)]
const ROWS_PER_TASK: usize = 256;

/// Rows per parallel task of a product with `rows` output rows: about four tasks per thread, so
/// that the threads finish together (a 384-row matrix in 256-row tasks left one of two threads
/// idle a third of the time), in whole `unit`s, at most `max`.
#[cfg(parallel)]
fn task_rows(rows: usize, unit: usize, max: usize) -> usize {
    let threads = rayon::current_num_threads().max(1);
    rows.div_ceil(threads * 4)
        .next_multiple_of(unit)
        .clamp(unit, max)
}

/// Elements of a row-wise step (bias, activation, norm) per parallel task at least: below this
/// the hand-off costs more than the work.
#[cfg(parallel)]
const ELEMENTS_PER_TASK: usize = 16 * 1024;

/// Calls `f(index, row)` for each `len`-long row of `buf`; with threads in tasks of whole rows
/// of at least [`ELEMENTS_PER_TASK`] elements.
pub fn for_each_row(buf: &mut [f32], len: usize, f: impl Fn(usize, &mut [f32]) + Sync + Send) {
    #[cfg(parallel)]
    {
        use rayon::prelude::*;
        let per_task = ELEMENTS_PER_TASK.div_ceil(len.max(1)).max(1);
        if buf.len() > len * per_task {
            buf.par_chunks_mut(len)
                .with_min_len(per_task)
                .enumerate()
                .for_each(|(i, row)| f(i, row));
            return;
        }
    }
    buf.chunks_exact_mut(len)
        .enumerate()
        .for_each(|(i, row)| f(i, row));
}

/// Parallel tasks each of rayon's threads ran (by its thread index; the calling thread, outside
/// the pool, counts in the last slot): the threaded wasm module reports them, so a page and the
/// tests can see that more than one thread did work.
#[cfg(parallel)]
static TASKS: [std::sync::atomic::AtomicU64; crate::device::MAX_THREADS as usize + 1] =
    [const { std::sync::atomic::AtomicU64::new(0) }; crate::device::MAX_THREADS as usize + 1];

/// Counts one parallel task for the thread that runs it.
#[cfg(parallel)]
pub(crate) fn note_task() {
    let slot = rayon::current_thread_index().map_or(TASKS.len() - 1, |i| i.min(TASKS.len() - 2));
    TASKS[slot].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

/// The parallel tasks run so far by each of rayon's threads (`[0]` is thread 0), then by
/// threads outside the pool; empty in a build without threads. (The browser layer reports it;
/// natively only the tests read it.)
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub(crate) fn tasks_per_thread() -> Vec<u64> {
    #[cfg(parallel)]
    {
        let pool = rayon::current_num_threads().min(TASKS.len() - 1);
        TASKS[..pool]
            .iter()
            .chain(TASKS.last())
            .map(|t| t.load(std::sync::atomic::Ordering::Relaxed))
            .collect()
    }
    #[cfg(not(parallel))]
    Vec::new()
}

/// How the many-row products of Q8_0/Q4_0 weights are computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Products {
    /// Dequantized f32 panels through `gemm` (natively: its AVX2/FMA kernels are faster).
    Float,
    /// Integer products of 16-bit activations ([`cpu::matmul_packed`]): WebAssembly SIMD.
    Int16,
    /// Integer products of 8-bit activations and 7-bit weights ([`int8::matmul_packed8`]):
    /// WebAssembly relaxed SIMD.
    Int8,
}

impl Products {
    /// This build's choice: in wasm the integer products (8-bit in the relaxed-SIMD module);
    /// natively `gemm`, unless `LOCALRAG_PROFILE_INTEGER` (`16` or `8`) asks for the wasm
    /// path, to profile it with perf (read once).
    fn default_for_build() -> Products {
        #[cfg(target_arch = "wasm32")]
        {
            if cfg!(feature = "relaxed-simd") {
                Products::Int8
            } else {
                Products::Int16
            }
        }
        #[cfg(not(target_arch = "wasm32"))]
        {
            static ON: std::sync::OnceLock<Products> = std::sync::OnceLock::new();
            *ON.get_or_init(
                || match std::env::var("LOCALRAG_PROFILE_INTEGER").as_deref() {
                    Ok("8") => Products::Int8,
                    Ok(_) => Products::Int16,
                    Err(_) => Products::Float,
                },
            )
        }
    }
}

/// A many-row integer kernel: how activations are quantized, a panel packed and multiplied.
trait IntKernel {
    type X: Sync + Send;
    type Packed: Default + Send + Sync;
    fn quantize(x: &[f32]) -> Vec<Self::X>;
    fn pack(kind: GgmlType, bytes: &[u8], cols: usize, n: usize, out: &mut Self::Packed);
    fn run(x: &[Vec<Self::X>], p: &Self::Packed, y: &mut [f32], ldy: usize, col0: usize, n: usize);
}

struct Int16;
impl IntKernel for Int16 {
    type X = cpu::XBlock;
    type Packed = cpu::Packed;
    fn quantize(x: &[f32]) -> Vec<Self::X> {
        cpu::quantize_x(x)
    }
    fn pack(kind: GgmlType, bytes: &[u8], cols: usize, n: usize, out: &mut Self::Packed) {
        cpu::pack_panel(kind, bytes, cols, n, out)
    }
    fn run(x: &[Vec<Self::X>], p: &Self::Packed, y: &mut [f32], ldy: usize, col0: usize, n: usize) {
        cpu::matmul_packed(x, p, y, ldy, col0, n)
    }
}

struct Int8;
impl IntKernel for Int8 {
    type X = int8::XBlock8;
    type Packed = int8::Packed8;
    fn quantize(x: &[f32]) -> Vec<Self::X> {
        int8::quantize_x8(x)
    }
    fn pack(kind: GgmlType, bytes: &[u8], cols: usize, n: usize, out: &mut Self::Packed) {
        int8::pack_panel8(kind, bytes, cols, n, out)
    }
    fn run(x: &[Vec<Self::X>], p: &Self::Packed, y: &mut [f32], ldy: usize, col0: usize, n: usize) {
        int8::matmul_packed8(x, p, y, ldy, col0, n)
    }
}

/// A weight matrix in its ggml blocks: row `r` is `bytes[offset + r·row_bytes ..]`.
#[derive(Clone)]
pub struct QMatrix {
    kind: GgmlType,
    rows: usize,
    cols: usize,
    row_bytes: usize,
    data: Arc<Vec<u8>>,
    offset: usize,
}

impl std::fmt::Debug for QMatrix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "QMatrix({} × {} {})",
            self.rows,
            self.cols,
            self.kind.name()
        )
    }
}

impl QMatrix {
    /// The matrix whose blocks start at `offset` in `data`. Fails when the type cannot be read,
    /// `cols` is not whole blocks, or the bytes end early.
    pub fn new(
        kind: GgmlType,
        rows: usize,
        cols: usize,
        data: Arc<Vec<u8>>,
        offset: usize,
    ) -> Result<Self> {
        let row_bytes = kind.row_bytes(cols).ok_or_else(|| {
            Error::ModelFormat(format!(
                "rows of {cols} elements of {} cannot be read (supported: {})",
                kind.name(),
                GgmlType::READABLE.map(|t| t.name()).join(", ")
            ))
        })?;
        let end = rows
            .checked_mul(row_bytes)
            .and_then(|n| n.checked_add(offset))
            .filter(|&end| end <= data.len())
            .ok_or_else(|| {
                Error::ModelFormat(format!(
                    "a {rows} × {cols} {} matrix does not fit in the file",
                    kind.name()
                ))
            })?;
        let _ = end;
        Ok(QMatrix {
            kind,
            rows,
            cols,
            row_bytes,
            data,
            offset,
        })
    }

    /// A matrix of f32 values (tests, and weights a model computes itself).
    pub fn from_f32(rows: usize, cols: usize, values: &[f32]) -> Self {
        assert_eq!(values.len(), rows * cols);
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        Self::new(GgmlType::F32, rows, cols, Arc::new(bytes), 0).expect("f32 rows fit")
    }

    /// The same matrix with its weights dequantized to f32 (4 bytes per weight): the
    /// benchmarks' reference for what keeping the blocks saves.
    pub fn to_f32(&self) -> Self {
        let mut values = vec![0f32; self.rows * self.cols];
        cpu::dequantize_rows(self.kind, self.bytes(), self.cols, &mut values);
        Self::from_f32(self.rows, self.cols, &values)
    }

    pub fn kind(&self) -> GgmlType {
        self.kind
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The bytes of all rows.
    pub fn bytes(&self) -> &[u8] {
        &self.data[self.offset..self.offset + self.rows * self.row_bytes]
    }

    /// The bytes of row `r`.
    pub fn row(&self, r: usize) -> &[u8] {
        let start = self.offset + r * self.row_bytes;
        &self.data[start..start + self.row_bytes]
    }

    /// Row `r` as f32 values.
    pub fn row_f32(&self, r: usize) -> Vec<f32> {
        let mut out = vec![0f32; self.cols];
        cpu::dequantize_rows(self.kind, self.row(r), self.cols, &mut out);
        out
    }

    /// `y = W·x` for one row of activations (`x.len() = cols`, `y.len() = rows`). With threads
    /// the rows are shared among them (each row's sum is the same either way).
    pub fn matvec(&self, x: &[f32], y: &mut [f32]) {
        assert_eq!((x.len(), y.len()), (self.cols, self.rows));
        let prepared = cpu::Activations::for_kind(self.kind, x);
        let rows = |first: usize, out: &mut [f32]| {
            for (r, out) in out.iter_mut().enumerate() {
                *out = cpu::dot_row(self.kind, self.row(first + r), &prepared);
            }
        };
        #[cfg(parallel)]
        {
            use rayon::prelude::*;
            let per_task = task_rows(self.rows, 16, ROWS_PER_TASK);
            y.par_chunks_mut(per_task).enumerate().for_each(|(i, out)| {
                note_task();
                rows(i * per_task, out)
            });
        }
        #[cfg(not(parallel))]
        rows(0, y);
    }

    /// `y = x·Wᵀ` for `m` rows of activations (`x`: m × cols, `y`: m × rows, row-major).
    /// With threads each takes a range of weight rows into a buffer of its own.
    ///
    /// Q8_0 and Q4_0 weights take the integer products in wasm ([`cpu::matmul_packed`]): there
    /// `gemm` has only 128-bit float lanes, and `i32x4.dot_i16x8_s` does eight products per
    /// instruction. Natively `gemm`'s AVX2/FMA panels are faster (measured with the CLI on
    /// all-MiniLM-L6-v2 Q8_0), so every kind goes through them; the integer path is tested
    /// natively all the same ([`QMatrix::matmul_with`]).
    pub fn matmul(&self, x: &[f32], m: usize, y: &mut [f32]) {
        self.matmul_with(x, m, y, Products::default_for_build());
    }

    /// [`QMatrix::matmul`], choosing how Q8_0/Q4_0 weights are multiplied.
    pub fn matmul_with(&self, x: &[f32], m: usize, y: &mut [f32], products: Products) {
        assert_eq!((x.len(), y.len()), (m * self.cols, m * self.rows));
        if m < GEMM_FROM {
            for (xr, yr) in x.chunks_exact(self.cols).zip(y.chunks_exact_mut(self.rows)) {
                self.matvec(xr, yr);
            }
            return;
        }
        // Q8_0/Q4_0: integer products of the activations (quantized once) and the unpacked
        // weights; the other kinds: f32 panels through `gemm`.
        match products {
            Products::Int16 if cpu::packs(self.kind) => self.matmul_int::<Int16>(x, m, y),
            Products::Int8 if cpu::packs(self.kind) => self.matmul_int::<Int8>(x, m, y),
            _ => self.split_rows(m, y, |range, y, base, ldy| {
                self.panels(x, m, range, y, base, ldy)
            }),
        }
    }

    fn matmul_int<K: IntKernel>(&self, x: &[f32], m: usize, y: &mut [f32]) {
        #[cfg(parallel)]
        let xq: Vec<Vec<K::X>> = {
            use rayon::prelude::*;
            let per_task = ELEMENTS_PER_TASK.div_ceil(self.cols).max(1);
            x.par_chunks_exact(self.cols)
                .with_min_len(per_task)
                .map(K::quantize)
                .collect()
        };
        #[cfg(not(parallel))]
        let xq: Vec<Vec<K::X>> = x.chunks_exact(self.cols).map(K::quantize).collect();
        self.split_rows(m, y, |range, y, base, ldy| {
            self.packed_panels::<K>(&xq, range, y, base, ldy)
        });
    }

    /// Runs `run(range, y, base, ldy)` over the weight rows: with threads ranges of them,
    /// each into a buffer of its own; in the single-threaded wasm module all at once.
    fn split_rows(
        &self,
        m: usize,
        y: &mut [f32],
        run: impl Fn(std::ops::Range<usize>, &mut [f32], usize, usize) + Sync,
    ) {
        #[cfg(not(parallel))]
        let _ = m;
        #[cfg(parallel)]
        {
            use rayon::prelude::*;
            let per_task = task_rows(self.rows, PANEL, PANEL * 4);
            let ranges: Vec<usize> = (0..self.rows).step_by(per_task).collect();
            if ranges.len() > 1 {
                let parts: Vec<(usize, usize, Vec<f32>)> = ranges
                    .into_par_iter()
                    .map(|a| {
                        note_task();
                        let b = (a + per_task).min(self.rows);
                        let mut part = vec![0f32; m * (b - a)];
                        run(a..b, &mut part, a, b - a);
                        (a, b, part)
                    })
                    .collect();
                for_each_row(y, self.rows, |r, yr| {
                    for (a, b, part) in &parts {
                        yr[*a..*b].copy_from_slice(&part[r * (b - a)..(r + 1) * (b - a)]);
                    }
                });
                return;
            }
        }
        run(0..self.rows, y, 0, self.rows);
    }

    /// Weight rows `range`, packed eight at a time and multiplied with the quantized activation
    /// rows, into columns `range.start - base..` of `y` (row stride `ldy`). When the
    /// activations fit in [`ACTIVATION_BYTES`] each panel is packed and used at once (it stays
    /// in the L1 cache); more rows are taken a block of that size at a time over panels packed
    /// all at once beforehand (2 bytes a weight, 1.2 MB for a 1536 × 384 matrix, freed on
    /// return), so the block's activations stay in the cache while every panel passes over
    /// them: a batch of 32 chunks (4096 rows, 12 MB of activations for the 1536-wide matrix)
    /// otherwise streams them from memory once per panel.
    fn packed_panels<K: IntKernel>(
        &self,
        xq: &[Vec<K::X>],
        range: std::ops::Range<usize>,
        y: &mut [f32],
        base: usize,
        ldy: usize,
    ) {
        let pack = |r0: usize, packed: &mut K::Packed| {
            let n = cpu::PANEL_ROWS.min(range.end - r0);
            let bytes = &self.data[self.offset + r0 * self.row_bytes..][..n * self.row_bytes];
            K::pack(self.kind, bytes, self.cols, n, packed);
            n
        };
        let row_bytes = self.cols / 32 * std::mem::size_of::<K::X>();
        let block = (ACTIVATION_BYTES / row_bytes).max(16);
        if xq.len() <= block {
            let mut packed = K::Packed::default();
            for r0 in range.clone().step_by(cpu::PANEL_ROWS) {
                let n = pack(r0, &mut packed);
                K::run(xq, &packed, y, ldy, r0 - base, n);
            }
            return;
        }
        let panels: Vec<(usize, usize, K::Packed)> = range
            .clone()
            .step_by(cpu::PANEL_ROWS)
            .map(|r0| {
                let mut packed = K::Packed::default();
                let n = pack(r0, &mut packed);
                (r0, n, packed)
            })
            .collect();
        for (b, rows) in xq.chunks(block).enumerate() {
            let y = &mut y[b * block * ldy..];
            for (r0, n, packed) in &panels {
                K::run(rows, packed, y, ldy, r0 - base, *n);
            }
        }
    }

    /// Weight rows `range`, a panel at a time dequantized and multiplied by `gemm`, into
    /// columns `range.start - base..` of `y` (row stride `ldy`).
    fn panels(
        &self,
        x: &[f32],
        m: usize,
        range: std::ops::Range<usize>,
        y: &mut [f32],
        base: usize,
        ldy: usize,
    ) {
        let mut panel = vec![0f32; PANEL.min(range.len()) * self.cols];
        for r0 in range.clone().step_by(PANEL) {
            let n = PANEL.min(range.end - r0);
            let bytes = &self.data[self.offset + r0 * self.row_bytes..][..n * self.row_bytes];
            cpu::dequantize_rows(self.kind, bytes, self.cols, &mut panel[..n * self.cols]);
            cpu::gemm_panel(
                x,
                m,
                self.cols,
                &panel[..n * self.cols],
                n,
                y,
                r0 - base,
                ldy,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::dequantize;

    /// Blocks of `kind` made of random bytes with small finite scales (offsets of the f16
    /// fields as in the fixture script).
    pub(crate) fn random_matrix(kind: GgmlType, rows: usize, cols: usize, seed: u64) -> QMatrix {
        let mut s = seed | 1;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        let (per_block, block_bytes) = kind.block().unwrap();
        let blocks = rows * cols / per_block;
        let mut bytes = Vec::with_capacity(blocks * block_bytes);
        for _ in 0..blocks {
            let mut b: Vec<u8> = (0..block_bytes).map(|_| next() as u8).collect();
            let scale = |next: &mut dyn FnMut() -> u64| {
                let v = ((next() % 2001) as f32 / 1000.0 - 1.0) * 0.05;
                match kind {
                    GgmlType::BF16 => burn::tensor::bf16::from_f32(v * 20.0).to_le_bytes(),
                    _ => burn::tensor::f16::from_f32(v).to_le_bytes(),
                }
            };
            let fields: &[usize] = match kind {
                GgmlType::Q4_0
                | GgmlType::Q5_0
                | GgmlType::Q8_0
                | GgmlType::F16
                | GgmlType::BF16 => &[0],
                GgmlType::Q4_1 | GgmlType::Q5_1 | GgmlType::Q4K | GgmlType::Q5K => &[0, 2],
                GgmlType::Q6K => &[208],
                _ => &[],
            };
            for &f in fields {
                b[f..f + 2].copy_from_slice(&scale(&mut next));
            }
            if kind == GgmlType::F32 {
                let v = ((next() % 2001) as f32 / 1000.0 - 1.0).to_le_bytes();
                b.copy_from_slice(&v);
            }
            bytes.extend(b);
        }
        QMatrix::new(kind, rows, cols, Arc::new(bytes), 0).unwrap()
    }

    fn activations(n: usize, seed: u64) -> Vec<f32> {
        (0..n)
            .map(|i| ((i as u64 * 7919 + seed) % 1000) as f32 / 500.0 - 1.0)
            .collect()
    }

    /// The parallel products count their tasks per thread, and split among threads they give
    /// the same values as in one piece (each output's sum is the same either way).
    #[test]
    fn parallel_products_count_their_tasks_and_match_one_piece() {
        let (rows, cols, m) = (1536, 384, 8);
        let w = random_matrix(GgmlType::Q8_0, rows, cols, 5);
        let x = activations(m * cols, 3);
        let before: u64 = tasks_per_thread().iter().sum();
        let mut y = vec![0f32; m * rows];
        w.matmul_with(&x, m, &mut y, Products::Int16);
        // 1536 rows in at least six ranges (other tests may add their tasks meanwhile).
        let after: u64 = tasks_per_thread().iter().sum();
        assert!(after >= before + 6, "{before} -> {after}");
        // A 384-row matrix is shared in whole panels, three tasks or more.
        let per_task = task_rows(384, PANEL, PANEL * 4);
        assert!(per_task % PANEL == 0 && 384 / per_task >= 3, "{per_task}");
        assert_eq!(tasks_per_thread().len(), rayon::current_num_threads() + 1);
        let mut one = vec![0f32; m * rows];
        w.packed_panels::<Int16>(
            &x.chunks_exact(cols)
                .map(Int16::quantize)
                .collect::<Vec<_>>(),
            0..rows,
            &mut one,
            0,
            rows,
        );
        assert_eq!(y, one);
    }

    /// Every kind: the products equal the dequantized weights' f32 products, up to the 16-bit
    /// quantization of the activations (one row) and the summation order (many rows).
    #[test]
    fn products_match_dequantized_weights() {
        let (rows, cols) = (70, 512);
        for kind in GgmlType::READABLE {
            let w = random_matrix(kind, rows, cols, 11 + kind.id() as u64);
            let dense = dequantize(kind, w.bytes(), rows * cols).unwrap();
            use Products::*;
            let cases = [
                (1, Float),
                (3, Float),
                (9, Float),
                (9, Int16),
                (300, Int16),
                (9, Int8),
                (300, Int8),
            ];
            for (m, products) in cases {
                let x = activations(m * cols, m as u64);
                let mut y = vec![0f32; m * rows];
                w.matmul_with(&x, m, &mut y, products);
                let mut worst = 0f32;
                let mut scale = 0f32;
                for t in 0..m {
                    for r in 0..rows {
                        let want: f32 = (0..cols)
                            .map(|c| dense[r * cols + c] * x[t * cols + c])
                            .sum();
                        worst = worst.max((y[t * rows + r] - want).abs());
                        scale = scale.max(want.abs());
                    }
                }
                // 16-bit activations: rounding errors of about 1/65534 of each block's largest;
                // 8-bit ones (and Q8_0 weights at 7 bits) about 1/254 and 1/126.
                let integer = m >= GEMM_FROM && products != Float && cpu::packs(kind);
                let tolerance = if products == Int8 && integer {
                    2e-2 * scale.max(1.0)
                } else if (m >= GEMM_FROM && !integer)
                    || matches!(kind, GgmlType::F32 | GgmlType::F16 | GgmlType::BF16)
                {
                    1e-4 * scale.max(1.0)
                } else {
                    3e-4 * scale.max(1.0)
                };
                assert!(
                    worst <= tolerance,
                    "{} m={m} {products:?}: off by {worst} (scale {scale})",
                    kind.name()
                );
            }
        }
    }

    #[test]
    fn sizes_are_checked() {
        let data = Arc::new(vec![0u8; 100]);
        assert!(QMatrix::new(GgmlType::Q8_0, 2, 32, data.clone(), 0).is_ok());
        assert_eq!(
            QMatrix::new(GgmlType::Q8_0, 3, 32, data.clone(), 0)
                .unwrap_err()
                .code(),
            "E_MODEL_FORMAT"
        );
        assert!(QMatrix::new(GgmlType::Q8_0, 1, 33, data.clone(), 0).is_err());
        assert!(QMatrix::new(GgmlType::Other(16), 1, 32, data, 0).is_err());
    }
}
