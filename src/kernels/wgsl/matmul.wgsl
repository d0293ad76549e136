// Y[t, r] (+)= Σ_k X[t, k] · W[r, k] (+ bias[r]) for m rows of activations (the prompt): tiles of
// 64 activation rows × 64 weight rows per workgroup, 16 columns of k at a time dequantized into
// workgroup memory; each of the 256 threads computes 4 × 4 outputs. X is `m × cols` from `x_off`,
// Y is `m × rows` from `y_off`.

// Parameters and bindings: `product.wgsl`.

const TK: u32 = 16u;
var<workgroup> xs: array<f32, 1024>;
var<workgroup> ws: array<f32, 1024>;

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let n0 = wid.x * 64u;
    let m0 = wid.y * 64u;
    var acc: array<f32, 16>;
    for (var i = 0u; i < 16u; i++) {
        acc[i] = 0.0;
    }
    for (var k0 = 0u; k0 < p.cols; k0 += TK) {
        for (var i = 0u; i < 4u; i++) {
            let idx = li + i * 256u;
            let rr = idx / TK;
            let k = k0 + idx % TK;
            var xv = 0.0;
            if (m0 + rr < p.m && k < p.cols) {
                xv = x[p.x_off + (m0 + rr) * p.cols + k];
            }
            xs[idx] = xv;
            var wv = 0.0;
            let r = n0 + rr;
            if (r < p.rows && k < p.cols) {
                wv = deq(r * p.row_bytes + (k / QK) * BB, k % QK);
            }
            ws[idx] = wv;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < TK; kk++) {
            var a: array<f32, 4>;
            var b: array<f32, 4>;
            for (var i = 0u; i < 4u; i++) {
                a[i] = xs[(lid.y * 4u + i) * TK + kk];
                b[i] = ws[(lid.x * 4u + i) * TK + kk];
            }
            for (var i = 0u; i < 4u; i++) {
                for (var j = 0u; j < 4u; j++) {
                    acc[i * 4u + j] += a[i] * b[j];
                }
            }
        }
        workgroupBarrier();
    }
    for (var i = 0u; i < 4u; i++) {
        let t = m0 + lid.y * 4u + i;
        if (t >= p.m) {
            continue;
        }
        for (var j = 0u; j < 4u; j++) {
            let r = n0 + lid.x * 4u + j;
            if (r >= p.rows) {
                continue;
            }
            var v = acc[i * 4u + j];
            if ((p.flags & 1u) != 0u) {
                v += bias[p.first_row + r];
            }
            let o = p.y_off + t * p.y_stride + r;
            if ((p.flags & 2u) != 0u) {
                v += y[o];
            }
            y[o] = v;
        }
    }
}
