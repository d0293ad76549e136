#!/usr/bin/env python3
"""SmolLM2-135M-Instruct (the package's Q4_1 file) requantized into Q8_0, Q5_0, Q4_K, Q5_K and
Q6_K files, for the generator's tests: the same weights in the block types most published GGUF
files use.

Every Q4_1 matrix is dequantized by PyPI `gguf` and quantized again into the target type:
Q8_0 and Q5_0 by `gguf`'s own quantizers; Q4_K, Q5_K and Q6_K by the reference quantizer of
`kquants.py` (simple min/max scales), shared with `make_tiny_models.py`. As
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
from gguf.quants import dequantize

sys.path.insert(0, os.path.dirname(__file__))
from kquants import QK_K, encode  # noqa: E402

TARGETS = {"q8_0": T.Q8_0, "q5_0": T.Q5_0, "q4_k": T.Q4_K, "q5_k": T.Q5_K, "q6_k": T.Q6_K}
FALLBACK = {T.Q4_K: T.Q5_0, T.Q5_K: T.Q5_1, T.Q6_K: T.Q8_0}
BLOCK = {T.Q8_0: (32, 34), T.Q5_0: (32, 22), T.Q5_1: (32, 24), T.Q4_K: (256, 144),
         T.Q5_K: (256, 176), T.Q6_K: (256, 210), T.Q4_1: (32, 20), T.F32: (1, 4)}


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
