// Browser half of `make bench`: embedding throughput per backend and batch size. Results go
// to window.benchResults (read by tests/e2e/bench.mjs) and onto the page.
// The package built with the feature `testing` (`make pkg-testing`): it has the bench exports.
import init, { Embedder, Generator, KnowledgeBase, __benchIndex, __benchMatmul, __storedBytes, __wasmMemoryBytes } from './pkg-testing/localrag.js';
import { embedderFiles } from './pkg-testing/models.js';

const params = new URLSearchParams(location.search);
const backends = (params.get('backends') ?? 'webgpu,cpu-flex').split(',');
const suites = (params.get('suites') ?? 'embed,index,ingest,generate').split(',');
const CHUNKS = Number(params.get('chunks') ?? 32);
const ROUNDS = Number(params.get('rounds') ?? 2);
const TOKENS = 128;
// The embedders: all-MiniLM-L6-v2 as f32 safetensors (Burn's tensor operations, the reference)
// and as a Q8_0 GGUF file, multilingual-e5-small as Q4_0 GGUF (the quantized kernels). One page
// per model gives a first load whose wasm memory growth counts (the memory never shrinks).
const EMBED_MODELS = {
  minilm: './models/all-MiniLM-L6-v2/',
  'minilm-q8_0': './models/all-MiniLM-L6-v2-Q8_0.gguf',
  'e5-q4_0': './models/multilingual-e5-small/',
};
const embedModels = (params.get('embedModels') ?? 'minilm').split(',');
const out = document.getElementById('out');
const results = [];

// Far longer than 128 word pieces; truncation makes every chunk exactly 128 tokens.
const texts = Array.from({ length: CHUNKS }, (_, i) =>
  Array.from({ length: 200 }, (_, w) => `word${(w * 7 + i) % 50} topic${i} `).join(''));

function push(row) {
  results.push(row);
  out.textContent += JSON.stringify(row) + '\n';
  console.log('bench-row ' + JSON.stringify(row));
}

await init();
// The model's files as bytes, fetched as `LocalRag.open` fetches them (a single GGUF file, or a
// folder with model.gguf, else model.safetensors), without the model cache.
const fetchFiles = (path) => embedderFiles(new URL(path, location.href).href,
  { cache: false, allowCrossOrigin: false, progress: () => {}, signal: null, hash: null });
for (const model of suites.includes('embed') ? embedModels : []) {
  const FILES = await fetchFiles(EMBED_MODELS[model]);
  let first = true;
  for (const name of backends) {
    const [backend, cpuBackend] = name.startsWith('cpu-') ? ['cpu', name.slice(4)] : [name, undefined];
    for (const batch of [1, 8, 32]) {
      const t0 = performance.now();
      const memBefore = __wasmMemoryBytes();
      const embedder = await Embedder.load({ ...FILES, backend, cpuBackend, batchSize: batch, maxSeqLength: TOKENS });
      const loadGrowth = __wasmMemoryBytes() - memBefore;
      const loadMs = performance.now() - t0;
      if (!embedder.tokenize(texts).every((ids) => ids.length === TOKENS)) throw new Error('chunks are not 128 tokens');
      await embedder.embed(texts); // warm-up: pipelines compile, buffers allocate
      let best = Infinity;
      for (let r = 0; r < ROUNDS; r++) {
        const t = performance.now();
        await embedder.embed(texts);
        best = Math.min(best, (performance.now() - t) / 1000);
      }
      const row = { where: 'browser', model, backend: name, batch, tokens: TOKENS, chunks: CHUNKS, seconds: +best.toFixed(4),
        chunks_per_s: +(CHUNKS / best).toFixed(2), load_ms: Math.round(loadMs), actual: embedder.backend,
        file_bytes: FILES.model.length, tokenizer_bytes: FILES.tokenizer?.length ?? 0,
        wasm_memory_growth_load: loadGrowth, first_load: first };
      first = false;
      push(row);
      embedder.free();
    }
  }
}

// The embedder side by side with transformers.js (onnxruntime-web's wasm backend, on the page's
// thread as ours): all-MiniLM-L6-v2 as its default q8 ONNX file and as fp32, against ours as
// Q8_0 GGUF and f32 safetensors. Engines interleave per batch size, so load on the machine
// falls on all of them alike. Also how far each engine's vectors are from the f32 model (our
// f32 path, which matches the numpy reference to 1e-6): transformers.js's q8 quantizes
// activations to 8 bits per tensor, ours to 16 bits per 32 values.
if (suites.includes('compare')) {
  // The quantized product alone, at the embedder's shapes (128 rows: one chunk).
  // 4 rows: mostly the per-call work (packing the weights, quantizing the activations). The
  // warm-up is long enough for V8 to tier the kernels up.
  const modules = [['plain', __benchMatmul]];
  if ((params.get('compareEngines') ?? '').includes('relaxed')) {
    const mod = await import('./pkg-relaxed/localrag.js');
    await mod.default();
    modules.push(['relaxed', mod.__benchMatmul]);
  }
  for (const [module, bench] of modules) {
    bench(1536, 384, 128, 40);
    for (const m of (params.get("kernelRows") ?? "128,4").split(",").filter(Boolean).map(Number)) {
      for (const [rows, cols] of [[384, 384], [1536, 384], [384, 1536]]) {
        bench(rows, cols, m, 2);
        const ms = bench(rows, cols, m, 10) / 10;
        push({ bench: 'kernel', where: 'browser', module, kind: 'q8_0', rows, cols, m, ms: +ms.toFixed(3),
          gmac_per_s: +(rows * cols * m / ms / 1e6).toFixed(2) });
      }
    }
  }
  const THREADS = Number(params.get('threads') ?? 1);
  const engines = (params.get('compareEngines') ?? 'localrag-q8_0,tjs-q8,localrag-f32,tjs-fp32').split(',');
  const sentences = ['The cat sits on the mat.', 'A quick brown fox jumps over the lazy dog.',
    'How do I reset my password?', 'Quarterly revenue grew by 12 percent, driven by cloud services.',
    'The Golden Gate Bridge opened to traffic in 1937.', 'Photosynthesis converts light energy into chemical energy.',
    'Please return the signed contract by Friday.', 'Der Hund spielt im Garten.', 'naïve café résumé — 3.5% of ¥1,000!',
    'Install the package with npm, then import it from your page.'];
  const loaded = {};
  async function load(engine) {
    if (engine.startsWith('localrag-')) {
      const files = await fetchFiles(engine === 'localrag-f32' ? EMBED_MODELS.minilm : EMBED_MODELS['minilm-q8_0']);
      // `localrag-relaxed-*`: the relaxed-SIMD module (its own glue and instance), when served;
      // `localrag-threads-*`: the package's threaded module (pkg/threads/, `relaxed` too) with a
      // pool of `threads` Workers, on a cross-origin isolated page.
      let E = Embedder;
      if (engine.includes('threads')) {
        const relaxed = engine.includes('relaxed');
        const mod = relaxed ? await import('./pkg/threads/relaxed/localrag.js') : await import('./pkg/threads/localrag.js');
        await mod.default();
        const { startPool } = await import('./pkg/threads.js');
        await startPool(mod, THREADS, relaxed);
        E = mod.Embedder;
      } else if (engine.includes('relaxed')) {
        const mod = await import('./pkg-relaxed/localrag.js');
        await mod.default();
        E = mod.Embedder;
      }
      return (batch) => {
        const e = E.load({ ...files, backend: 'cpu', cpuBackend: 'flex', batchSize: batch, maxSeqLength: TOKENS });
        return async (t) => (await e).embed(t);
      };
    }
    const tjs = await import('./tjs/transformers.min.js');
    tjs.env.allowRemoteModels = false;
    tjs.env.allowLocalModels = true;
    tjs.env.localModelPath = new URL('./models/tjs/', location.href).pathname;
    tjs.env.useBrowserCache = false;
    tjs.env.backends.onnx.wasm.wasmPaths = new URL('./tjs/', location.href).href;
    tjs.env.backends.onnx.wasm.numThreads = THREADS;
    tjs.env.backends.onnx.wasm.proxy = false;
    const tokenizer = await tjs.AutoTokenizer.from_pretrained('all-MiniLM-L6-v2');
    const model = await tjs.AutoModel.from_pretrained('all-MiniLM-L6-v2', { dtype: engine.slice(4), device: 'wasm' });
    return (batch) => async (t) => {
      const rows = [];
      for (let i = 0; i < t.length; i += batch) {
        const inputs = tokenizer(t.slice(i, i + batch), { padding: true, truncation: true, max_length: TOKENS });
        const { last_hidden_state } = await model(inputs);
        rows.push(...tjs.mean_pooling(last_hidden_state, inputs.attention_mask).normalize(2, -1).tolist());
      }
      return rows;
    };
  }
  for (const engine of engines) loaded[engine] = await load(engine);
  const flat = (v) => (Array.isArray(v) ? v.map((r) => Array.from(r)) : Array.from({ length: v.length / 384 }, (_, i) => Array.from(v.slice(i * 384, (i + 1) * 384))));
  const ref = flat(await (loaded['localrag-f32'] ?? await load('localrag-f32'))(8)(sentences));
  for (const engine of engines) {
    const got = flat(await loaded[engine](8)(sentences));
    const cos = got.map((v, i) => v.reduce((s, x, k) => s + x * ref[i][k], 0) /
      Math.sqrt(v.reduce((s, x) => s + x * x, 0) * ref[i].reduce((s, x) => s + x * x, 0)));
    push({ bench: 'compare-parity', where: 'browser', engine, texts: sentences.length,
      worst_cosine_to_f32: +Math.min(...cos).toFixed(5), mean_cosine_to_f32: +(cos.reduce((a, b) => a + b) / cos.length).toFixed(5) });
  }
  for (const batch of [1, 8, 32]) {
    const runs = engines.map((engine) => loaded[engine](batch));
    // Warm-up (V8 tiers wasm up from its baseline compiler in the background), then rounds that
    // take every engine in turn, so that a slow moment of the machine hits all of them.
    for (const run of runs) await run(texts);
    const best = engines.map(() => Infinity);
    for (let r = 0; r < ROUNDS; r++) {
      for (const [i, run] of runs.entries()) {
        const t = performance.now();
        await run(texts);
        best[i] = Math.min(best[i], (performance.now() - t) / 1000);
      }
    }
    for (const [i, engine] of engines.entries()) {
      push({ bench: 'compare', where: 'browser', engine, batch, threads: THREADS, tokens: TOKENS, chunks: CHUNKS,
        rounds: ROUNDS, seconds: +best[i].toFixed(4), chunks_per_s: +(CHUNKS / best[i]).toFixed(2) });
    }
  }
}

if (suites.includes('index')) {
  // Base segments built natively by `cargo bench --bench index` (same vectors, same seeds).
  for (const n of (params.get('sizes') ?? '10000,100000').split(',').filter(Boolean).map(Number)) {
    const r = await fetch(`./bench-data/index-${n}.snap`);
    if (!r.ok) throw new Error(`bench-data/index-${n}.snap missing: run cargo bench --bench index first`);
    push(JSON.parse(__benchIndex(n, new Uint8Array(await r.arrayBuffer()), 500, undefined)));
  }
  // Real embeddings (benches/index.rs with REAL=n), when present.
  for (const n of (params.get('real') ?? '100000').split(',').filter(Boolean).map(Number)) {
    const [s, v] = await Promise.all([fetch(`./bench-data/index-real-${n}.snap`), fetch(`./bench-data/real-${n}.f32`)]);
    if (!s.ok || !v.ok) continue;
    const snap = new Uint8Array(await s.arrayBuffer());
    push(JSON.parse(__benchIndex(n, snap, 500, new Float32Array(await v.arrayBuffer()))));
  }
  // And one base built here, to measure the build in the browser.
  push(JSON.parse(__benchIndex(10000, undefined, 200, undefined)));
}

if (suites.includes('ingest')) {
  // End to end: chunk + embed (CPU) + index + persist, then bytes stored per chunk.
  const DOCS = Number(params.get('docs') ?? 8);
  const words = ['river', 'mountain', 'engine', 'protocol', 'harvest', 'painting', 'theorem', 'market', 'glacier', 'violin'];
  const docs = Array.from({ length: DOCS }, (_, d) => ({
    id: `doc${d}`, title: `Document ${d}`,
    text: Array.from({ length: 60 }, (_, s) =>
      `Sentence ${s} of document ${d} is about the ${words[(d + s) % 10]} and the ${words[(d * 3 + s) % 10]}.`).join(' '),
  }));
  const embedder = await Embedder.load({ ...FILES, backend: 'cpu' });
  await KnowledgeBase.destroyByName('bench-ingest');
  const kb = await KnowledgeBase.open('bench-ingest', embedder, { persist: false });
  const t = performance.now();
  const report = await kb.add(docs);
  const seconds = (performance.now() - t) / 1000;
  const stats = await kb.stats();
  await kb.close();
  const bytes = JSON.parse(await __storedBytes('bench-ingest'));
  push({ bench: 'ingest', where: 'browser', backend: 'cpu-flex', docs: DOCS, chunks: report.chunks, seconds: +seconds.toFixed(2),
    chunks_per_s: +(report.chunks / seconds).toFixed(2), bytes_per_chunk: Math.round((bytes.docs + bytes.chunks) / bytes.chunk_count),
    chunk_record_bytes: Math.round(bytes.chunks / bytes.chunk_count), doc_bytes: bytes.docs, meta_bytes: bytes.meta, dim: stats.dim });
  await KnowledgeBase.destroyByName('bench-ingest');
}
if (suites.includes('generate')) {
  // The generator side by side with wllama (llama.cpp in wasm, single-threaded, CPU) on the same
  // GGUF files and the same prompt of about 512 tokens, 64 greedy tokens (end of text ignored),
  // runs interleaved. Memory: wasm memory growth during `Generator.load` (ours) and the renderer
  // process's RSS growth from before the load to after the generation (both engines; read by
  // tests/e2e/bench.mjs through window.rendererRss).
  const decode = Number(params.get('decode') ?? 64);
  const promptTokens = Number(params.get('promptTokens') ?? 512); // shorter for software WebGPU
  const rounds = Number(params.get('genRounds') ?? 2);
  const models = [
    ['smollm2-135m-q4_1', './models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf'],
    ['gemma3-270m-q4_k_m', './test-models/gemma3-270m/gemma-3-270m-q4_k_m.gguf'],
  ].filter(([name]) => (params.get('genModels') ?? 'smollm2-135m-q4_1,gemma3-270m-q4_k_m').split(',').includes(name));
  const engines = (params.get('genBackends') ?? 'cpu,cpu-f32,wllama').split(',');
  const rss = async () => (window.rendererRss ? await window.rendererRss() : NaN);
  let Wllama = null;
  if (engines.includes('wllama')) ({ Wllama } = await import('./wllama/esm/index.js'));
  for (const [name, path] of models) {
    const url = new URL(path, location.href).href;
    const bytes = new Uint8Array(await (await fetch(url)).arrayBuffer());
    // The longest text of repeated sentences that is at most promptTokens for our tokenizer. This
    // first load is also the one whose wasm memory growth counts: the memory never shrinks,
    // so later loads reuse what it grew.
    // The first of `cpu`/`webgpu` in genBackends makes this load (run the page once per order
    // to measure both).
    const firstEngine = engines.find((e) => e === 'cpu' || e === 'webgpu') ?? 'cpu';
    const firstBefore = __wasmMemoryBytes();
    const probe = await Generator.load({ model: bytes, backend: firstEngine });
    const firstLoadGrowth = __wasmMemoryBytes() - firstBefore;
    const sentence = (i) => `Sentence ${i} describes the river, the mountain and the market in some detail. `;
    let n = 1;
    while (probe.tokenize(Array.from({ length: n + 1 }, (_, i) => sentence(i)).join(''), true).length <= promptTokens) n++;
    const text = Array.from({ length: n }, (_, i) => sentence(i)).join('');
    probe.free();
    for (let round = 0; round < rounds; round++) {
      for (const engine of engines) {
        const rssBefore = await rss();
        if (engine === 'wllama') {
          const w = new Wllama({ default: new URL('./wllama/esm/wasm/wllama.wasm', location.href).href });
          const t0 = performance.now();
          await w.loadModel([new Blob([bytes])], { n_threads: 1, n_gpu_layers: 0, n_ctx: 1024, n_batch: 512, warmup: false });
          const loadMs = performance.now() - t0;
          // Warm-up on another prompt: llama.cpp reuses a cached prompt prefix.
          await w.createCompletion({ prompt: 'Warm up.', max_tokens: 2, temp: 0, ignore_eos: true });
          const started = performance.now();
          const r = await w.createCompletion({ prompt: text, max_tokens: decode + 1, temp: 0, top_k: 1, ignore_eos: true });
          const wall = performance.now() - started;
          const t = r.timings ?? { prompt_n: NaN, prompt_ms: NaN, predicted_n: NaN, predicted_ms: NaN };
          push({ bench: 'generate', where: 'browser', engine: 'wllama', model: name, round, file_bytes: bytes.length,
            prompt_tokens: t.prompt_n, decode_tokens: t.predicted_n, load_ms: Math.round(loadMs),
            prefill_tok_s: +(t.prompt_n / (t.prompt_ms / 1000)).toFixed(1), decode_tok_s: +(t.predicted_n / (t.predicted_ms / 1000)).toFixed(2),
            wall_ms: Math.round(wall), rss_growth: (await rss()) - rssBefore });
          await w.exit();
          continue;
        }
        try {
          const memBefore = __wasmMemoryBytes();
          // `cpu-f32`/`webgpu-f32`: the generator as it ran before it kept the blocks (every weight
          // dequantized to f32 on load, Burn's tensor operations) on the same device, measured in
          // the same run as the reference.
          const g = engine.endsWith('-f32')
            ? await Generator.__loadF32({ model: bytes, backend: engine.slice(0, -4) })
            : await Generator.load({ model: bytes, backend: engine });
          const loadGrowth = __wasmMemoryBytes() - memBefore;
          const ids = g.tokenize(text, true);
          await g.generate(ids, { maxTokens: 2, ignoreEos: true }); // warm-up: kernels compile
          const r = await g.generate(ids, { maxTokens: decode + 1, ignoreEos: true });
          const decoded = r.usage.completionTokens - 1;
          push({ bench: 'generate', where: 'browser', engine: 'localrag', backend: engine, actual: g.backend, model: name, round,
            file_bytes: bytes.length, prompt_tokens: ids.length, decode_tokens: decoded, load_ms: Math.round(g.loadMs),
            prefill_tok_s: +(ids.length / (r.timings.prefillMs / 1000)).toFixed(1),
            decode_tok_s: +(decoded / (r.timings.decodeMs / 1000)).toFixed(2), weight_bytes: g.weightBytes,
            wasm_memory_growth_load: engine === firstEngine ? firstLoadGrowth : loadGrowth,
            first_load: engine === firstEngine,
            wasm_memory_growth: __wasmMemoryBytes() - memBefore,
            rss_growth: (await rss()) - rssBefore });
          g.free();
        } catch (e) {
          // One engine failing (e.g. a software GPU) does not end the page: the row says why.
          push({ bench: 'generate', where: 'browser', engine: 'localrag', backend: engine, model: name, round,
            error: `${e.code ?? ''} ${e.message ?? e}`.trim() });
        }
      }
    }
  }
}
if (suites.includes('threads')) {
  // The threaded module against the single-threaded one (www/bench-threads.js): in a dedicated
  // Worker by default (`threadsIn=worker`), where the calling thread sleeps while the pool works,
  // or on the page's thread (`threadsIn=page`), which spins meanwhile (a page may not block).
  const { runThreads } = await import('./bench-threads.js');
  if ((params.get('threadsIn') ?? 'worker') === 'page') {
    await runThreads(params, (row) => push({ ...row, calling_thread: 'page' }));
  } else {
    const worker = new Worker(new URL('./bench-threads.js', import.meta.url), { type: 'module' });
    await new Promise((resolve, reject) => {
      worker.onmessage = ({ data }) => {
        if (data.row) push({ ...data.row, calling_thread: 'worker' });
        if (data.done) resolve();
        if (data.error) reject(new Error(data.error));
      };
      worker.onerror = (e) => reject(new Error(e.message));
      worker.postMessage({ query: location.search });
    });
    worker.terminate();
  }
}
window.benchResults = results;
document.body.dataset.state = 'done';
