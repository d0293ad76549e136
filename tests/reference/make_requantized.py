#!/usr/bin/env python3
"""SmolLM2-135M-Instruct (the package's Q4_1 file) requantized into Q8_0, Q5_0, Q4_K, Q5_K and
Q6_K files, for the generator's tests: the same weights in the block types most published GGUF
files use.

Every Q4_1 matrix is dequantized by PyPI `gguf` and quantized again into the target type:
Q8_0 and Q5_0 by `gguf`'s own quantizers; Q4_K, Q5_K and Q6_K by the reference quantizer of
`make_tiny_models.py` (simple min/max scales), vectorized here over all blocks. As
llama-quantize does, a matrix whose rows are not whole 256-element super-blocks (SmolLM2's
hidden size is 576) gets the fallback type instead: Q4_K → Q5_0, Q5_K → Q5_1, Q6_K → Q8_0, so
the k-quant files hold k-quants in their `ffn_down` matrices (1536 columns) and Q5_0/Q5_1/Q8_0
elsewhere. The token table (Q8_0) and the f32 norms are copied as they are. Every quantized
matrix is checked against `gguf`'s dequantize (maximum error relative to the matrix's largest
weight). The metadata is copied byte for byte (so `general.file_type` still says Q4_1).

numpy's rounding is IEEE, so the files are the same bytes on every machine: the tests pin their
SHA-256 in tests/fixtures/decoder_golden.json.

Usage: python3 tests/reference/make_requantized.py SOURCE.gguf OUT_DIR
"""

import os
import struct
import sys

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import GGUFReader
from gguf.quants import dequantize, quantize

QK_K = 256
TARGETS = {"q8_0": T.Q8_0, "q5_0": T.Q5_0, "q4_k": T.Q4_K, "q5_k": T.Q5_K, "q6_k": T.Q6_K}
FALLBACK = {T.Q4_K: T.Q5_0, T.Q5_K: T.Q5_1, T.Q6_K: T.Q8_0}
BLOCK = {T.Q8_0: (32, 34), T.Q5_0: (32, 22), T.Q5_1: (32, 24), T.Q4_K: (256, 144),
         T.Q5_K: (256, 176), T.Q6_K: (256, 210), T.Q4_1: (32, 20), T.F32: (1, 4)}


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
    """Blocks of `kind` for the f32 matrix w (rows × cols), checked against gguf's dequantize."""
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


def gguf_string(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def write(reader, raw, name_kind, out_path):
    """The source file's metadata, then the tensors in their new types."""
    first_info = reader.tensors[0].field.offset
    align = reader.alignment
    infos, blobs, offset = [], [], 0
    for t in reader.tensors:
        kind, data = name_kind(t)
        dims = [int(x) for x in t.shape]
        infos.append(gguf_string(t.name) + struct.pack("<I", len(dims))
                     + b"".join(struct.pack("<Q", d) for d in dims)
                     + struct.pack("<IQ", int(kind), offset))
        blob = data.tobytes()
        pad = (-len(blob)) % align
        blobs.append(blob + b"\0" * pad)
        offset += len(blob) + pad
    head = raw[:first_info].tobytes() + b"".join(infos)
    head += b"\0" * ((-len(head)) % align)
    with open(out_path + ".part", "wb") as f:
        f.write(head)
        for b in blobs:
            f.write(b)
    os.replace(out_path + ".part", out_path)


def main():
    src, out_dir = sys.argv[1], sys.argv[2]
    os.makedirs(out_dir, exist_ok=True)
    reader = GGUFReader(src)
    raw = np.memmap(src, dtype=np.uint8, mode="r")
    assert reader.tensors[0].field.offset > 24
    for suffix, target in TARGETS.items():
        def name_kind(t):
            if t.tensor_type != T.Q4_1:
                return t.tensor_type, np.asarray(t.data).view(np.uint8)
            cols = int(t.shape[0])
            kind = target
            if BLOCK[kind][0] == QK_K and cols % QK_K:
                kind = FALLBACK[kind]
            w = dequantize(t.data, T.Q4_1).reshape(int(t.shape[1]), cols).astype(np.float32)
            return kind, encode(w, kind)
        out = os.path.join(out_dir, f"smollm2-135m-{suffix}.gguf")
        write(reader, raw, name_kind, out)
        print(f"{out}: {os.path.getsize(out)} bytes")


if __name__ == "__main__":
    main()
