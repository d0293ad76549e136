#!/usr/bin/env python3
"""Turns the JSON lines of scripts/bench.sh into BENCHMARKS.md (stdout)."""
import datetime
import gzip
import json
import os
import platform
import subprocess
import sys

rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip().startswith("{")]
runs = [r for r in rows if "chunks_per_s" in r]
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
print("all-MiniLM-L6-v2, chunks of exactly 128 tokens; a round embeds `chunks` chunks; the figure is the best "
      "round after one warm-up round (native: 3 rounds of 32; browser: `?chunks=16&rounds=1` by default, "
      "because WebGPU on SwiftShader is slow). Ratio: against native CPU (flex) at the same batch size, "
      "measured in the same run.\n")
print("| where | backend | batch | chunks | chunks/s | ratio vs native cpu-flex |")
print("|---|---|---:|---:|---:|---:|")
for r in runs:
    base = ref.get(r["batch"])
    ratio = f"{r['chunks_per_s'] / base:.2f}" if base else "–"
    print(f"| {r['where']} | {r['backend']} | {r['batch']} | {r['chunks']} | {r['chunks_per_s']:.2f} | {ratio} |")

print("\n## Package size\n")
wasm = "pkg/localrag_bg.wasm"
if os.path.exists(wasm):
    raw = os.path.getsize(wasm)
    gz = len(gzip.compress(open(wasm, "rb").read(), 9))
    opt = "after `wasm-opt -Oz`" if os.environ.get("WASM_OPT") == "1" else "wasm-bindgen output, profile `wasm`"
    print(f"`{wasm}` ({opt}): {raw / 1e6:.2f} MB raw, {gz / 1e6:.2f} MB gzipped (gzip -9).")
    js = sum(os.path.getsize(os.path.join("pkg", f)) for f in os.listdir("pkg") if f.endswith(".js"))
    print(f"JS glue: {js / 1e3:.1f} kB.")

print("\n## Cold `make test`\n")
cold = ".cache/cold-make-test.txt"
if os.path.exists(cold):
    print(open(cold).read().strip())
else:
    print("Not measured in this run: `scripts/cold-test.sh` measures it (empty build cache, fresh clone).")
