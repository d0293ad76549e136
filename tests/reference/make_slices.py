#!/usr/bin/env python3
"""Small slices of the shipped models, for the browser tests of the knowledge base's behaviour
(the long session, the bad-input catalogue), which call the models thousands of times but
check storage, memory and error codes, never the numbers the models give.

Each slice is its model's GGUF file with every metadata key (tokenizer, vocabulary, merges,
chat template, special tokens, context length, pooling) copied as it is, fewer blocks, and
every hidden size cut to a prefix of the real weights, stored in the source's block types
(dequantized, cut, quantized again by `gguf`). So the tokenizers, the prompt format, the
chunker's limits and the kernels (Q8_0 and Q4_1 as in the shipped files) are the real ones;
only the arithmetic is smaller:

- `minilm-slice.gguf` from all-MiniLM-L6-v2-Q8_0.gguf: 2 of 6 blocks, hidden 384 -> 64
  (2 heads of 32), feed-forward 1536 -> 128. About 2 MB; an embedding costs ~1/100.
- `smollm2-slice.gguf` from SmolLM2-135M-Instruct.Q4_1.gguf: 2 of 30 blocks, hidden 576 -> 128
  (2 query heads and 1 key/value head of 64), feed-forward 1536 -> 256. About 7 MB (most of it
  the 49 152-token embedding table); a token costs ~1/40.

The models' outputs are meaningless (cut weights): nothing may compare them to a reference.

usage: make_slices.py MINILM_Q8_0.gguf SMOLLM2_Q4_1.gguf OUT_DIR
"""

import os
import sys

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import GGUFReader, GGUFValueType, GGUFWriter
from gguf import quants

SLICES = {
    "minilm-slice.gguf": dict(
        blocks=2,
        sizes={384: 64, 1536: 128},
        keys={
            "bert.block_count": 2,
            "bert.embedding_length": 64,
            "bert.feed_forward_length": 128,
            "bert.attention.head_count": 2,
        },
    ),
    "smollm2-slice.gguf": dict(
        blocks=2,
        sizes={576: 128, 1536: 256, 192: 64},
        keys={
            "llama.block_count": 2,
            "llama.embedding_length": 128,
            "llama.feed_forward_length": 256,
            "llama.attention.head_count": 2,
            "llama.attention.head_count_kv": 1,
        },
    ),
}


def write_slice(src, out, spec):
    r = GGUFReader(src)
    arch = r.fields["general.architecture"].contents()
    missing = set(spec["keys"]) - set(r.fields)
    if missing:
        raise SystemExit(f"{src}: no {sorted(missing)}")
    w = GGUFWriter(out, arch)
    for name, f in r.fields.items():
        if name.startswith("GGUF.") or name == "general.architecture":
            continue
        vtype = f.types[0]
        sub = f.types[-1] if vtype == GGUFValueType.ARRAY else None
        value = spec["keys"].get(name, f.contents())
        if name == "general.name":
            value = f"{value} (slice for tests)"
        w.add_key_value(name, value, vtype, sub_type=sub)
    sizes = spec["sizes"]
    for t in r.tensors:
        if t.name.startswith("blk.") and int(t.name.split(".")[1]) >= spec["blocks"]:
            continue
        kind = T(t.tensor_type)
        if kind == T.F32:
            a = np.array(t.data, dtype=np.float32).reshape(tuple(reversed([int(n) for n in t.shape])))
        else:
            a = quants.dequantize(t.data, kind)
        a = a[tuple(slice(0, sizes.get(n, n)) for n in a.shape)]
        a = np.ascontiguousarray(a, dtype=np.float32)
        if kind == T.F32:
            w.add_tensor(t.name, a)
        else:
            w.add_tensor(t.name, quants.quantize(a, kind), raw_dtype=kind)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print(f"wrote {out} ({os.path.getsize(out)} bytes)")


def main():
    minilm, smollm2, out_dir = sys.argv[1:4]
    os.makedirs(out_dir, exist_ok=True)
    for (name, spec), src in zip(SLICES.items(), [minilm, smollm2]):
        write_slice(src, os.path.join(out_dir, name), spec)


if __name__ == "__main__":
    main()
