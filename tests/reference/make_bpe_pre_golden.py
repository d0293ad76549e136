#!/usr/bin/env python3
"""Golden token ids for the byte-level BPE pre-tokenizers of Qwen2/Qwen3 (`qwen2`) and Llama 3
(`llama-bpe`), from the pure-Python BPE of make_llm_golden.py with each family's split regex
(llama.cpp's `llama-vocab.cpp`, as in the models' tokenizer.json), on the tiny test models'
vocabularies (make_tiny_models.py), whose merges include digit pairs so that the digit rules
show in the ids.

Usage: python3 tests/reference/make_bpe_pre_golden.py TINY_DIR OUT.json
"""

import json
import os
import sys

import regex
from gguf import GGUFReader

sys.path.insert(0, os.path.dirname(__file__))
import make_llm_golden as base  # noqa: E402

PATTERNS = {
    "llama-bpe": r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
    "qwen2": r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
}


class Tokenizer(base.BpeTokenizer):
    def __init__(self, reader):
        f = lambda k: base.field(reader, k)
        self.tokens = list(f("tokenizer.ggml.tokens"))
        types = list(f("tokenizer.ggml.token_type"))
        self.vocab = {t: i for i, t in enumerate(self.tokens)}
        self.ranks = {tuple(m.split(" ")): r for r, m in enumerate(f("tokenizer.ggml.merges"))}
        self.specials = sorted((t for t, ty in zip(self.tokens, types) if ty == base.TOKEN_TYPE_CONTROL),
                               key=len, reverse=True)
        self.byte_enc = base.bytes_to_unicode()
        self.byte_dec = {c: b for b, c in self.byte_enc.items()}
        self.missing_bytes = []
        self.cache = {}
        self.pattern = regex.compile(PATTERNS[f("tokenizer.ggml.pre")])

    def pre_tokenize(self, text):
        found = self.pattern.findall(text)
        assert "".join(found) == text
        return found


def main():
    tiny, out = sys.argv[1:]
    texts = []
    for group in (base.ENGLISH, base.CODE, base.NUMBERS, base.CJK, base.EMOJI, base.ACCENTED,
                  base.WHITESPACE, base.CONTRACTIONS, base.PUNCT, base.URLS):
        texts.extend(group)
    golden = {}
    for name in ("qwen2", "llama3"):
        tok = Tokenizer(GGUFReader(os.path.join(tiny, f"{name}.gguf")))
        golden[name] = [{"text": t, "ids": tok.encode(t)} for t in texts]
    with open(out, "w") as f:
        json.dump(golden, f, ensure_ascii=False, indent=0)
        f.write("\n")
    print(f"{len(texts)} cases per model -> {out}")


if __name__ == "__main__":
    main()
