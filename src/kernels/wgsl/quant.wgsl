// Reading ggml blocks from a matrix's bytes (`wq`, bound by the including kernel as
// `array<u32>`: WGSL has no 8- or 16-bit storage). Every block and every f16 in it starts at an
// even byte, so an f16 never straddles two words. The Rust side appends, for the matrix's type,
// `deq` (element `j` of the block at byte `b`, ggml's reference formulas as in
// `crate::formats::quant::dequantize_block`) and `deq8` (8 consecutive weights of a row: the
// decode kernel's step, reading each block's scales once).

fn byte_at(i: u32) -> u32 {
    return (wq[i >> 2u] >> ((i & 3u) << 3u)) & 0xffu;
}

// The f16 at even byte `i`.
fn half_at(i: u32) -> f32 {
    let v = unpack2x16float(wq[i >> 2u]);
    if ((i & 2u) != 0u) {
        return v.y;
    }
    return v.x;
}

// The 32 bits at even byte `i`.
fn word_at(i: u32) -> u32 {
    let a = wq[i >> 2u];
    if ((i & 2u) == 0u) {
        return a;
    }
    return (a >> 16u) | (wq[(i >> 2u) + 1u] << 16u);
}

fn signed_byte(b: u32) -> f32 {
    return f32((i32(b) << 24u) >> 24u);
}

// Nibble of element `j` of a 32-element block: byte j % 16, low for j < 16, high after.
fn nibble(b: u32, j: u32) -> u32 {
    let q = byte_at(b + (j & 15u));
    return select(q & 15u, q >> 4u, j >= 16u);
}

// 6-bit scale and minimum of sub-block `j` of a Q4_K/Q5_K super-block (12 bytes at `s`).
fn scale_min_k4(s: u32, j: u32) -> vec2<u32> {
    if (j < 4u) {
        return vec2<u32>(byte_at(s + j) & 63u, byte_at(s + j + 4u) & 63u);
    }
    let a = byte_at(s + j + 4u);
    return vec2<u32>((a & 15u) | ((byte_at(s + j - 4u) >> 6u) << 4u),
                     (a >> 4u) | ((byte_at(s + j) >> 6u) << 4u));
}

// The 8 bytes at even byte `i`.
fn bytes8(i: u32) -> vec2<u32> {
    return vec2<u32>(word_at(i), word_at(i + 4u));
}

// Byte `i` (0..8) of 8 bytes.
fn byte8(w: vec2<u32>, i: u32) -> u32 {
    return (w[i >> 2u] >> ((i & 3u) << 3u)) & 0xffu;
}
