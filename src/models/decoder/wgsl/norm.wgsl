// RMSNorm of `rows` rows of `width`: dst (+)= src / √(mean(src²) + ε) · w. One workgroup per row.

struct Params {
    width: u32,
    rows: u32,
    src_off: u32,
    dst_off: u32,
    eps: f32,
    // 1: add to dst (a normed residual branch) instead of overwriting it.
    add: u32,
}

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

var<workgroup> partial: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let r = wid.x;
    if (r >= p.rows) {
        return;
    }
    let s0 = p.src_off + r * p.width;
    let d0 = p.dst_off + r * p.width;
    var acc = 0.0;
    for (var i = lid.x; i < p.width; i += 64u) {
        let v = src[s0 + i];
        acc += v * v;
    }
    partial[lid.x] = acc;
    workgroupBarrier();
    for (var s = 32u; s > 0u; s >>= 1u) {
        if (lid.x < s) {
            partial[lid.x] += partial[lid.x + s];
        }
        workgroupBarrier();
    }
    let scale = 1.0 / sqrt(partial[0] / f32(p.width) + p.eps);
    for (var i = lid.x; i < p.width; i += 64u) {
        var v = src[s0 + i] * scale * w[i];
        if (p.add != 0u) {
            v += dst[d0 + i];
        }
        dst[d0 + i] = v;
    }
}
