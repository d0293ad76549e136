#!/usr/bin/env python3
"""Tiny random decoder models in the GGUF layouts of Qwen2 (q/k/v biases), Qwen3 (q/k RMSNorm,
head size not hidden/heads) and Llama 3 (adjacent-pair rotary rows as llama.cpp's converter
writes them, rope frequency factors, an untied output head), for the generator's tests.

Weights come from a fixed xorshift stream (the same bytes on every machine and numpy version)
and are stored in the block types the tests need: Q8_0, Q4_0, Q5_1, Q4_K, Q5_K and Q6_K, the
k-quants by the reference quantizer of `kquants.py` (simple min/max scales, checked against
`gguf`'s dequantize on every tensor). The tokenizer is a byte-level BPE over GPT-2's byte alphabet with
a few merges, the model family's special tokens, its pre-tokenizer name and a chat template.

Usage: python3 tests/reference/make_tiny_models.py OUT_DIR
"""

import os
import sys

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import GGUFWriter

sys.path.insert(0, os.path.dirname(__file__))
from kquants import encode  # noqa: E402



class Stream:
    """xorshift64*: floats in (-1, 1)."""

    def __init__(self, seed):
        self.s = np.uint64(seed * 2654435761 + 1)

    def floats(self, n):
        out = np.empty(n, dtype=np.float64)
        s = int(self.s)
        mask = (1 << 64) - 1
        for i in range(n):
            s ^= (s >> 12)
            s ^= (s << 25) & mask
            s ^= (s >> 27)
            v = (s * 0x2545F4914F6CDD1D) & mask
            out[i] = (v >> 11) / float(1 << 53) * 2.0 - 1.0
        self.s = np.uint64(s)
        return out


def byte_alphabet():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    table = dict(zip(bs, (chr(c) for c in cs)))
    return [table[b] for b in range(256)]


MERGES = ["Ġ t", "h e", "Ġt he", "i n", "Ġ a", "e r", "o n", "Ġ s", "r e", "a t", "e n",
          "Ġ c", "Ġ w", "i s", "o r", "Ġ o", "e s", "a n", "1 2", "Ġ 1"]

FAMILIES = {
    "qwen2": dict(arch="qwen2", pre="qwen2", heads=4, kv=2, head_dim=None, layers=2, ff=512,
                  specials=["<|endoftext|>", "<|im_start|>", "<|im_end|>"], eos="<|im_end|>",
                  bos=None, types={"attn": T.Q8_0, "ffn": T.Q4_0, "embd": T.Q5_1},
                  template="{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\nYou are Qwen, a tiny test model.<|im_end|>\\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"),
    "qwen3": dict(arch="qwen3", pre="qwen2", heads=8, kv=2, head_dim=64, layers=2, ff=512,
                  specials=["<|endoftext|>", "<|im_start|>", "<|im_end|>"], eos="<|im_end|>",
                  bos=None, types={"attn": T.Q5_K, "ffn": T.Q4_K, "embd": T.Q6_K},
                  template="{%- for message in messages %}{{- '<|im_start|>' + message.role + '\\n' + message.content.strip() + '<|im_end|>\\n' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"),
    "llama3": dict(arch="llama", pre="llama-bpe", heads=4, kv=1, head_dim=None, layers=2, ff=512,
                   specials=["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>",
                             "<|end_header_id|>", "<|eot_id|>"], eos="<|eot_id|>",
                   bos="<|begin_of_text|>", types={"attn": T.Q4_K, "ffn": T.Q6_K, "embd": T.Q8_0},
                   template="{{- bos_token }}{%- for message in messages %}{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}"),
}

HIDDEN = 256


def write(name, spec, out_dir):
    rng = Stream(sum(map(ord, name)))
    alphabet = byte_alphabet()
    tokens = alphabet + [m.replace(" ", "") for m in MERGES] + spec["specials"]
    types = [1] * (len(tokens) - len(spec["specials"])) + [3] * len(spec["specials"])
    vocab = len(tokens)
    heads, kv = spec["heads"], spec["kv"]
    hd = spec["head_dim"] or HIDDEN // heads
    ff = spec["ff"]
    w = GGUFWriter(os.path.join(out_dir, f"{name}.gguf"), spec["arch"])
    a = spec["arch"]
    w.add_name(f"tiny-{name}")
    w.add_context_length(256)
    w.add_embedding_length(HIDDEN)
    w.add_block_count(spec["layers"])
    w.add_feed_forward_length(ff)
    w.add_head_count(heads)
    w.add_head_count_kv(kv)
    if spec["head_dim"]:
        w.add_key_length(hd)
        w.add_value_length(hd)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_rope_freq_base(500000.0 if name == "llama3" else 1000000.0)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(spec["pre"])
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(MERGES)
    w.add_eos_token_id(tokens.index(spec["eos"]))
    if spec["bos"]:
        w.add_bos_token_id(tokens.index(spec["bos"]))
        w.add_add_bos_token(True)
    else:
        w.add_add_bos_token(False)
    w.add_chat_template(spec["template"])

    def mat(rows, cols, scale):
        return (rng.floats(rows * cols) * scale).reshape(rows, cols).astype(np.float32)

    def vec(n, center, spread):
        return (center + rng.floats(n) * spread).astype(np.float32)

    def add(tname, data, kind):
        w.add_tensor(tname, encode(data, kind), raw_dtype=kind if kind != T.F32 else None)

    ty = spec["types"]
    add("token_embd.weight", mat(vocab, HIDDEN, 1.0), ty["embd"])
    add("output_norm.weight", vec(HIDDEN, 1.0, 0.2), T.F32)
    if name == "llama3":
        add("output.weight", mat(vocab, HIDDEN, 1.0), T.Q6_K)
        add("rope_freqs.weight", vec(hd // 2, 2.0, 1.0), T.F32)
    s = 1.0 / np.sqrt(HIDDEN)
    for i in range(spec["layers"]):
        p = f"blk.{i}."
        add(p + "attn_norm.weight", vec(HIDDEN, 1.0, 0.2), T.F32)
        add(p + "attn_q.weight", mat(heads * hd, HIDDEN, 2 * s), ty["attn"])
        add(p + "attn_k.weight", mat(kv * hd, HIDDEN, 2 * s), ty["attn"])
        add(p + "attn_v.weight", mat(kv * hd, HIDDEN, 2 * s), ty["attn"])
        add(p + "attn_output.weight", mat(HIDDEN, heads * hd, 8 / np.sqrt(heads * hd)), ty["attn"] if (heads * hd) % 256 == 0 else T.Q8_0)
        if a == "qwen2":
            for t, n in (("q", heads * hd), ("k", kv * hd), ("v", kv * hd)):
                add(p + f"attn_{t}.bias", vec(n, 0.0, 0.5), T.F32)
        if a == "qwen3":
            add(p + "attn_q_norm.weight", vec(hd, 1.0, 0.3), T.F32)
            add(p + "attn_k_norm.weight", vec(hd, 1.0, 0.3), T.F32)
        add(p + "ffn_norm.weight", vec(HIDDEN, 1.0, 0.2), T.F32)
        add(p + "ffn_gate.weight", mat(ff, HIDDEN, 2 * s), ty["ffn"])
        add(p + "ffn_up.weight", mat(ff, HIDDEN, 2 * s), ty["ffn"])
        add(p + "ffn_down.weight", mat(HIDDEN, ff, 8 / np.sqrt(ff)), ty["ffn"])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name, spec in FAMILIES.items():
        write(name, spec, out)
        print("wrote", os.path.join(out, f"{name}.gguf"))


if __name__ == "__main__":
    main()
