#!/usr/bin/env bash
# Measures a cold `make test`: a fresh clone of HEAD and an empty Cargo target directory (the
# tools installed system-wide — apt packages, wasm-bindgen-cli — are kept). Writes the result
# to .cache/cold-make-test.txt, which `make bench` puts into BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .cache
work=$(mktemp -d)
rev=$(git rev-parse --short HEAD)
# The clone's own logs (the native build's, each browser group's TAP output with every test's
# duration) are kept beside the result, in .cache/cold-logs-<rev>/, before the clone goes.
keep() { mkdir -p ".cache/cold-logs-$rev"; cp "$work"/clone/.cache/*.log ".cache/cold-logs-$rev/" 2>/dev/null || true; }
trap 'keep; rm -rf "$work"' EXIT
# COLD_TARGET_DIR=/var/cache/localrag/target (empty) measures and leaves CI's cache warm.
target=${COLD_TARGET_DIR:-$work/target}
if [ -n "$(ls -A "$target" 2>/dev/null)" ]; then echo "$target is not empty: not a cold run"; exit 1; fi
# This kind of machine's speed moves 1.4-2.4x: a fixed single-thread workload is timed before and
# after the run (it did not predict the builds' speed on 2026-12-07: 1.35-1.51 s both for a 61-min
# and a 44-min run), and the machine's cores and CPU model, as .ci/run prints them, are reported.
calibrate() { python3 -c 'import time; t=time.perf_counter(); sum(i * i for i in range(20_000_000)); print(f"{time.perf_counter() - t:.2f}")'; }
before=$(calibrate)
git clone -q . "$work/clone"
# lavapipe (the native wgpu tests) keeps the shaders it compiled in ~/.cache/mesa_shader_cache:
# a cold run starts without them, as a fresh machine does.
export MESA_SHADER_CACHE_DIR="$work/mesa-shader-cache"
start=$(date +%s)
# Every line of the log gets the minutes:seconds since the start, so the phases can be read off.
(cd "$work/clone" && CARGO_TARGET_DIR="$target" bash .ci/run 2>&1 \
  | while IFS= read -r line; do e=$(( $(date +%s) - start )); printf '[%02d:%02d] %s\n' $((e / 60)) $((e % 60)) "$line"; done;
 exit "${PIPESTATUS[0]}") > .cache/cold-make-test.log 2>&1 || {
  tail -50 .cache/cold-make-test.log; echo "cold make test failed"; exit 1; }
secs=$(( $(date +%s) - start ))
after=$(calibrate)
machine=$(sed -n 's/^\[[0-9:]*\] \([0-9]* cores: .*\)$/\1/p' .cache/cold-make-test.log | head -n 1)
echo "A fresh clone of $rev with an empty CARGO_TARGET_DIR: \`.ci/run\` (\`make test\`) took $((secs / 60)) min $((secs % 60)) s on ${machine:-$(nproc) cores} ($(date -u +%Y-%m-%d), measured by \`scripts/cold-test.sh\`; the reference workload took $before s before and $after s after)." > .cache/cold-make-test.txt
cat .cache/cold-make-test.txt
