// Post-norm residual: x[r] = LayerNorm(t[r] + x[r]) · w + b for `rows` rows of `width`. One
// workgroup per row; mean and variance in two passes over the row.

struct Params {
    width: u32,
    rows: u32,
    eps: f32,
}

@group(0) @binding(0) var<storage, read> t: array<f32>;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

var<workgroup> partial: array<f32, 64>;

fn reduce(lid: u32, v: f32) -> f32 {
    partial[lid] = v;
    workgroupBarrier();
    for (var s = 32u; s > 0u; s >>= 1u) {
        if (lid < s) {
            partial[lid] += partial[lid + s];
        }
        workgroupBarrier();
    }
    let total = partial[0];
    workgroupBarrier();
    return total;
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let r = wid.x;
    if (r >= p.rows) {
        return;
    }
    let r0 = r * p.width;
    var acc = 0.0;
    for (var i = lid.x; i < p.width; i += 64u) {
        let v = t[r0 + i] + x[r0 + i];
        x[r0 + i] = v;
        acc += v;
    }
    let mean = reduce(lid.x, acc) / f32(p.width);
    var sq = 0.0;
    for (var i = lid.x; i < p.width; i += 64u) {
        let d = x[r0 + i] - mean;
        sq += d * d;
    }
    let inv = 1.0 / sqrt(reduce(lid.x, sq) / f32(p.width) + p.eps);
    for (var i = lid.x; i < p.width; i += 64u) {
        x[r0 + i] = (x[r0 + i] - mean) * inv * w[i] + b[i];
    }
}
