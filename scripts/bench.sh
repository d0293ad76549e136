#!/usr/bin/env bash
# make bench: native and browser embedding throughput, package size, into BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .cache
out=.cache/bench.jsonl
: > "$out"
echo "== native (cargo bench --bench embed)"
cargo bench --bench embed 2>/dev/null | tee -a "$out"
echo "== browser (tests/e2e/bench.mjs, headless Chromium)"
rm -rf www/pkg && cp -r pkg www/pkg
node tests/e2e/bench.mjs "${BROWSER_BENCH_QUERY:-?chunks=16&rounds=1}" | tee -a "$out"
python3 scripts/bench_report.py "$out" > BENCHMARKS.md
echo "wrote BENCHMARKS.md"
