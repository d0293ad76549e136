// Readies the new positions' heads for attention: q heads are (optionally RMS-normed and)
// rotated in place; k heads likewise, written into the key cache at their positions; v heads are
// copied into the value cache. One workgroup per (head, position): x = q heads, then k heads,
// then v heads; y = position.

struct Params {
    seq: u32,
    start: u32,
    heads: u32,
    kv_heads: u32,
    head_dim: u32,
    // 1: RMSNorm each q and k head first (Qwen3, Gemma 3).
    norm: u32,
    // 1: rotate element i with i + head_dim/2 (NeoX layout); 0: with its neighbour.
    halves: u32,
    // cos of position t, pair i at tab[table_off + t·half + i]; sin `table_stride` later.
    table_off: u32,
    table_stride: u32,
    eps: f32,
}

@group(0) @binding(0) var<storage, read_write> q: array<f32>;
@group(0) @binding(1) var<storage, read> k: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read_write> kc: array<f32>;
@group(0) @binding(4) var<storage, read_write> vc: array<f32>;
@group(0) @binding(5) var<storage, read> qn: array<f32>;
@group(0) @binding(6) var<storage, read> kn: array<f32>;
@group(0) @binding(7) var<storage, read> tab: array<f32>;
@group(0) @binding(8) var<uniform> p: Params;

var<workgroup> partial: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let t = wid.y;
    let hh = wid.x;
    let d = p.head_dim;
    let half = d / 2u;
    let qd = p.heads * d;
    let kvd = p.kv_heads * d;
    let pos = p.start + t;
    if (t >= p.seq || hh >= p.heads + 2u * p.kv_heads) {
        return;
    }
    if (hh >= p.heads + p.kv_heads) {
        let h = hh - p.heads - p.kv_heads;
        for (var i = lid.x; i < d; i += 64u) {
            vc[pos * kvd + h * d + i] = v[t * kvd + h * d + i];
        }
        return;
    }
    let is_q = hh < p.heads;
    let kh = hh - p.heads;
    var src = t * kvd + kh * d;
    if (is_q) {
        src = t * qd + hh * d;
    }
    var scale = 1.0;
    if (p.norm != 0u) {
        var acc = 0.0;
        for (var i = lid.x; i < d; i += 64u) {
            var x = 0.0;
            if (is_q) {
                x = q[src + i];
            } else {
                x = k[src + i];
            }
            acc += x * x;
        }
        partial[lid.x] = acc;
        workgroupBarrier();
        for (var s = 32u; s > 0u; s >>= 1u) {
            if (lid.x < s) {
                partial[lid.x] += partial[lid.x + s];
            }
            workgroupBarrier();
        }
        scale = 1.0 / sqrt(partial[0] / f32(d) + p.eps);
    }
    for (var i = lid.x; i < half; i += 64u) {
        var a = 2u * i;
        var b = 2u * i + 1u;
        if (p.halves != 0u) {
            a = i;
            b = i + half;
        }
        var x0 = 0.0;
        var x1 = 0.0;
        if (is_q) {
            x0 = q[src + a] * scale;
            x1 = q[src + b] * scale;
            if (p.norm != 0u) {
                x0 *= qn[a];
                x1 *= qn[b];
            }
        } else {
            x0 = k[src + a] * scale;
            x1 = k[src + b] * scale;
            if (p.norm != 0u) {
                x0 *= kn[a];
                x1 *= kn[b];
            }
        }
        let c = tab[p.table_off + t * half + i];
        let s = tab[p.table_off + p.table_stride + t * half + i];
        let y0 = x0 * c - x1 * s;
        let y1 = x1 * c + x0 * s;
        if (is_q) {
            q[src + a] = y0;
            q[src + b] = y1;
        } else {
            let dst = pos * kvd + kh * d;
            kc[dst + a] = y0;
            kc[dst + b] = y1;
        }
    }
}
