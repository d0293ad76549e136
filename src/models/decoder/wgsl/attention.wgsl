// Attention of the new positions over the cache (which already holds their keys and values):
// one workgroup per (query head, position). Scores go to a scratch row in storage (any context
// length fits), then softmax, then each thread sums the values of its output elements.

struct Params {
    seq: u32,
    start: u32,
    heads: u32,
    kv_heads: u32,
    head_dim: u32,
    // Positions a query sees at most (sliding-window layers); 0: all before it.
    window: u32,
    // Length of a scratch row (the cache's capacity).
    capacity: u32,
    scale: f32,
}

@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> kc: array<f32>;
@group(0) @binding(2) var<storage, read> vc: array<f32>;
@group(0) @binding(3) var<storage, read_write> scores: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;

var<workgroup> partial: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let h = wid.x;
    let t = wid.y;
    if (h >= p.heads || t >= p.seq) {
        return;
    }
    let d = p.head_dim;
    let qd = p.heads * d;
    let kvd = p.kv_heads * d;
    let kvh = h / (p.heads / p.kv_heads);
    let pos = p.start + t;
    var first = 0u;
    if (p.window != 0u && pos + 1u > p.window) {
        first = pos + 1u - p.window;
    }
    let row = (t * p.heads + h) * p.capacity;
    let q0 = t * qd + h * d;
    var mx = -3.0e38;
    for (var j = first + lid.x; j <= pos; j += 64u) {
        var s = 0.0;
        let k0 = j * kvd + kvh * d;
        for (var i = 0u; i < d; i++) {
            s += q[q0 + i] * kc[k0 + i];
        }
        s *= p.scale;
        scores[row + j] = s;
        mx = max(mx, s);
    }
    partial[lid.x] = mx;
    workgroupBarrier();
    for (var s = 32u; s > 0u; s >>= 1u) {
        if (lid.x < s) {
            partial[lid.x] = max(partial[lid.x], partial[lid.x + s]);
        }
        workgroupBarrier();
    }
    let m = partial[0];
    workgroupBarrier();
    var sum = 0.0;
    for (var j = first + lid.x; j <= pos; j += 64u) {
        let e = exp(scores[row + j] - m);
        scores[row + j] = e;
        sum += e;
    }
    partial[lid.x] = sum;
    workgroupBarrier();
    for (var s = 32u; s > 0u; s >>= 1u) {
        if (lid.x < s) {
            partial[lid.x] += partial[lid.x + s];
        }
        workgroupBarrier();
    }
    let z = partial[0];
    storageBarrier();
    for (var i = lid.x; i < d; i += 64u) {
        var acc = 0.0;
        for (var j = first; j <= pos; j++) {
            acc += scores[row + j] * vc[j * kvd + kvh * d + i];
        }
        out[q0 + i] = acc / z;
    }
}
