// Browser half of `make bench`: embedding throughput per backend and batch size. Results go
// to window.benchResults (read by tests/e2e/bench.mjs) and onto the page.
import init, { Embedder } from './pkg/localrag.js';

const params = new URLSearchParams(location.search);
const backends = (params.get('backends') ?? 'webgpu,cpu-flex,cpu-ndarray').split(',');
const CHUNKS = Number(params.get('chunks') ?? 32);
const ROUNDS = Number(params.get('rounds') ?? 2);
const TOKENS = 128;
const MODEL = new URL('./models/all-MiniLM-L6-v2/', location.href).href;
const out = document.getElementById('out');
const results = [];

// Far longer than 128 word pieces; truncation makes every chunk exactly 128 tokens.
const texts = Array.from({ length: CHUNKS }, (_, i) =>
  Array.from({ length: 200 }, (_, w) => `word${(w * 7 + i) % 50} topic${i} `).join(''));

await init();
for (const name of backends) {
  const [backend, cpuBackend] = name.startsWith('cpu-') ? ['cpu', name.slice(4)] : [name, undefined];
  for (const batch of [1, 8, 32]) {
    const t0 = performance.now();
    const embedder = await Embedder.load({ baseUrl: MODEL, backend, cpuBackend, batchSize: batch, maxSeqLength: TOKENS });
    const loadMs = performance.now() - t0;
    if (!embedder.tokenize(texts).every((ids) => ids.length === TOKENS)) throw new Error('chunks are not 128 tokens');
    await embedder.embed(texts); // warm-up: pipelines compile, buffers allocate
    let best = Infinity;
    for (let r = 0; r < ROUNDS; r++) {
      const t = performance.now();
      await embedder.embed(texts);
      best = Math.min(best, (performance.now() - t) / 1000);
    }
    const row = { where: 'browser', backend: name, batch, tokens: TOKENS, chunks: CHUNKS, seconds: +best.toFixed(4),
      chunks_per_s: +(CHUNKS / best).toFixed(2), load_ms: Math.round(loadMs), actual: embedder.backend };
    results.push(row);
    out.textContent += JSON.stringify(row) + '\n';
    console.log('bench-row ' + JSON.stringify(row));
    embedder.free();
  }
}
window.benchResults = results;
document.body.dataset.state = 'done';
