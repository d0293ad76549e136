#!/usr/bin/env python3
"""all-MiniLM-L6-v2 as llama.cpp's converter writes a BERT model, quantized to Q8_0.

Reads the sentence-transformers folder (`model.safetensors`, `tokenizer.json`, `config.json`,
`1_Pooling/config.json`) and writes one GGUF file the way llama.cpp's `convert_hf_to_gguf.py
--outtype q8_0` lays out a `BertModel`:

- architecture `bert`: context length, embedding and feed-forward sizes, block and head
  counts, LayerNorm epsilon, non-causal attention, the pooling type;
- tensors by llama.cpp's names (`token_embd`, `position_embd`, `token_types`,
  `token_embd_norm`, `blk.N.attn_{q,k,v,output}`, `attn_output_norm`, `ffn_up`, `ffn_down`,
  `layer_output_norm`); matrices in Q8_0 (gguf's quantizer), except the position and
  token-type tables and every vector, which stay f32 as llama.cpp keeps them;
- the WordPiece vocabulary in llama.cpp's "phantom space" spelling (`tokenizer.ggml.model =
  bert`): a continuation loses its `##`, any other token that is not a control token gains a
  leading U+2581; token types (control for the special tokens), and the special token ids.

usage: convert_minilm_gguf.py MODEL_DIR OUT.gguf
"""

import json
import os
import struct
import sys

import numpy as np


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack_from("<Q", data, 0)
    header = json.loads(data[8 : 8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if name.endswith("position_ids"):
            continue  # a buffer of 0..n, not a weight
        if info["dtype"] != "F32":
            raise SystemExit(f"{name}: dtype {info['dtype']}, expected F32")
        a, b = info["data_offsets"]
        out[name] = np.frombuffer(data[8 + n + a : 8 + n + b], dtype="<f4").reshape(info["shape"])
    return out


def main():
    import gguf

    model_dir, out = sys.argv[1], sys.argv[2]
    cfg = json.load(open(os.path.join(model_dir, "config.json")))
    tok = json.load(open(os.path.join(model_dir, "tokenizer.json"), encoding="utf-8"))
    pooling = json.load(open(os.path.join(model_dir, "1_Pooling", "config.json")))
    w = read_safetensors(os.path.join(model_dir, "model.safetensors"))

    writer = gguf.GGUFWriter(out, "bert")
    writer.add_name("all-MiniLM-L6-v2")
    writer.add_context_length(cfg["max_position_embeddings"])
    writer.add_embedding_length(cfg["hidden_size"])
    writer.add_feed_forward_length(cfg["intermediate_size"])
    writer.add_block_count(cfg["num_hidden_layers"])
    writer.add_head_count(cfg["num_attention_heads"])
    writer.add_layer_norm_eps(cfg["layer_norm_eps"])
    writer.add_causal_attention(False)
    writer.add_pooling_type(
        gguf.PoolingType.MEAN if pooling["pooling_mode_mean_tokens"] else gguf.PoolingType.CLS
    )
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0)

    # Vocabulary: id order, special tokens as control tokens, phantom-space spelling.
    vocab = tok["model"]["vocab"]
    tokens = [None] * len(vocab)
    for piece, i in vocab.items():
        tokens[i] = piece
    special = {a["id"] for a in tok["added_tokens"] if a.get("special")}
    types = [
        gguf.TokenType.CONTROL if i in special else gguf.TokenType.NORMAL for i in range(len(tokens))
    ]

    def phantom(t, kind):
        if kind == gguf.TokenType.CONTROL:
            return t
        if t.startswith("##"):
            return t[2:]
        return "\u2581" + t

    writer.add_token_type_count(cfg.get("type_vocab_size", 1))
    writer.add_tokenizer_model("bert")
    writer.add_tokenizer_pre("default")
    writer.add_token_list([phantom(t, k) for t, k in zip(tokens, types)])
    writer.add_token_types(types)
    ids = {a["content"]: a["id"] for a in tok["added_tokens"]}
    # gguf's SpecialVocab records BERT's [CLS] as the BOS and [SEP] as the EOS token, added
    # around every text (the tokenizer's TemplateProcessing).
    writer.add_bos_token_id(ids["[CLS]"])
    writer.add_eos_token_id(ids["[SEP]"])
    writer.add_unk_token_id(ids["[UNK]"])
    writer.add_sep_token_id(ids["[SEP]"])
    writer.add_pad_token_id(ids["[PAD]"])
    writer.add_mask_token_id(ids["[MASK]"])
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(True)

    def q8(name):
        a = np.ascontiguousarray(w[name], dtype=np.float32)
        return gguf.quants.quantize(a, gguf.GGMLQuantizationType.Q8_0)

    Q8 = gguf.GGMLQuantizationType.Q8_0
    writer.add_tensor("token_embd.weight", q8("embeddings.word_embeddings.weight"), raw_dtype=Q8)
    writer.add_tensor("position_embd.weight", w["embeddings.position_embeddings.weight"])
    writer.add_tensor("token_types.weight", w["embeddings.token_type_embeddings.weight"])
    writer.add_tensor("token_embd_norm.weight", w["embeddings.LayerNorm.weight"])
    writer.add_tensor("token_embd_norm.bias", w["embeddings.LayerNorm.bias"])
    names = [
        ("attention.self.query", "attn_q"),
        ("attention.self.key", "attn_k"),
        ("attention.self.value", "attn_v"),
        ("attention.output.dense", "attn_output"),
        ("intermediate.dense", "ffn_up"),
        ("output.dense", "ffn_down"),
    ]
    norms = [("attention.output.LayerNorm", "attn_output_norm"), ("output.LayerNorm", "layer_output_norm")]
    for i in range(cfg["num_hidden_layers"]):
        hf = f"encoder.layer.{i}"
        for src, dst in names:
            writer.add_tensor(f"blk.{i}.{dst}.weight", q8(f"{hf}.{src}.weight"), raw_dtype=Q8)
            writer.add_tensor(f"blk.{i}.{dst}.bias", w[f"{hf}.{src}.bias"])
        for src, dst in norms:
            writer.add_tensor(f"blk.{i}.{dst}.weight", w[f"{hf}.{src}.weight"])
            writer.add_tensor(f"blk.{i}.{dst}.bias", w[f"{hf}.{src}.bias"])
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    print(f"wrote {out} ({os.path.getsize(out)} bytes)")


if __name__ == "__main__":
    main()
