#!/usr/bin/env python3
"""Golden-fixture generator for localrag's all-MiniLM-L6-v2 embedder.

A self-contained reference implementation of the sentence-transformers model
all-MiniLM-L6-v2 (BERT encoder -> mean pooling -> L2 normalisation) in pure
numpy (float64 arithmetic), using only the PyPI packages `tokenizers` and
`safetensors`. No torch, no network.

It writes tests/fixtures/embeddings.json, which the Rust/Burn implementation is
tested against:

    {"model": ..., "model_sha256": ..., "max_seq_length": 256, "dim": 384,
     "generator": "tests/reference/make_golden.py",
     "cases": [{"text": ..., "ids": [...], "embedding": [...]}, ...]}

Usage:
    python3 tests/reference/make_golden.py \
        [--model-dir www/models/all-MiniLM-L6-v2] \
        [--out tests/fixtures/embeddings.json]

Every text is tokenized and run on its own (no padding, attention mask all
ones), truncated to max_seq_length word pieces (including [CLS] and [SEP]), as
sentence-transformers does with a batch of one.
"""

import argparse
import hashlib
import json
import math
import os
import sys
import time

import numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEFAULT_MODEL_DIR = os.path.join(REPO_ROOT, "www", "models", "all-MiniLM-L6-v2")
DEFAULT_OUT = os.path.join(REPO_ROOT, "tests", "fixtures", "embeddings.json")

# --------------------------------------------------------------------------
# Inputs. Indices 0..3 are the demo sentences and must stay first, in order.
# --------------------------------------------------------------------------

_LONG_PARAGRAPH = (
    "Retrieval-augmented generation combines a search step with a language "
    "model: documents are split into chunks, each chunk is embedded into a "
    "dense vector, and at query time the nearest chunks by cosine similarity "
    "are handed to the model as context. The quality of the whole pipeline "
    "depends heavily on the embedder, on how the text is chunked, and on "
    "whether the index is kept up to date as documents change. "
)

_LONG_CODE = (
    "fn cosine(a: &[f32], b: &[f32]) -> f32 {\n"
    "    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();\n"
    "    let na = a.iter().map(|x| x * x).sum::<f32>().sqrt();\n"
    "    let nb = b.iter().map(|x| x * x).sum::<f32>().sqrt();\n"
    "    dot / (na * nb)\n"
    "}\n"
)

TEXTS = [
    # 0..3: demo sentences (fixed order)
    "The cat sits on the mat.",
    "A feline is resting on a rug.",
    "Stock markets fell sharply today.",
    "The weather is sunny and warm.",
    # known public reference value (sentence-transformers model card)
    "This is an example sentence",
    "Each sentence is converted",
    # paraphrase / near-duplicate pairs
    "How do I reset my password?",
    "What is the procedure to change my password?",
    "The quick brown fox jumps over the lazy dog.",
    "A fast brown fox leaps over a lazy dog.",
    "The meeting has been moved to Thursday afternoon.",
    "We rescheduled the meeting for Thursday after lunch.",
    "I love programming in Rust.",
    "Writing Rust code is something I really enjoy.",
    "The quick brown fox jumps over the lazy dog",  # no final period
    # tiny inputs
    "a",
    "?",
    "I",
    "hello",
    "supercalifragilisticexpialidocious",
    " ",  # whitespace only -> [CLS] [SEP]
    "\t\n",
    # punctuation heavy
    "!!! ??? ... ;;; :::",
    "Wait... what?! No -- really?? (yes) [maybe] {never} <ok> \"quoted\" 'single'",
    "@#$%^&*()_+-=~`|\\/<>",
    # mixed case
    "ThE CaT SiTs On ThE MaT.",
    "THE CAT SITS ON THE MAT.",
    "camelCaseIdentifier and snake_case_identifier and SCREAMING_CASE",
    # accents / Latin scripts
    "Le chat est assis sur le tapis.",
    "Où est la bibliothèque ? Déjà vu, naïve café, crème brûlée.",
    "Die Straße ist über die Brücke gesperrt. Grüße aus München!",
    "Tiếng Việt có nhiều dấu: ă â đ ê ô ơ ư, ví dụ “phở” và “bánh mì”.",
    "El niño comió piñas en Año Nuevo.",
    "Ångström, Øresund, Æsir, Łódź, Škoda, İstanbul",
    # CJK
    "猫はマットの上に座っています。",
    "我喜欢吃苹果和香蕉。",
    "고양이가 매트 위에 앉아 있습니다.",
    "東京タワーは333メートルです。Tokyo Tower is 333 m tall.",
    # other scripts
    "Привет, как дела? Кошка сидит на коврике.",
    "مرحبا بالعالم",
    "Γειά σου Κόσμε",
    "नमस्ते दुनिया",
    # emoji
    "I love pizza 🍕🍕🍕!",
    "👍",
    "Family: 👨‍👩‍👧‍👦 and flags 🇫🇷🇩🇪 and skin tone 👋🏽",
    "😀😃😄😁😆😅😂🤣",
    # source code
    "fn main() {\n    println!(\"Hello, world!\");\n}",
    "def add(a, b):\n    return a + b\n\nprint(add(2, 3))",
    '{"name": "localrag", "version": "0.1.0", "dependencies": {"burn": "0.14"}}',
    "SELECT id, title FROM documents WHERE score > 0.5 ORDER BY score DESC;",
    "<div class=\"card\"><p>Hello &amp; welcome</p></div>",
    # whitespace runs, tabs, newlines
    "word1     word2\t\tword3\n\n\nword4",
    "   leading and trailing spaces   ",
    "line one\r\nline two\r\nline three",
    "non\u00a0breaking\u00a0space and zero\u200bwidth",
    # numbers / URLs / emails
    "3.14159 2.71828 1,000,000 -42 1e-12 0x1F",
    "Call me at +1 (555) 123-4567 before 10:30pm on 2024-03-15.",
    "Visit https://example.com/path?query=1&lang=en#section for details.",
    "Send an email to jane.doe+rag@example.org with subject 'RAG'.",
    "Version 2.0.1-beta.3 fixes CVE-2023-12345.",
    # a few more ordinary sentences (retrieval-style)
    "Burn is a deep learning framework written in Rust.",
    "WebGPU exposes modern GPU capabilities to web applications.",
    "Sentence embeddings map text to dense vectors for semantic search.",
    "My favourite season is autumn because of the colourful leaves.",
    "The mitochondria is the powerhouse of the cell.",
    # long inputs: well over 256 word pieces -> truncation
    _LONG_PARAGRAPH * 6,
    _LONG_CODE * 8,
    " ".join(str(i) for i in range(400)),
    ("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod "
     "tempor incididunt ut labore et dolore magna aliqua. ") * 20,
    "猫が好きです。" * 80,
]


# --------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------

_erf = np.frompyfunc(math.erf, 1, 1)


def gelu(x):
    """Exact (erf-based) GELU, as Hugging Face's "gelu": x * 0.5 * (1 + erf(x/sqrt 2)).

    math.erf is correctly rounded-ish double precision, so this is exact to
    well below 1e-7.
    """
    return x * 0.5 * (1.0 + _erf(x / math.sqrt(2.0)).astype(np.float64))


def layer_norm(x, w, b, eps):
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)  # biased variance
    return (x - mu) / np.sqrt(var + eps) * w + b


def linear(x, w, b):
    # Hugging Face / torch layout: weight is [out, in]
    return x @ w.T + b


def softmax(x, axis=-1):
    x = x - x.max(axis=axis, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=axis, keepdims=True)


class Bert:
    def __init__(self, model_dir):
        with open(os.path.join(model_dir, "config.json")) as f:
            cfg = json.load(f)
        self.cfg = cfg
        self.hidden = cfg["hidden_size"]
        self.n_layers = cfg["num_hidden_layers"]
        self.n_heads = cfg["num_attention_heads"]
        self.intermediate = cfg["intermediate_size"]
        self.eps = cfg["layer_norm_eps"]
        self.type_vocab = cfg["type_vocab_size"]
        assert cfg.get("hidden_act", "gelu") == "gelu", cfg.get("hidden_act")
        assert cfg.get("position_embedding_type", "absolute") == "absolute"
        assert self.hidden % self.n_heads == 0
        self.head_dim = self.hidden // self.n_heads

        raw = load_file(os.path.join(model_dir, "model.safetensors"))
        self.weight_dtypes = sorted({str(v.dtype) for v in raw.values()})
        self.names = sorted(raw)
        # Accept both "bert.embeddings..." and "embeddings..." layouts.
        prefix = ""
        if "embeddings.word_embeddings.weight" not in raw:
            cands = [k[: -len("embeddings.word_embeddings.weight")] for k in raw
                     if k.endswith("embeddings.word_embeddings.weight")]
            assert len(cands) == 1, cands
            prefix = cands[0]
        self.prefix = prefix
        self.w = {k[len(prefix):]: v.astype(np.float64)
                  for k, v in raw.items() if k.startswith(prefix)}

        w = self.w
        assert w["embeddings.word_embeddings.weight"].shape[1] == self.hidden
        assert w["embeddings.token_type_embeddings.weight"].shape[0] == self.type_vocab
        assert w[f"encoder.layer.0.intermediate.dense.weight"].shape == (self.intermediate, self.hidden)
        assert f"encoder.layer.{self.n_layers - 1}.output.dense.weight" in w
        assert f"encoder.layer.{self.n_layers}.output.dense.weight" not in w

    def forward(self, ids, mask=None):
        """ids: [n] int -> last hidden state [n, hidden] (float64)."""
        w, eps = self.w, self.eps
        n = len(ids)
        ids = np.asarray(ids, dtype=np.int64)
        if mask is None:
            mask = np.ones(n, dtype=np.float64)
        token_type = np.zeros(n, dtype=np.int64)
        pos = np.arange(n)

        x = (w["embeddings.word_embeddings.weight"][ids]
             + w["embeddings.position_embeddings.weight"][pos]
             + w["embeddings.token_type_embeddings.weight"][token_type])
        x = layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)

        # additive key mask (all zeros when no padding)
        key_bias = (1.0 - mask)[None, None, :] * np.finfo(np.float64).min
        h, d = self.n_heads, self.head_dim
        for i in range(self.n_layers):
            p = f"encoder.layer.{i}."
            q = linear(x, w[p + "attention.self.query.weight"], w[p + "attention.self.query.bias"])
            k = linear(x, w[p + "attention.self.key.weight"], w[p + "attention.self.key.bias"])
            v = linear(x, w[p + "attention.self.value.weight"], w[p + "attention.self.value.bias"])
            # [n, hidden] -> [heads, n, d]
            q = q.reshape(n, h, d).transpose(1, 0, 2)
            k = k.reshape(n, h, d).transpose(1, 0, 2)
            v = v.reshape(n, h, d).transpose(1, 0, 2)
            scores = q @ k.transpose(0, 2, 1) / math.sqrt(d) + key_bias
            ctx = softmax(scores) @ v  # [heads, n, d]
            ctx = ctx.transpose(1, 0, 2).reshape(n, h * d)
            attn = linear(ctx, w[p + "attention.output.dense.weight"], w[p + "attention.output.dense.bias"])
            x = layer_norm(attn + x, w[p + "attention.output.LayerNorm.weight"],
                           w[p + "attention.output.LayerNorm.bias"], eps)

            inter = gelu(linear(x, w[p + "intermediate.dense.weight"], w[p + "intermediate.dense.bias"]))
            out = linear(inter, w[p + "output.dense.weight"], w[p + "output.dense.bias"])
            x = layer_norm(out + x, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], eps)
        return x


def pool(hidden, mask, pooling_cfg):
    if pooling_cfg.get("pooling_mode_cls_token"):
        return hidden[0]
    if pooling_cfg.get("pooling_mode_mean_tokens"):
        m = mask[:, None]
        return (hidden * m).sum(axis=0) / max(m.sum(), 1e-9)
    raise SystemExit(f"unsupported pooling config: {pooling_cfg}")


def sig7(x):
    return float(f"{float(x):.7g}")


def cos(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model-dir", default=DEFAULT_MODEL_DIR)
    ap.add_argument("--out", default=DEFAULT_OUT)
    args = ap.parse_args()
    t0 = time.time()

    md = args.model_dir
    with open(os.path.join(md, "sentence_bert_config.json")) as f:
        max_seq_length = json.load(f)["max_seq_length"]
    with open(os.path.join(md, "1_Pooling", "config.json")) as f:
        pooling_cfg = json.load(f)
    with open(os.path.join(md, "modules.json")) as f:
        modules = json.load(f)
    normalize = any(m["type"].endswith(".Normalize") for m in modules)

    with open(os.path.join(md, "model.safetensors"), "rb") as f:
        model_sha = hashlib.sha256(f.read()).hexdigest()

    model = Bert(md)
    print(f"weights: {len(model.names)} tensors, dtypes {model.weight_dtypes}, "
          f"prefix {model.prefix!r}")
    for name in model.names:
        if ".layer." in name and ".layer.0." not in name:
            continue
        print(f"  {name} {tuple(load_shape(model, name))}")

    tok = Tokenizer.from_file(os.path.join(md, "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(max_length=max_seq_length)

    assert len(TEXTS) == len(set(TEXTS)), "duplicate texts"
    assert all(t != "" for t in TEXTS)

    cases = []
    embs = []
    for text in TEXTS:
        enc = tok.encode(text, add_special_tokens=True)
        ids = list(enc.ids)
        assert len(ids) <= max_seq_length
        mask = np.ones(len(ids), dtype=np.float64)
        hidden = model.forward(ids, mask)
        e = pool(hidden, mask, pooling_cfg)
        if normalize:
            e = e / max(np.linalg.norm(e), 1e-12)
        e32 = e.astype(np.float32)
        emb = [sig7(v) for v in e32]
        embs.append(np.array(emb, dtype=np.float64))
        cases.append({"text": text, "ids": ids, "embedding": emb})

    dim = len(cases[0]["embedding"])
    assert dim == model.hidden

    # ------------------------------------------------------------------
    # Sanity checks
    # ------------------------------------------------------------------
    lens = [len(c["ids"]) for c in cases]
    n_trunc = sum(1 for l in lens if l == max_seq_length)
    print(f"cases: {len(cases)}, token lengths min {min(lens)} max {max(lens)}, "
          f"truncated (== {max_seq_length}): {n_trunc}")
    assert n_trunc >= 3, "need at least 3 truncated inputs"

    norms = [float(np.linalg.norm(e)) for e in embs]
    print(f"norms: min {min(norms):.9f} max {max(norms):.9f}")
    assert all(abs(n - 1.0) < 1e-5 for n in norms)

    c_para = cos(embs[0], embs[1])
    c_stock = cos(embs[0], embs[2])
    c_weather = cos(embs[0], embs[3])
    print(f"cos(cat/mat, feline/rug)     = {c_para:.6f}")
    print(f"cos(cat/mat, stock markets)  = {c_stock:.6f}")
    print(f"cos(cat/mat, weather)        = {c_weather:.6f}")
    assert c_para > c_stock + 0.2, "paraphrase should be clearly more similar"

    ex = embs[TEXTS.index("This is an example sentence")]
    ref = [0.0677, 0.0635, 0.0488, 0.0798, 0.0374]
    print(f"'This is an example sentence'[:5] = {[round(float(v), 6) for v in ex[:5]]}")
    print(f"  reference (sentence-transformers) ~ {ref}")
    assert all(abs(ex[i] - ref[i]) < 2e-3 for i in range(3)), "reference mismatch"

    out = {
        "model": "all-MiniLM-L6-v2",
        "model_sha256": model_sha,
        "max_seq_length": max_seq_length,
        "dim": dim,
        "generator": "tests/reference/make_golden.py",
        "cases": cases,
    }
    # One case per line for readable diffs.
    head = {k: v for k, v in out.items() if k != "cases"}
    lines = [json.dumps(head, ensure_ascii=False)[:-1] + ', "cases": [']
    for i, c in enumerate(cases):
        sep = "," if i + 1 < len(cases) else ""
        lines.append(json.dumps(c, ensure_ascii=False, separators=(",", ":")) + sep)
    lines.append("]}")
    text = "\n".join(lines) + "\n"
    assert json.loads(text) == out
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"wrote {args.out} ({len(text.encode('utf-8'))} bytes) in {time.time() - t0:.1f}s")


def load_shape(model, name):
    return model.w[name[len(model.prefix):]].shape


if __name__ == "__main__":
    sys.exit(main())
