#!/usr/bin/env python3
"""Reference dequantization of every ggml block type localrag reads, by PyPI `gguf`
(`gguf.quants.dequantize`, a numpy port of ggml's reference code, independent of the Rust).

Writes tests/fixtures/quant_golden.json:
  random: per type, random blocks (their f16 scales kept finite) and the f32 values gguf gives;
  real:   per (file, tensor), the first rows of real tensors of the test models, as gguf gives them
          (only for the files that are present: `make assets` / `make test-models` fetch them).

Run by `make golden` (pip: gguf==0.19.0, numpy).
"""

import argparse
import base64
import json
import os

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import GGUFReader
from gguf.quants import GGML_QUANT_SIZES, dequantize

TYPES = ["F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q4_K", "Q5_K", "Q6_K"]

# Byte offsets of the f16 fields (scales, minimums) of each block type; random bytes there could
# be NaN or infinity, which no real file holds.
F16_FIELDS = {
    "Q4_0": [0], "Q4_1": [0, 2], "Q5_0": [0], "Q5_1": [0, 2], "Q8_0": [0],
    "Q4_K": [0, 2], "Q5_K": [0, 2], "Q6_K": [208],
}


def b64(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a).tobytes()).decode()


def random_blocks(name: str, n: int, rng: np.random.Generator) -> np.ndarray:
    qtype = T[name]
    per_block, block_bytes = GGML_QUANT_SIZES[qtype]
    if name == "F16":
        return rng.normal(0, 1, n).astype(np.float16).view(np.uint8)
    if name == "BF16":
        f = rng.normal(0, 1, n).astype(np.float32).view(np.uint32)
        return (f >> 16).astype(np.uint16).view(np.uint8)
    blocks = rng.integers(0, 256, (n // per_block, block_bytes), dtype=np.uint8)
    for off in F16_FIELDS[name]:
        scale = rng.uniform(-0.05, 0.05, blocks.shape[0]).astype(np.float16)
        blocks[:, off:off + 2] = scale.view(np.uint8).reshape(-1, 2)
    return blocks.reshape(-1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--gguf", action="append", default=[], help="real files to sample (name=path)")
    args = ap.parse_args()
    rng = np.random.default_rng(20261204)
    out = {"random": {}, "real": []}
    for name in TYPES:
        per_block = GGML_QUANT_SIZES[T[name]][0]
        n = max(per_block, 256) * 4
        raw = random_blocks(name, n, rng)
        values = dequantize(raw, T[name]).astype(np.float32).reshape(-1)
        assert values.size == n and np.isfinite(values).all(), name
        out["random"][name] = {"n": n, "bytes": b64(raw), "values": b64(values)}
    for spec in args.gguf:
        label, path = spec.split("=", 1)
        if not os.path.exists(path):
            continue
        reader = GGUFReader(path)
        seen = set()
        for t in reader.tensors:
            name = t.tensor_type.name
            # Two tensors of each type, two rows each: enough to catch a layout mistake.
            if name not in TYPES + ["F32"] or len(t.shape) != 2 or sum(1 for s in seen if s[0] == name) >= 2:
                continue
            seen.add((name, t.name))
            cols = int(t.shape[0])
            # The first two rows only (t.data is a row per line, as bytes for block types).
            values = dequantize(np.asarray(t.data[:2]), t.tensor_type).astype(np.float32).reshape(-1, cols)
            out["real"].append({
                "file": label, "tensor": t.name, "type": name, "cols": cols, "rows": [0, 1],
                "values": b64(values[:2].reshape(-1)),
            })
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
