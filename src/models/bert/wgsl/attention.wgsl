// Bidirectional self-attention of packed texts: token t attends to the tokens of its own text,
// [span[2t], span[2t + 1]). One workgroup per (head, token): scores into a scratch row, softmax,
// then each thread sums the values of its output elements.

struct Params {
    tokens: u32,
    heads: u32,
    head_dim: u32,
    // Length of a scratch row (the longest text a pass may hold).
    row: u32,
    scale: f32,
}

@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> k: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read> span: array<u32>;
@group(0) @binding(4) var<storage, read_write> scores: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;
@group(0) @binding(6) var<uniform> p: Params;

var<workgroup> partial: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let h = wid.x;
    let t = wid.y;
    if (h >= p.heads || t >= p.tokens) {
        return;
    }
    let d = p.head_dim;
    let hidden = p.heads * d;
    let first = span[2u * t];
    let end = span[2u * t + 1u];
    let row = (t * p.heads + h) * p.row;
    let q0 = t * hidden + h * d;
    var mx = -3.0e38;
    for (var j = first + lid.x; j < end; j += 64u) {
        var s = 0.0;
        let k0 = j * hidden + h * d;
        for (var i = 0u; i < d; i++) {
            s += q[q0 + i] * k[k0 + i];
        }
        s *= p.scale;
        scores[row + j - first] = s;
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
    for (var j = first + lid.x; j < end; j += 64u) {
        let e = exp(scores[row + j - first] - m);
        scores[row + j - first] = e;
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
    let inv = 1.0 / partial[0];
    // Every thread reads the whole score row that all of them wrote.
    storageBarrier();
    for (var i = lid.x; i < d; i += 64u) {
        var acc = 0.0;
        for (var j = first; j < end; j++) {
            acc += scores[row + j - first] * v[j * hidden + h * d + i];
        }
        out[q0 + i] = acc * inv;
    }
}
