"""The reference quantizers of the test models' block types, shared by make_tiny_models.py and
make_requantized.py: Q4_K and Q5_K (per 32, min/max scales), Q6_K (per 16, a signed scale) —
simple rules, not llama.cpp's search, vectorized over all blocks — and `encode`, which also
takes `gguf`'s own quantizers for the other types and checks every result with `gguf`'s
dequantize.
"""

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf.quants import dequantize, quantize

QK_K = 256


def f16_bytes(v):
    return v.astype(np.float16).view(np.uint8).reshape(-1, 2)


def quantize_k45(x, five):
    """Q4_K / Q5_K of blocks x (n × 256): per 32, x ≈ d·sc·q − dmin·m, q in 0..15 (0..31)."""
    top = 31 if five else 15
    sub = x.reshape(-1, 8, 32)
    lo = np.minimum(sub.min(axis=2), 0.0)
    scale = (sub.max(axis=2) - lo) / top
    d = np.maximum(scale.max(axis=1) / 63, 1e-12)
    dmin = np.maximum((-lo).max(axis=1) / 63, 1e-12)
    sc = np.clip(np.round(scale / d[:, None]), 0, 63).astype(np.uint8)
    m = np.clip(np.round(-lo / dmin[:, None]), 0, 63).astype(np.uint8)
    d16, dmin16 = d.astype(np.float16), dmin.astype(np.float16)
    eff_d = d16.astype(np.float32)[:, None] * sc
    eff_m = dmin16.astype(np.float32)[:, None] * m
    safe = np.where(eff_d > 0, eff_d, 1.0)
    q = np.where(eff_d[..., None] > 0,
                 np.clip(np.round((sub + eff_m[..., None]) / safe[..., None]), 0, top), 0)
    q = q.astype(np.uint8)
    qs = ((q[:, 0::2] & 15) | ((q[:, 1::2] & 15) << 4)).reshape(-1, 128)
    scales = np.zeros((len(x), 12), dtype=np.uint8)
    for j in range(4):
        scales[:, j] = sc[:, j] | ((sc[:, j + 4] >> 4) << 6)
        scales[:, j + 4] = m[:, j] | ((m[:, j + 4] >> 4) << 6)
        scales[:, j + 8] = (sc[:, j + 4] & 15) | ((m[:, j + 4] & 15) << 4)
    parts = [f16_bytes(d16), f16_bytes(dmin16), scales]
    if five:
        qh = np.zeros((len(x), 32), dtype=np.uint8)
        for j in range(8):
            qh |= ((q[:, j] >> 4) & 1) << j
        parts.append(qh)
    parts.append(qs)
    return np.concatenate(parts, axis=1)


def quantize_q6k(x):
    """Q6_K of blocks x (n × 256): per 16, x ≈ d·sc·(q − 32), q in 0..63, sc a signed byte."""
    n = len(x)
    sub = x.reshape(n, 16, 16)
    peak = np.take_along_axis(sub, np.abs(sub).argmax(axis=2)[..., None], axis=2)[..., 0]
    scale = -peak / 32.0
    d = np.maximum(np.abs(scale).max(axis=1) / 127, 1e-12)
    sc = np.clip(np.round(scale / d[:, None]), -128, 127).astype(np.int8)
    d16 = d.astype(np.float16)
    e = d16.astype(np.float32)[:, None] * sc
    safe = np.where(e != 0, e, 1.0)
    q = np.where(e[..., None] != 0, np.clip(np.round(sub / safe[..., None]) + 32, 0, 63), 32)
    v = q.astype(np.uint8).reshape(n, 2, 128)
    q1, q2, q3, q4 = v[..., 0:32], v[..., 32:64], v[..., 64:96], v[..., 96:128]
    ql = np.concatenate([(q1 & 15) | ((q3 & 15) << 4), (q2 & 15) | ((q4 & 15) << 4)], axis=2)
    qh = (q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6)
    return np.concatenate([ql.reshape(n, 128), qh.reshape(n, 64), sc.view(np.uint8),
                           f16_bytes(d16)], axis=1)


def encode(w, kind):
    """Blocks of `kind` for the f32 matrix w (rows × cols), checked against gguf's dequantize
    (F32: w itself)."""
    w = np.asarray(w, dtype=np.float32)
    if kind == T.F32:
        return w
    rows, cols = w.shape
    if kind in (T.Q4_K, T.Q5_K):
        data = quantize_k45(w.reshape(-1, QK_K), kind == T.Q5_K)
    elif kind == T.Q6_K:
        data = quantize_q6k(w.reshape(-1, QK_K))
    else:
        data = quantize(w, kind)
    data = np.ascontiguousarray(data, dtype=np.uint8).reshape(rows, -1)
    back = dequantize(data, kind).reshape(w.shape)
    err = np.abs(back - w).max() / max(np.abs(w).max(), 1e-12)
    assert err < 0.15, f"{kind.name}: relative error {err}"
    return data
