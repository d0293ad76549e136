#!/usr/bin/env bash
# make bench: native and browser embedding throughput, generator speed and memory (side by side
# with wllama in the browser), package size, into BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .cache
out=.cache/bench.jsonl
: > "$out"
echo "== native (cargo bench --bench embed)"
cargo bench --bench embed 2>/dev/null | tee -a "$out"
echo "== native index (cargo bench --bench index)"
cargo bench --bench index 2>/dev/null | tee -a "$out"
# Real embeddings (cached in .cache/bench after the first run, which embeds for ~15 minutes).
REAL="${BENCH_REAL:-100000}" cargo bench --bench index 2>/dev/null | tee -a "$out"
echo "== native generator (cargo bench --bench generate)"
# One process per model and engine: a load's resident memory growth is only visible in a
# process where no earlier load freed memory the allocator keeps.
for model in ${BENCH_GEN_MODELS:-smollm2-135m-q4_1 gemma3-270m-q4_k_m}; do
  for engine in cpu cpu-f32 wgpu wgpu-f32; do
    LOCALRAG_BENCH_MODELS=$model LOCALRAG_BENCH_BACKENDS=$engine cargo bench --bench generate 2>/dev/null | tee -a "$out"
  done
done
echo "== browser (tests/e2e/bench.mjs, headless Chromium)"
rm -rf www/pkg-testing && cp -r pkg-testing www/pkg-testing
# wllama (the generator's reference engine) and the test-only Gemma file, served from the same
# origin for this run only.
rm -rf www/wllama www/test-models/gemma3-270m && mkdir -p www/wllama www/test-models/gemma3-270m
cp -r tests/e2e/node_modules/@wllama/wllama/esm www/wllama/
ln -f .cache/test-models/gemma3-270m/gemma-3-270m-q4_k_m.gguf www/test-models/gemma3-270m/
rm -rf www/bench-data && mkdir -p www/bench-data && cp .cache/bench/*.snap .cache/bench/*.f32 www/bench-data/ 2>/dev/null || true
node tests/e2e/bench.mjs "${BROWSER_BENCH_QUERY:-?chunks=16&rounds=1&suites=index,ingest}" | tee -a "$out"
# The embedders: a page per model (its first load's wasm memory growth counts).
for model in ${BENCH_EMBED_MODELS:-minilm minilm-q8_0 e5-q4_0}; do
  node tests/e2e/bench.mjs "?chunks=16&rounds=1&suites=embed&embedModels=$model" | tee -a "$out"
done
# The generator: a page per model and device, as the wasm memory never shrinks and only a page's
# first load shows what a load needs. CPU: ours, the f32 reference and wllama, interleaved.
# WebGPU: a shorter prompt and fewer tokens, as WebGPU is SwiftShader here (a CPU emulation).
for model in ${BENCH_GEN_MODELS:-smollm2-135m-q4_1 gemma3-270m-q4_k_m}; do
  node tests/e2e/bench.mjs "?suites=generate&genModels=$model&genBackends=cpu,cpu-f32,wllama&genRounds=2" | tee -a "$out"
  node tests/e2e/bench.mjs "?suites=generate&genModels=$model&genBackends=webgpu,webgpu-f32&genRounds=1&promptTokens=64&decode=8" | tee -a "$out"
done
# The embedder side by side with transformers.js (make bench-tjs), same page, same thread count.
rm -rf www/tjs && mkdir -p www/tjs
cp tests/bench-tjs/node_modules/@huggingface/transformers/dist/transformers.min.js www/tjs/
cp tests/bench-tjs/node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded*.{mjs,wasm} www/tjs/
# The relaxed-SIMD build of the module (feature relaxed-simd: 8-bit integer products) beside it.
cargo build --lib --profile wasm --target wasm32-unknown-unknown --features testing,relaxed-simd 2>/dev/null
rm -rf www/pkg-relaxed && wasm-bindgen --target web --out-dir www/pkg-relaxed --out-name localrag \
  "${CARGO_TARGET_DIR:-target}/wasm32-unknown-unknown/wasm/localrag.wasm"
node tests/e2e/bench.mjs "?suites=compare&chunks=16&rounds=${BENCH_COMPARE_ROUNDS:-3}&compareEngines=localrag-q8_0,localrag-relaxed-q8_0,tjs-q8,localrag-f32,tjs-fp32" | tee -a "$out"
# Threads (make pkg: the threaded modules): on a cross-origin isolated page, the threaded module
# against the single-threaded one (embedding, HNSW build, generator, a 1 000-chunk ingest), and
# the embedder against transformers.js with two threads each.
rm -rf www/pkg && cp -r pkg www/pkg
node tests/e2e/bench.mjs "?isolated=1&suites=threads&chunks=32&rounds=${BENCH_THREADS_ROUNDS:-2}" | tee -a "$out"
node tests/e2e/bench.mjs "?isolated=1&suites=compare&threads=2&chunks=16&rounds=${BENCH_COMPARE_ROUNDS:-3}&kernelRows=&compareEngines=localrag-threads-relaxed-q8_0,localrag-threads-q8_0,tjs-q8" | tee -a "$out"
echo "== files: a 300-page PDF to searchable (tests/e2e/bench-loaders.mjs)"
rm -rf www/pkg && cp -r pkg www/pkg && rm -rf www/pkg/loaders && node scripts/bundle-loaders.mjs pkg www/pkg
node tests/e2e/bench-loaders.mjs | tee .cache/bench-loaders.md
echo "== retrieval quality (scripts/eval-report.sh)"
cargo build --release --bin localrag 2>/dev/null
scripts/eval-report.sh | tee .cache/bench-retrieval.md
echo "== section context (scripts/context-report.sh)"
scripts/context-report.sh | tee .cache/bench-context.md
echo "== attribution (scripts/attribution-threshold.py)"
for m in all-MiniLM-L6-v2 all-MiniLM-L6-v2-Q8_0.gguf multilingual-e5-small; do
  target/release/localrag attribution --model-dir "www/models/$m" --corpus tests/fixtures/eval/corpus.jsonl \
    < tests/fixtures/attribution/cases.jsonl > ".cache/attr-$m.jsonl" 2>/dev/null
done
python3 scripts/attribution-threshold.py MiniLM=.cache/attr-all-MiniLM-L6-v2.jsonl \
  MiniLM-Q8_0=.cache/attr-all-MiniLM-L6-v2-Q8_0.gguf.jsonl e5=.cache/attr-multilingual-e5-small.jsonl \
  | tee .cache/bench-attribution.md
# Sections this run did not measure (fuzzing, crashes, the long session, a partial run) keep their text.
python3 scripts/bench_report.py "$out" BENCHMARKS.md > .cache/BENCHMARKS.md.new
mv .cache/BENCHMARKS.md.new BENCHMARKS.md
echo "wrote BENCHMARKS.md"
