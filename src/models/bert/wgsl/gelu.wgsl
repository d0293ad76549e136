// The feed-forward's activation in place: exact GELU x·Φ(x) (erf by Abramowitz & Stegun 7.1.26,
// absolute error below 1.5e-7; WGSL has no erf), its tanh approximation, or ReLU.

struct Params {
    n: u32,
    // 0: GELU (erf), 1: GELU (tanh), 2: ReLU.
    kind: u32,
    groups_x: u32,
}

@group(0) @binding(0) var<storage, read_write> h: array<f32>;
@group(0) @binding(1) var<uniform> p: Params;

fn erf(x: f32) -> f32 {
    let a = abs(x);
    let t = 1.0 / (1.0 + 0.3275911 * a);
    let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
    let y = 1.0 - poly * exp(-a * a);
    return select(y, -y, x < 0.0);
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = (wid.x + wid.y * p.groups_x) * 256u + lid.x;
    if (i >= p.n) {
        return;
    }
    let x = h[i];
    var y = 0.0;
    if (p.kind == 0u) {
        y = 0.5 * x * (1.0 + erf(x * 0.70710678118654752));
    } else if (p.kind == 1u) {
        let inner = clamp(0.7978845608 * (x + 0.044715 * x * x * x), -15.0, 15.0);
        y = 0.5 * x * (1.0 + tanh(inner));
    } else {
        y = max(x, 0.0);
    }
    h[i] = y;
}
