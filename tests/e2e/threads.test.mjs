// The threaded module (pkg/threads/): on a cross-origin isolated page (COOP/COEP headers) the
// CPU work runs on a pool of Web Workers, more than one of them does work, and the answers are
// the single-threaded module's: the same vectors, the same search results, the same generated
// tokens. Without the headers the single-threaded module runs and says why. Both entry points.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ROOT, openBlank, serveAndLaunch, startServer } from './browser.mjs';

const env = serveAndLaunch('www', 8771, { isolated: true });

const DOCS = [
  { id: 'bridge', text: 'The Golden Gate Bridge opened to traffic in 1937 and spans the strait at the mouth of San Francisco Bay.' },
  { id: 'alpaca', text: 'Alpacas hum when they are curious, anxious or bored, and they live in herds in the Andes.' },
  { id: 'tea', text: 'Green tea is made from leaves that are not withered or oxidised, unlike black tea.' },
];
const TEXTS = [
  'When did the bridge open?',
  'Alpacas are social animals that live in herds.',
  'A short one.',
  'Tea leaves are steamed or pan-fired to stop oxidation, which keeps them green and gives the tea its fresh taste. '.repeat(3),
];

async function freshPage(server) {
  const context = await env.browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await openBlank(page, server);
  // Console errors besides the network log's 404s (the loader probes optional model files).
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(m.text());
  });
  return { context, page, errors };
}

/** In the page: opens `name` with `threads`, adds DOCS, and reports what ran and what came out. */
async function runIn(page, entry, threads, embedder, generator) {
  return page.evaluate(
    async ({ entry, threads, embedder, generator, DOCS, TEXTS }) => {
      const { LocalRag } = await import(`./pkg/${entry}`);
      const name = `threads-${threads}-${Math.random().toString(36).slice(2)}`;
      const rag = await LocalRag.open(name, {
        embedder, generator, backend: 'cpu', threads, cache: false,
      });
      const vectors = (await rag.embed(TEXTS, 'passage')).map((v) => Array.from(v));
      await rag.add(DOCS);
      const hits = (await rag.search('Which animal hums?', { mode: 'hybrid' })).map((h) => h.docId);
      let answer = null;
      if (generator) {
        const a = await rag.ask('When did the Golden Gate Bridge open?', { maxTokens: 12, temperature: 0 });
        answer = a.answer;
      }
      const stats = await rag.stats();
      const info = { isolated: globalThis.crossOriginIsolated, threads: LocalRag.threads, statsThreads: stats.threads, wasm: stats.wasm };
      await rag.destroy();
      return { vectors, hits, answer, ...info };
    },
    { entry, threads, embedder, generator, DOCS, TEXTS },
  );
}

function maxDiff(a, b) {
  let d = 0;
  for (let i = 0; i < a.length; i++) for (let j = 0; j < a[i].length; j++) d = Math.max(d, Math.abs(a[i][j] - b[i][j]));
  return d;
}

// The numpy reference's vectors (tests/reference/make_golden.py) of every fifth golden text.
const GOLDEN = JSON.parse(readFileSync(`${ROOT}tests/fixtures/embeddings.json`, 'utf8')).cases.filter((_, i) => i % 5 === 0);

const cosine = (a, b) => {
  let d = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) { d += a[i] * b[i]; na += a[i] * a[i]; nb += b[i] * b[i]; }
  return d / Math.sqrt(na * nb);
};

const GGUF = './models/all-MiniLM-L6-v2-Q8_0.gguf';
const SAFETENSORS = './models/all-MiniLM-L6-v2/';
const GENERATOR = './models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf';

test('worker.js on an isolated page: two threads do the work and give the one-thread results (quantized embedder, generator)', { timeout: 900_000 }, async () => {
  const { context, page, errors } = await freshPage(env.server);
  // Each instance of localrag/worker has a Worker, so a module, of its own: one page runs both.
  const two = await runIn(page, 'worker.js', 2, GGUF, GENERATOR);
  const one = await runIn(page, 'worker.js', 1, GGUF, GENERATOR);
  assert.equal(two.isolated, true);
  assert.equal(two.threads.count, 2, JSON.stringify(two.threads));
  assert.equal(two.threads.reason, null);
  assert.equal(one.threads.count, 1);
  assert.equal(one.threads.reason, 'threads: 1 was asked for');
  // More than one pool thread ran tasks of the products (the last slot: the calling thread).
  const pool = two.statsThreads.tasks.slice(0, -1);
  assert.equal(pool.length, 2, JSON.stringify(two.statsThreads));
  assert.ok(pool.every((n) => n > 0), `every pool thread did work: ${JSON.stringify(two.statsThreads.tasks)}`);
  assert.deepEqual(one.statsThreads.tasks, []);
  // Each row's sums are the same however the rows are shared: the same vectors, bit for bit.
  assert.equal(maxDiff(two.vectors, one.vectors), 0);
  assert.deepEqual(two.hits, one.hits);
  assert.equal(two.hits[0], 'alpaca');
  assert.equal(two.answer, one.answer);
  assert.ok(two.answer.length > 0);
  assert.deepEqual(errors, []);
  await context.close();
});

test('index.js on an isolated page: the threaded module runs on the page thread too (Burn f32 embedder)', { timeout: 900_000 }, async () => {
  // One module per thread: the page loads the threaded one, a Worker of localrag/worker the
  // single-threaded one for comparison.
  const { context, page, errors } = await freshPage(env.server);
  const two = await runIn(page, 'index.js', 2, SAFETENSORS, null);
  const one = await runIn(page, 'worker.js', 1, SAFETENSORS, null);
  assert.equal(two.threads.count, 2, JSON.stringify(two.threads));
  assert.ok(two.statsThreads.tasks.length === 3, JSON.stringify(two.statsThreads));
  // Burn's own products split among threads may sum in another order: close, not equal.
  assert.ok(maxDiff(two.vectors, one.vectors) < 1e-5, `max difference ${maxDiff(two.vectors, one.vectors)}`);
  assert.deepEqual(two.hits, one.hits);
  // The threaded module against the numpy reference (the f32 model, Burn's CPU backend on the
  // pool): the parity bound of the single-threaded module's browser tests.
  const golden = await page.evaluate(async (texts) => {
    const { LocalRag } = await import('./pkg/index.js');
    const rag = await LocalRag.open('golden', { embedder: './models/all-MiniLM-L6-v2/', backend: 'cpu', threads: 2 });
    const v = (await rag.embed(texts)).map((x) => Array.from(x));
    await rag.destroy();
    return { v };
  }, GOLDEN.map((c) => c.text));
  const worst = Math.min(...GOLDEN.map((c, i) => cosine(c.embedding, golden.v[i])));
  assert.ok(worst >= 0.999, `worst cosine to the reference ${worst}`);
  // A second open on this thread may not ask for another count.
  const again = await page.evaluate(async () => {
    const { LocalRag } = await import('./pkg/index.js');
    return LocalRag.open('other', { embedder: './models/all-MiniLM-L6-v2/', backend: 'cpu', threads: 3 })
      .then(() => 'opened', (e) => `${e.code}: ${e.message}`);
  });
  assert.match(again, /^E_INPUT: .*threads: 2/);
  assert.deepEqual(errors, []);
  await context.close();
});

test('without COOP/COEP: the single-threaded module runs, and says why', { timeout: 600_000 }, async () => {
  const plain = await startServer('www', 8772);
  try {
    const { context, page } = await freshPage(plain);
    for (const entry of ['index.js', 'worker.js']) {
      const r = await runIn(page, entry, 'auto', GGUF, null);
      assert.equal(r.isolated, false);
      assert.equal(r.threads.count, 1, entry);
      assert.match(r.threads.reason, /not cross-origin isolated/, entry);
      assert.deepEqual(r.statsThreads.tasks, [], entry);
      assert.equal(r.hits[0], 'alpaca');
    }
    const bad = await page.evaluate(async () => {
      const { LocalRag } = await import('./pkg/worker.js');
      const out = [];
      for (const threads of [0, 1.5, 'all', 65]) {
        out.push(await LocalRag.open('bad', { embedder: './models/all-MiniLM-L6-v2-Q8_0.gguf', threads })
          .then(() => 'opened', (e) => e.code));
      }
      return out;
    });
    assert.deepEqual(bad, ['E_INPUT', 'E_INPUT', 'E_INPUT', 'E_INPUT']);
    await context.close();
  } finally {
    plain.close();
  }
});

test('a panic on a pool thread fails the call with E_BROKEN instead of hanging (both entry points)', { timeout: 600_000 }, async () => {
  // A panicking pool thread aborts (wasm has no unwinding here): the caller, which waits for
  // it, must learn of it and fail on its own thread, where the page's E_BROKEN path sees it.
  const { context, page } = await freshPage(env.server);
  for (const entry of ['worker.js', 'index.js']) {
    const r = await page.evaluate(async (entry) => {
      const { LocalRag } = await import(`./pkg-testing/${entry}`);
      const rag = await LocalRag.open(`pool-panic-${entry}`, {
        embedder: './models/all-MiniLM-L6-v2-Q8_0.gguf', backend: 'cpu', threads: 2, cache: false,
      });
      await rag.add([{ id: 'a', text: 'Alpacas hum when they are curious.' }]);
      const before = { threads: LocalRag.threads.count, hit: (await rag.search('alpacas'))[0].docId };
      const hang = (ms) => new Promise((r) => setTimeout(() => r('hung'), ms));
      let panic;
      if (entry === 'worker.js') {
        panic = await Promise.race([
          rag.__panicForTest(true).then(() => 'resolved', (e) => `${e.name} ${e.code}`),
          hang(60_000),
        ]);
      } else {
        // The page's own module: the call throws on this thread (it spun while waiting).
        const { wasmExports } = await import('./pkg-testing/wasm.js');
        try { wasmExports().__panicForTest(true); panic = 'returned'; } catch (e) { panic = e.constructor.name; }
      }
      const after = await Promise.race([
        rag.search('alpacas').then(() => 'resolved', (e) => `${e.name} ${e.code}`),
        hang(10_000),
      ]);
      return { before, panic, broken: rag.broken, after };
    }, entry);
    assert.deepEqual(r.before, { threads: 2, hit: 'a' }, entry);
    assert.equal(r.panic, entry === 'worker.js' ? 'LocalRagError E_BROKEN' : 'RuntimeError', entry);
    assert.equal(r.broken, true, entry);
    assert.equal(r.after, 'LocalRagError E_BROKEN', entry);
  }
  await context.close();
});
