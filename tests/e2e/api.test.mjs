// The LocalRag API's guarantees that the demo and the consumer app do not exercise: a panic
// marks instances broken (E_BROKEN) instead of hanging or failing with "unreachable", pinned
// SHA-256s are enforced and a file that fails one is not cached, model URLs on another origin
// are refused without a request, and misspelt options are errors. Both entry points.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ROOT, serveAndLaunch } from './browser.mjs';

const PORT = 8769;
const MODEL_SHA = readFileSync(`${ROOT}Makefile`, 'utf8').match(/^MINILM_SHA256 := ([0-9a-f]{64})$/m)[1];
const env = serveAndLaunch('www', PORT);

/** A fresh context (empty storage and cache), its requests and page errors. */
async function freshPage() {
  const context = await env.browser.newContext();
  const requests = [];
  context.on('request', (r) => requests.push(r.url()));
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  // An empty page of the origin (the demo page would load models of its own).
  await page.route(`${env.server.url}blank.html`, (r) => r.fulfill({ contentType: 'text/html', body: '<!doctype html><title>blank</title>' }));
  await page.goto(`${env.server.url}blank.html`);
  return { context, page, requests, errors };
}

for (const entry of ['index.js', 'worker.js']) {
  test(`${entry}: a panic marks the instance broken, and every later call fails with E_BROKEN`, { timeout: 300_000 }, async () => {
    const { context, page } = await freshPage();
    // The package built with the feature `testing` has a deliberate panic; the shipped one not.
    const r = await page.evaluate(async (entry) => {
      const { LocalRag } = await import(`./pkg-testing/${entry}`);
      const rag = await LocalRag.open('api-broken', { embedder: './models/all-MiniLM-L6-v2/', backend: 'cpu' });
      await rag.add([{ id: 'a', text: 'Alpacas hum when they are curious.' }]);
      const before = [rag.broken, (await rag.search('alpacas'))[0].docId];
      let panic;
      if (entry === 'worker.js') {
        panic = await rag.__panicForTest().then(() => 'resolved', (e) => `${e.name} ${e.code}`);
      } else {
        const raw = await import('./pkg-testing/localrag.js');
        try { raw.__panicForTest(); panic = 'returned'; } catch (e) { panic = e.constructor.name; }
      }
      const after = await Promise.race([
        rag.search('alpacas').then(() => 'resolved', (e) => `${e.name} ${e.code}`),
        new Promise((r) => setTimeout(() => r('hung'), 10_000)),
      ]);
      const list = await rag.list().then(() => 'resolved', (e) => e.code);
      return { before, panic, broken: rag.broken, after, list };
    }, entry);
    assert.deepEqual(r.before, [false, 'a']);
    assert.equal(r.panic, entry === 'worker.js' ? 'LocalRagError E_BROKEN' : 'RuntimeError');
    assert.equal(r.broken, true);
    assert.equal(r.after, 'LocalRagError E_BROKEN');
    assert.equal(r.list, 'E_BROKEN');
    await context.close();
  });

  test(`${entry}: a pinned SHA-256 is enforced and a mismatching file is not cached`, { timeout: 300_000 }, async () => {
    const { context, page, requests } = await freshPage();
    const r = await page.evaluate(async ({ entry, sha }) => {
      const { LocalRag } = await import(`./pkg/${entry}`);
      const url = new URL('./models/all-MiniLM-L6-v2/', location.href).href;
      const wrong = sha.replace(/^./, (c) => (c === '0' ? '1' : '0'));
      const bad = await LocalRag.open('api-sha', { embedder: { url, sha256: { 'model.safetensors': wrong } }, backend: 'cpu' })
        .then(() => null, (e) => ({ name: e.name, code: e.code, message: e.message }));
      const cache = await caches.open('localrag-models-v1');
      const cachedAfterBad = !!(await cache.match(`${url}model.safetensors`));
      const malformed = await LocalRag.open('api-sha', { embedder: { url, sha256: { 'model.safetensors': 'abc' } } })
        .then(() => null, (e) => e.code);
      const rag = await LocalRag.open('api-sha', { embedder: { url, sha256: { 'model.safetensors': sha } }, backend: 'cpu' });
      const dim = rag.dim;
      await rag.destroy();
      const cachedAfterGood = !!(await cache.match(`${url}model.safetensors`));
      return { bad, cachedAfterBad, malformed, dim, cachedAfterGood };
    }, { entry, sha: MODEL_SHA });
    assert.equal(r.bad.name, 'LocalRagError');
    assert.equal(r.bad.code, 'E_MODEL_FETCH');
    assert.match(r.bad.message, /SHA-256/);
    assert.equal(r.cachedAfterBad, false);
    assert.equal(r.malformed, 'E_INPUT');
    assert.equal(r.dim, 384);
    assert.equal(r.cachedAfterGood, true);
    // Downloaded twice: the mismatching copy was thrown away.
    assert.equal(requests.filter((u) => u.endsWith('/model.safetensors')).length, 2);
    await context.close();
  });

  test(`${entry}: model URLs on another origin are refused without a request; misspelt options are E_INPUT`, { timeout: 300_000 }, async () => {
    const { context, page, requests } = await freshPage();
    const other = `http://localhost:${PORT}/models/all-MiniLM-L6-v2/`;
    const r = await page.evaluate(async ({ entry, other }) => {
      const { LocalRag } = await import(`./pkg/${entry}`);
      const code = (p) => p.then(() => 'resolved', (e) => `${e.code}: ${e.message}`);
      const embedder = './models/all-MiniLM-L6-v2/';
      const out = {
        crossOrigin: await code(LocalRag.open('api-x', { embedder: other, backend: 'cpu' })),
        misspelt: await code(LocalRag.open('api-x', { embeder: embedder })),
        noEmbedder: await code(LocalRag.open('api-x', {})),
        noOptions: await code(LocalRag.open('api-x')),
        badName: await code(LocalRag.open('', { embedder })),
        badBackend: await code(LocalRag.open('api-x', { embedder, backend: 'tpu' })),
        badCache: await code(LocalRag.open('api-x', { embedder, cache: 'yes' })),
        badProgress: await code(LocalRag.open('api-x', { embedder, onProgress: 5 })),
        badImport: await code(LocalRag.import('api-x', 'not a file', { embedder })),
        badChunk: await code(LocalRag.open('api-x', { embedder, chunkTokens: -1, cache: false })),
        badEf: await code(LocalRag.open('api-x', { embedder, efSearch: 4, cache: false })),
      };
      return out;
    }, { entry, other });
    // None of the refused opens downloaded anything.
    assert.deepEqual(requests.filter((u) => u.includes('/models/')), []);
    Object.assign(r, await page.evaluate(async ({ entry }) => {
      const { LocalRag } = await import(`./pkg/${entry}`);
      const code = (p) => p.then(() => 'resolved', (e) => `${e.code}: ${e.message}`);
      const embedder = './models/all-MiniLM-L6-v2/';
      const out = {};
      const rag = await LocalRag.open('api-x', { embedder, backend: 'cpu' });
      out.searchKey = await code(rag.search('q', { topk: 3 }));
      out.askKey = await code(rag.ask('q', { maxtokens: 3 }));
      out.addKey = await code(rag.add([{ text: 'x' }], { progress: () => {} }));
      out.noGenerator = await code(rag.ask('q'));
      await rag.close();
      out.closed = await code(rag.list());
      await LocalRag.destroy('api-x');
      return out;
    }, { entry }));
    assert.match(r.crossOrigin, /^E_MODEL_FETCH: .*allowCrossOrigin/);
    assert.ok(!requests.some((u) => u.startsWith('http://localhost')), 'a request went to the other origin');
    assert.match(r.misspelt, /^E_INPUT: unknown open option `embeder`/);
    for (const k of ['noEmbedder', 'noOptions', 'badName', 'badBackend', 'badCache', 'badProgress', 'badImport', 'badChunk', 'badEf']) {
      assert.match(r[k], /^E_INPUT: /, k);
    }
    assert.match(r.searchKey, /^E_INPUT: unknown search option `topk`/);
    assert.match(r.askKey, /^E_INPUT: unknown ask option `maxtokens`/);
    assert.match(r.addKey, /^E_INPUT: unknown add option `progress`/);
    assert.match(r.noGenerator, /^E_NO_GENERATOR: /);
    assert.match(r.closed, /^E_CLOSED: /);
    await context.close();
  });
}

test("the README's example runs as written", { timeout: 600_000 }, async () => {
  const readme = readFileSync(`${ROOT}README.md`, 'utf8');
  const section = readme.slice(readme.indexOf('\n## Example'));
  const code = section.match(/```js\n([\s\S]*?)```/)[1];
  assert.match(code, /from 'localrag'/);
  const { context, page, requests, errors } = await freshPage();
  // The page serves the package at /pkg/ and the models at /models/, where the example says.
  const module = `${code.replace("from 'localrag'", "from '/pkg/index.js'")}
window.__example = { hits, answer, passages, file: file.length, copied: (await copy.list()).map((d) => d.id) };`;
  await page.addScriptTag({ type: 'module', content: module });
  await page.waitForFunction(() => window.__example, null, { timeout: 540_000, polling: 500 });
  const r = await page.evaluate(() => window.__example);
  assert.equal(r.hits[0].docId, 'eiffel');
  assert.match(r.answer, /1889/);
  assert.equal(r.passages[0].docId, 'eiffel');
  assert.ok(r.file > 100);
  assert.deepEqual(r.copied, ['eiffel']);
  assert.deepEqual(errors, []);
  for (const url of requests) assert.ok(url.startsWith(env.server.url), `request left the origin: ${url}`);
  await page.evaluate(async () => {
    const { LocalRag } = await import('/pkg/index.js');
    await LocalRag.destroy('notes');
    await LocalRag.destroy('notes-copy');
  });
  await context.close();
});

for (const entry of ['index.js', 'worker.js']) {
  test(`${entry}: two tabs writing at the same time lose nothing (Web Locks)`, { timeout: 600_000 }, async () => {
    const context = await env.browser.newContext();
    const pages = [];
    for (let i = 0; i < 2; i++) {
      const page = await context.newPage();
      await page.route(`${env.server.url}blank.html`, (r) => r.fulfill({ contentType: 'text/html', body: '<!doctype html><title>blank</title>' }));
      await page.goto(`${env.server.url}blank.html`);
      await page.evaluate(async ({ entry, noLocks }) => {
        // LOCALRAG_TEST_NO_LOCKS=1 shows that this test fails without the locks.
        if (noLocks) Object.defineProperty(navigator, 'locks', { value: undefined });
        const { LocalRag } = await import(`./pkg/${entry}`);
        window.rag = await LocalRag.open('api-locks', { embedder: './models/all-MiniLM-L6-v2/', backend: 'cpu' });
      }, { entry, noLocks: process.env.LOCALRAG_TEST_NO_LOCKS === '1' });
      pages.push(page);
    }
    const animals = ['aardvark', 'bison', 'caracal', 'dingo', 'emu', 'fennec', 'gibbon', 'hyena', 'ibex', 'jackal', 'kudu', 'lemur'];
    const docs = animals.map((a, i) => ({ id: a, text: `The ${a} is animal number ${i}. ${`The ${a} lives in the wild and eats what it finds. `.repeat(6)}` }));
    // Each tab adds its half in three batches, both at once.
    await Promise.all(pages.map((page, p) => page.evaluate(async (mine) => {
      for (let b = 0; b < mine.length; b += 2) await window.rag.add(mine.slice(b, b + 2));
    }, docs.filter((_, i) => i % 2 === p))));
    for (const page of pages) {
      const r = await page.evaluate(async (docs) => {
        const out = { ids: (await window.rag.list()).map((d) => d.id), wrong: [] };
        for (const d of docs) {
          const stored = await window.rag.get(d.id);
          if (!stored || stored.text !== d.text) { out.wrong.push(`${d.id}: text`); continue; }
          for (const c of stored.chunks) if (d.text.slice(c.start, c.end) !== c.text) out.wrong.push(`${d.id}: chunk ${c.id}`);
          const hits = await window.rag.search(`the ${d.id}`, { k: 1, mode: 'lexical' });
          if (hits[0]?.docId !== d.id) out.wrong.push(`${d.id}: search gave ${hits[0]?.docId}`);
        }
        const s = await window.rag.stats();
        out.chunks = s.chunks;
        out.listedChunks = (await window.rag.list()).reduce((n, d) => n + d.chunks, 0);
        return out;
      }, docs);
      assert.deepEqual(r.ids, [...animals].sort());
      assert.deepEqual(r.wrong, []);
      assert.equal(r.chunks, r.listedChunks);
    }
    await pages[0].evaluate(() => window.rag.destroy());
    await context.close();
  });
}
