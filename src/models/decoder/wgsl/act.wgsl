// The gated feed-forward's middle: up[i] = act(gate[i]) · up[i], act SiLU or tanh-GELU.

struct Params {
    n: u32,
    gelu: u32,
    groups_x: u32,
}

@group(0) @binding(0) var<storage, read> gate: array<f32>;
@group(0) @binding(1) var<storage, read_write> up: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = (wid.x + wid.y * p.groups_x) * 256u + lid.x;
    if (i >= p.n) {
        return;
    }
    let g = gate[i];
    var a = 0.0;
    if (p.gelu != 0u) {
        let inner = clamp(0.7978845608 * (g + 0.044715 * g * g * g), -15.0, 15.0);
        a = 0.5 * g * (1.0 + tanh(inner));
    } else {
        a = g / (1.0 + exp(-g));
    }
    up[i] = up[i] * a;
}
