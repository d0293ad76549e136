// The parameters and bindings both product kernels share (one bind group layout serves both):
// W's bytes, x, y, the bias, the parameters. Prepended to `matvec.wgsl` and `matmul.wgsl`.

struct Params {
    rows: u32,
    cols: u32,
    row_bytes: u32,
    x_off: u32,
    y_off: u32,
    // 1: add the bias; 2: add to y instead of overwriting it.
    flags: u32,
    // Rows of activations, and workgroups along x (matvec: past 65 535 they go to y).
    m: u32,
    groups_x: u32,
    // Distance between rows of y, and the first row of this part of the matrix (for the bias).
    y_stride: u32,
    first_row: u32,
}

@group(0) @binding(0) var<storage, read> wq: array<u32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;
