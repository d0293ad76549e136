// The threads suite of `make bench` (www/bench.js runs it in a Worker, or on the page with
// `threadsIn=page`): the threaded module (pkg-testing/threads: atomics, a pool of Web Workers)
// against the single-threaded one, side by side. The page must be cross-origin isolated
// (tests/e2e/bench.mjs serves it with COOP/COEP for `isolated=1`). Each pool size is its own
// instance of the threaded module (the same file imported under another query string), so every
// engine is loaded once and the rounds interleave them: a slow moment of the machine hits all of
// them alike. Embedding (MiniLM Q8_0, 128-token chunks), the HNSW build, the generator's prefill
// and decode (SmolLM2 Q4_1), and an ingest of `ingestChunks` chunks end to end with its time
// split by stage.
import { embedderFiles } from './pkg-testing/models.js';

const TOKENS = 128;

export async function runThreads(params, push) {
  const CHUNKS = Number(params.get('chunks') ?? 32);
  const ROUNDS = Number(params.get('rounds') ?? 2);
  const texts = Array.from({ length: CHUNKS }, (_, i) =>
    Array.from({ length: 200 }, (_, w) => `word${(w * 7 + i) % 50} topic${i} `).join(''));
  const fetchFiles = (path) => embedderFiles(new URL(path, import.meta.url).href,
    { cache: false, allowCrossOrigin: false, progress: () => {}, signal: null, hash: null });
  const EMBED_MODELS = { 'minilm-q8_0': './models/all-MiniLM-L6-v2-Q8_0.gguf' };
  if (!globalThis.crossOriginIsolated) throw new Error('the threads suite needs a cross-origin isolated page (isolated=1)');
  const { startPool } = await import('./pkg-testing/threads.js');
  const single = await import('./pkg-testing/localrag.js');
  await single.default();
  const modules = [{ name: 'single', threads: 1, mod: single }];
  for (const n of (params.get('threadCounts') ?? '1,2').split(',').map(Number)) {
    const mod = await import(`./pkg-testing/threads/localrag.js?pool=${n}`);
    await mod.default();
    await startPool(mod, n, false);
    modules.push({ name: 'threads', threads: n, mod });
  }
  const row = (m, extra) => push({ bench: 'threads', where: 'browser', module: m.name, threads: m.threads, ...extra });
  const tasks = (params.get('threadTasks') ?? 'embed,index,generate,ingest').split(',');
  // Best of ROUNDS interleaved rounds of `run(m)` (seconds) for every module, after a warm-up.
  async function interleaved(run) {
    for (const m of modules) await run(m);
    const best = modules.map(() => Infinity);
    for (let r = 0; r < ROUNDS; r++) {
      for (const [i, m] of modules.entries()) best[i] = Math.min(best[i], await run(m));
    }
    return best;
  }
  if (tasks.includes('embed')) {
    const files = await fetchFiles(EMBED_MODELS['minilm-q8_0']);
    for (const batch of [1, 8, 32]) {
      const embedders = await Promise.all(modules.map((m) =>
        m.mod.Embedder.load({ ...files, backend: 'cpu', batchSize: batch, maxSeqLength: TOKENS })));
      const best = await interleaved(async (m) => {
        const t = performance.now();
        await embedders[modules.indexOf(m)].embed(texts);
        return (performance.now() - t) / 1000;
      });
      for (const [i, m] of modules.entries()) {
        row(m, { task: 'embed', model: 'minilm-q8_0', batch, chunks: CHUNKS, tokens: TOKENS, seconds: +best[i].toFixed(4),
          chunks_per_s: +(CHUNKS / best[i]).toFixed(2) });
        embedders[i].free();
      }
    }
  }
  if (tasks.includes('index')) {
    // Above the exact-search threshold (4096), so that a graph is built; one build per module
    // (each takes a minute or more, so no warm-up is needed).
    const n = Number(params.get('indexN') ?? 5000);
    const best = [];
    for (const m of modules) best.push(JSON.parse(m.mod.__benchIndex(n, undefined, 50, undefined)).open_ms / 1000);
    for (const [i, m] of modules.entries()) row(m, { task: 'hnsw-build', n, dim: 384, seconds: +best[i].toFixed(3), vectors_per_s: Math.round(n / best[i]) });
  }
  if (tasks.includes('generate')) {
    const bytes = new Uint8Array(await (await fetch(new URL('./models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf', import.meta.url))).arrayBuffer());
    const gens = await Promise.all(modules.map((m) => m.mod.Generator.load({ model: bytes, backend: 'cpu' })));
    const sentence = (i) => `Sentence ${i} describes the river, the mountain and the market in some detail. `;
    const promptTokens = Number(params.get('promptTokens') ?? 256);
    let k = 1;
    while (gens[0].tokenize(Array.from({ length: k + 1 }, (_, i) => sentence(i)).join(''), true).length <= promptTokens) k++;
    const ids = gens[0].tokenize(Array.from({ length: k }, (_, i) => sentence(i)).join(''), true);
    const decode = Number(params.get('decode') ?? 32);
    const prefill = modules.map(() => Infinity);
    const dec = modules.map(() => Infinity);
    await interleaved(async (m) => {
      const i = modules.indexOf(m);
      const r = await gens[i].generate(ids, { maxTokens: decode + 1, ignoreEos: true });
      prefill[i] = Math.min(prefill[i], r.timings.prefillMs / 1000);
      dec[i] = Math.min(dec[i], r.timings.decodeMs / 1000 / (r.usage.completionTokens - 1));
      return 0;
    });
    for (const [i, m] of modules.entries()) {
      row(m, { task: 'generate', model: 'smollm2-135m-q4_1', prompt_tokens: ids.length, decode_tokens: decode,
        prefill_tok_s: +(ids.length / prefill[i]).toFixed(1), decode_tok_s: +(1 / dec[i]).toFixed(2) });
      gens[i].free();
    }
  }
  if (tasks.includes('ingest')) {
    // End to end through the knowledge base: chunk + embed + index + IndexedDB, once per module
    // (no rounds: each writes its own database). The stages' times are read off the progress
    // events: a stage lasts from its first event to the next stage's first event.
    const files = await fetchFiles(EMBED_MODELS['minilm-q8_0']);
    const target = Number(params.get('ingestChunks') ?? 1000);
    const words = ['river', 'mountain', 'engine', 'protocol', 'harvest', 'painting', 'theorem', 'market', 'glacier', 'violin'];
    // About 180 tokens of sentences per document: one chunk each at the default chunkTokens.
    const docs = Array.from({ length: target }, (_, d) => ({
      id: `doc${d}`,
      text: Array.from({ length: 9 }, (_, s) =>
        `Sentence ${s} of document ${d} is about the ${words[(d + s) % 10]} and the ${words[(d * 3 + s) % 10]}.`).join(' '),
    }));
    for (const m of modules) {
      const embedder = await m.mod.Embedder.load({ ...files, backend: 'cpu' });
      const name = `bench-ingest-${m.name}-${m.threads}`;
      await m.mod.KnowledgeBase.destroyByName(name);
      const kb = await m.mod.KnowledgeBase.open(name, embedder, { persist: false, exactBelow: 0 });
      const firsts = {};
      const t0 = performance.now();
      const report = await kb.add(docs, { onProgress: (p) => { firsts[p.stage] ??= performance.now() - t0; } });
      const total = (performance.now() - t0) / 1000;
      await kb.close();
      await m.mod.KnowledgeBase.destroyByName(name);
      const order = Object.entries(firsts).sort((a, b) => a[1] - b[1]);
      const split = Object.fromEntries(order.map(([stage, at], j) =>
        [`${stage}_s`, +(((order[j + 1]?.[1] ?? total * 1000) - at) / 1000).toFixed(2)]));
      row(m, { task: 'ingest', docs: docs.length, chunks: report.chunks, seconds: +total.toFixed(2),
        chunks_per_s: +(report.chunks / total).toFixed(2), ...split });
    }
  }
}

// As a Worker: runs the suite for the page's query and posts each row.
if (typeof WorkerGlobalScope !== 'undefined' && self instanceof WorkerGlobalScope) {
  self.onmessage = async ({ data }) => {
    try {
      await runThreads(new URLSearchParams(data.query), (row) => self.postMessage({ row }));
      self.postMessage({ done: true });
    } catch (e) {
      self.postMessage({ error: `${e.code ?? ''} ${e.message ?? e}`.trim() });
    }
  };
}
