#!/usr/bin/env python3
"""Golden token ids for localrag's SentencePiece-style tokenizer (GGUF `tokenizer.ggml.model =
llama`), from Google's own `sentencepiece` library (PyPI `sentencepiece`, `protobuf`).

The GGUF file carries the pieces, their scores and types but not the original
`tokenizer.model`; this script rebuilds that model as a SentencePiece ModelProto (BPE, byte
fallback, `▁` for spaces, no text normalization, a dummy prefix only when
`tokenizer.ggml.add_space_prefix` says so) and encodes every test string with it. llama.cpp's
converter writes user-defined pieces with real spaces ("pre-normalized"), so they get their `▁`
back here, as in the original model.

Usage:
    python3 tests/reference/make_spm_golden.py --gguf GEMMA.gguf --out tests/fixtures/spm_tokenizer.json
"""

import argparse
import hashlib
import json
import os
import sys

import sentencepiece as spm
from gguf import GGUFReader
from sentencepiece import sentencepiece_model_pb2 as pb

sys.path.insert(0, os.path.dirname(__file__))
import make_llm_golden as base  # noqa: E402  (the BPE fixture's test strings)

EXTRA = [
    "Gemma is a family of open models.",
    "two  spaces, three   spaces and a tab\there",
    "line one\nline two\n\nparagraph\n\n\n",
    "<h1>Title</h1><p>para</p><table><tr><td>1</td></tr></table>",
    "emoji 🙂🚀 and rare 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 letters",
    "日本語のテキストと中文文本",
    "Ελληνικά, русский, عربى, हिन्दी",
    "<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n",
    "  leading and trailing spaces  ",
    "\u00a0non-breaking\u2009thin\u200bzero-width",
    "control \x01 \x7f bytes",
]


def field(reader, key):
    f = reader.fields.get(key)
    return None if f is None else f.contents()


def build_model(reader):
    tokens = field(reader, "tokenizer.ggml.tokens")
    scores = field(reader, "tokenizer.ggml.scores")
    types = field(reader, "tokenizer.ggml.token_type")
    m = pb.ModelProto()
    for t, s, ty in zip(tokens, scores, types):
        p = m.pieces.add()
        p.piece = t.replace(" ", "\u2581") if ty == 4 else t
        p.score = s
        p.type = ty  # ggml's token types are SentencePiece's piece types
    m.trainer_spec.model_type = pb.TrainerSpec.BPE
    m.trainer_spec.vocab_size = len(tokens)
    m.trainer_spec.byte_fallback = True
    m.trainer_spec.unk_id = field(reader, "tokenizer.ggml.unknown_token_id") or 0
    m.trainer_spec.bos_id = field(reader, "tokenizer.ggml.bos_token_id")
    m.trainer_spec.eos_id = field(reader, "tokenizer.ggml.eos_token_id")
    pad = field(reader, "tokenizer.ggml.padding_token_id")
    m.trainer_spec.pad_id = -1 if pad is None else pad
    n = m.normalizer_spec
    n.name = "identity"
    n.add_dummy_prefix = bool(field(reader, "tokenizer.ggml.add_space_prefix"))
    n.remove_extra_whitespaces = False
    n.escape_whitespaces = True
    sp = spm.SentencePieceProcessor()
    sp.LoadFromSerializedProto(m.SerializeToString())
    return sp, len(tokens)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gguf", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    with open(args.gguf, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    reader = GGUFReader(args.gguf)
    sp, vocab = build_model(reader)
    texts = []
    for group in (base.ENGLISH, base.CODE, base.NUMBERS, base.CJK, base.EMOJI, base.ACCENTED,
                  base.WHITESPACE, base.CONTRACTIONS, base.PUNCT, base.URLS, EXTRA):
        texts.extend(group)
    # Control pieces are plain text to SentencePiece, as to `encode_plain`.
    cases = [{"text": t, "ids": sp.encode(t)} for t in texts]
    with open(args.out, "w") as f:
        json.dump({"model_sha256": sha, "vocab_size": vocab, "cases": cases}, f, ensure_ascii=False, indent=0)
        f.write("\n")
    print(f"{len(cases)} cases -> {args.out}")


if __name__ == "__main__":
    main()
