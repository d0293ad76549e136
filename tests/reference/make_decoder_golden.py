#!/usr/bin/env python3
"""Golden outputs of the decoder architectures localrag runs besides SmolLM2 (`gemma3`, `qwen2`,
`qwen3`, `llama`), from a float64 numpy forward pass written from the models' papers and Hugging
Face's modelling code, on weights dequantized by PyPI `gguf` (independent of the Rust code).

For each model file and prompt it records the prompt ids, the top-5 logits at the first
generated position, 32 greedy ids and the top-1/top-2 margin at every step, into one JSON file
keyed by model name (other models' entries are kept).

Usage:
    python3 tests/reference/make_decoder_golden.py --name gemma3 --gguf F.gguf \
        --out tests/fixtures/decoder_golden.json [--prompt TEXT ...]
Prompts are raw text, tokenized by SentencePiece (`make_spm_golden.build_model`) for
`tokenizer.ggml.model = llama`, or given as ids with --ids "1,2,3" for byte-level vocabularies.
"""

import argparse
import hashlib
import json
import math
import os
import sys

import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize

sys.path.insert(0, os.path.dirname(__file__))

N_GREEDY = 32


def field(reader, key, default=None):
    f = reader.fields.get(key)
    return default if f is None else f.contents()


def tensor(reader, name):
    for t in reader.tensors:
        if t.name == name:
            w = dequantize(t.data, t.tensor_type)
            return np.asarray(w, dtype=np.float32).reshape([int(x) for x in reversed(t.shape)])
    return None


def rms_norm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def silu(x):
    return x / (1.0 + np.exp(-x))


def gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def softmax(x):
    x = x - x.max(axis=-1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=-1, keepdims=True)


def rotate_half(x, cos, sin):
    h = x.shape[-1] // 2
    x1, x2 = x[..., :h], x[..., h:]
    return np.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1)


def unpermute(w, n_head):
    """llama.cpp's converter permutes llama's q/k rows for adjacent-pair rotation; undo it."""
    out, inp = w.shape
    return w.reshape(n_head, out // n_head // 2, 2, inp).swapaxes(1, 2).reshape(out, inp)


class Decoder:
    def __init__(self, reader):
        a = field(reader, "general.architecture")
        assert a in ("gemma3", "qwen2", "qwen3", "llama"), a
        self.arch = a
        k = lambda key, d=None: field(reader, f"{a}.{key}", d)
        self.n_layer = int(k("block_count"))
        self.d = int(k("embedding_length"))
        self.n_head = int(k("attention.head_count"))
        self.n_kv = int(k("attention.head_count_kv", self.n_head))
        self.hd = int(k("attention.key_length", self.d // self.n_head))
        self.eps = float(k("attention.layer_norm_rms_epsilon"))
        base = float(k("rope.freq_base", 10000.0))
        self.window = int(k("attention.sliding_window", 512)) if a == "gemma3" else None
        local = 10000.0 if a == "gemma3" else base

        def inv(b):
            return b ** (-np.arange(0, self.hd, 2, dtype=np.float64) / self.hd)

        t = lambda n: tensor(reader, n)
        self.inv_global, self.inv_local = inv(base), inv(local)
        # Llama 3.1+ long-context scaling: per-frequency divisors (llama.cpp's rope_freqs).
        factors = t("rope_freqs.weight")
        if factors is not None:
            self.inv_global = self.inv_global / factors.astype(np.float64)
            self.inv_local = self.inv_local / factors.astype(np.float64)
        self.embd = t("token_embd.weight")  # float32 [vocab, d]; used in chunks
        out = t("output.weight")
        self.out = self.embd if out is None else out
        self.out_norm = t("output_norm.weight").astype(np.float64)
        self.layers = []
        for i in range(self.n_layer):
            p = f"blk.{i}."
            L = {}
            for name in ("attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm",
                         "ffn_gate", "ffn_up", "ffn_down", "attn_q_norm", "attn_k_norm",
                         "post_attention_norm", "post_ffw_norm"):
                w = t(p + name + ".weight")
                if w is not None:
                    L[name] = w.astype(np.float64)
            for name in ("attn_q", "attn_k", "attn_v"):
                b = t(p + name + ".bias")
                if b is not None:
                    L[name + "_b"] = b.astype(np.float64)
            if a == "llama":
                L["attn_q"] = unpermute(L["attn_q"], self.n_head)
                L["attn_k"] = unpermute(L["attn_k"], self.n_kv)
            self.layers.append(L)

    def sliding(self, i):
        return self.window is not None and (i + 1) % 6 != 0

    def new_cache(self):
        e = np.zeros((self.n_kv, 0, self.hd))
        return [[e, e] for _ in range(self.n_layer)]

    def forward(self, ids, cache):
        T, hd = len(ids), self.hd
        past = cache[0][0].shape[1]
        pos = np.arange(past, past + T, dtype=np.float64)
        key_pos = np.arange(past + T)
        causal = key_pos[None, :] > pos[:, None]
        group = self.n_head // self.n_kv
        x = self.embd[np.asarray(ids)].astype(np.float64)
        if self.arch == "gemma3":
            x = x * math.sqrt(self.d)
        for i, (L, c) in enumerate(zip(self.layers, cache)):
            slide = self.sliding(i)
            ang = pos[:, None] * (self.inv_local if slide else self.inv_global)[None, :]
            cos, sin = np.cos(ang), np.sin(ang)
            h = rms_norm(x, L["attn_norm"], self.eps)
            proj = lambda n: h @ L[n].T + L.get(n + "_b", 0.0)
            q = proj("attn_q").reshape(T, self.n_head, hd).transpose(1, 0, 2)
            k = proj("attn_k").reshape(T, self.n_kv, hd).transpose(1, 0, 2)
            v = proj("attn_v").reshape(T, self.n_kv, hd).transpose(1, 0, 2)
            if "attn_q_norm" in L:
                q = rms_norm(q, L["attn_q_norm"], self.eps)
                k = rms_norm(k, L["attn_k_norm"], self.eps)
            q, k = rotate_half(q, cos, sin), rotate_half(k, cos, sin)
            c[0] = np.concatenate([c[0], k], axis=1)
            c[1] = np.concatenate([c[1], v], axis=1)
            kk = np.repeat(c[0], group, axis=0)
            vv = np.repeat(c[1], group, axis=0)
            scores = (q @ kk.transpose(0, 2, 1)) / math.sqrt(hd)
            masked = causal
            if slide:
                masked = masked | (pos[:, None] - key_pos[None, :] >= self.window)
            scores = np.where(masked[None], -np.inf, scores)
            o = (softmax(scores) @ vv).transpose(1, 0, 2).reshape(T, self.n_head * hd) @ L["attn_output"].T
            if "post_attention_norm" in L:
                o = rms_norm(o, L["post_attention_norm"], self.eps)
            x = x + o
            h = rms_norm(x, L["ffn_norm"], self.eps)
            act = gelu_tanh if self.arch == "gemma3" else silu
            m = (act(h @ L["ffn_gate"].T) * (h @ L["ffn_up"].T)) @ L["ffn_down"].T
            if "post_ffw_norm" in L:
                m = rms_norm(m, L["post_ffw_norm"], self.eps)
            x = x + m
        x = rms_norm(x[-1:], self.out_norm, self.eps)[0]
        logits = np.empty(self.out.shape[0])
        for s in range(0, self.out.shape[0], 16384):
            logits[s:s + 16384] = self.out[s:s + 16384].astype(np.float64) @ x
        return logits

    def greedy(self, ids, n):
        cache = self.new_cache()
        logits = self.forward(ids, cache)
        first = logits.copy()
        out, margins = [], []
        for step in range(n):
            top2 = np.argsort(-logits, kind="stable")[:2]
            out.append(int(top2[0]))
            margins.append(float(logits[top2[0]] - logits[top2[1]]))
            if step + 1 < n:
                logits = self.forward([out[-1]], cache)
        return first, out, margins


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    ap.add_argument("--gguf", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--prompt", action="append", default=[])
    ap.add_argument("--ids", action="append", default=[])
    args = ap.parse_args()
    with open(args.gguf, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    reader = GGUFReader(args.gguf)
    prompts = []
    if args.prompt:
        from make_spm_golden import build_model
        sp, _ = build_model(reader)
        bos = field(reader, "tokenizer.ggml.bos_token_id")
        add_bos = field(reader, "tokenizer.ggml.add_bos_token", True)
        for p in args.prompt:
            prompts.append((p, ([bos] if add_bos else []) + sp.encode(p)))
    for s in args.ids:
        prompts.append((None, [int(x) for x in s.split(",")]))
    model = Decoder(reader)
    cases = []
    for text, ids in prompts:
        first, greedy, margins = model.greedy(ids, N_GREEDY)
        order = np.argsort(-first, kind="stable")[:5]
        cases.append({
            "prompt": text,
            "ids": ids,
            "top5": [[int(i), float(first[i])] for i in order],
            "greedy": greedy,
            "margins": margins,
        })
        print(f"{args.name}: {text!r} -> {greedy[:8]}... min margin {min(margins):.4f}")
    golden = {}
    if os.path.exists(args.out):
        with open(args.out) as f:
            golden = json.load(f)
    golden[args.name] = {"model_sha256": sha, "cases": cases}
    with open(args.out, "w") as f:
        json.dump(golden, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
