// y[y_off + t·y_stride + r] (+)= Σ_k W[r, k] · x[x_off + t·cols + k] (+ bias[r]) for rows of
// activations t (decode, short prompts), 8 of them per workgroup along z. One invocation per
// output row walks the whole row,
// 8 weights at a time: no workgroup memory and no barriers, which software implementations
// (SwiftShader, lavapipe) run several times faster than a reduction across a workgroup. For one
// row of activations `dot8` scales each block's sums once; for more, `deq8` dequantizes the 8
// weights once for all rows.

// Parameters and bindings: `product.wgsl`.

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let row = (wid.x + wid.y * p.groups_x) * 64u + lid.x;
    if (row >= p.rows) {
        return;
    }
    let base = row * p.row_bytes;
    let t0 = wid.z * 8u;
    let m = min(8u, p.m - t0);
    if (m == 1u) {
        var a = 0.0;
        let xo = p.x_off + t0 * p.cols;
        for (var k = 0u; k < p.cols; k += 8u) {
            a += dot8(base, k, xo + k);
        }
        store(row, t0, a);
        return;
    }
    // Up to 8 rows, written out (no dynamically indexed arrays: see `deq8`).
    var a0 = 0.0;
    var a1 = 0.0;
    var a2 = 0.0;
    var a3 = 0.0;
    var a4 = 0.0;
    var a5 = 0.0;
    var a6 = 0.0;
    var a7 = 0.0;
    let c = p.cols;
    for (var k = 0u; k < c; k += 8u) {
        let w = deq8(base, k);
        let xo = p.x_off + t0 * c + k;
        a0 += row8(w, xo);
        a1 += row8(w, xo + c);
        if (m > 2u) {
            a2 += row8(w, xo + 2u * c);
            a3 += select(0.0, row8(w, xo + 3u * c), m > 3u);
        }
        if (m > 4u) {
            a4 += row8(w, xo + 4u * c);
            a5 += select(0.0, row8(w, xo + 5u * c), m > 5u);
            a6 += select(0.0, row8(w, xo + 6u * c), m > 6u);
            a7 += select(0.0, row8(w, xo + 7u * c), m > 7u);
        }
    }
    store(row, t0, a0);
    store(row, t0 + 1u, a1);
    if (m > 2u) {
        store(row, t0 + 2u, a2);
    }
    if (m > 3u) {
        store(row, t0 + 3u, a3);
    }
    if (m > 4u) {
        store(row, t0 + 4u, a4);
    }
    if (m > 5u) {
        store(row, t0 + 5u, a5);
    }
    if (m > 6u) {
        store(row, t0 + 6u, a6);
    }
    if (m > 7u) {
        store(row, t0 + 7u, a7);
    }
}

// Σ w[i]·x[xo + i]. Weights past the row's end are 0 (`deq8`), and what x holds there is finite.
fn row8(w: array<f32, 8>, xo: u32) -> f32 {
    return w[0] * x[xo] + w[1] * x[xo + 1u] + w[2] * x[xo + 2u] + w[3] * x[xo + 3u]
        + w[4] * x[xo + 4u] + w[5] * x[xo + 5u] + w[6] * x[xo + 6u] + w[7] * x[xo + 7u];
}

// y[y_off + t·y_stride + row] (+)= v (+ bias).
fn store(row: u32, t: u32, value: f32) {
    var v = value;
    if ((p.flags & 1u) != 0u) {
        v += bias[p.first_row + row];
    }
    let o = p.y_off + t * p.y_stride + row;
    if ((p.flags & 2u) != 0u) {
        v += y[o];
    }
    y[o] = v;
}
