// The bad-input catalogue (issue 15): one table of wrong calls, run on both entry points. Each
// must reject with its documented LocalRagError code within a time limit — never E_BROKEN, never
// accepted — and leave the knowledge base as it was (the same documents, the same hits) and
// usable afterwards.
// Its first run found three calls accepted that should not have been (a document with a
// misspelt field, BigInt metadata, a lone surrogate in `embed` replaced silently).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openBlank, serveAndLaunch } from './browser.mjs';

const env = serveAndLaunch('www', 8773);

// [name, expected code, body]: the body runs in the page with `rag` (an open instance holding
// the three documents below) and returns the promise of the call. A body that throws
// synchronously counts as its rejection.
const CASES = [
  // add
  ['add: not an array', 'E_INPUT', (rag) => rag.add('text')],
  ['add: null', 'E_INPUT', (rag) => rag.add(null)],
  ['add: array of numbers', 'E_INPUT', (rag) => rag.add([1, 2])],
  ['add: document without text', 'E_INPUT', (rag) => rag.add([{ id: 'x' }])],
  ['add: text a number', 'E_INPUT', (rag) => rag.add([{ id: 'x', text: 42 }])],
  ['add: empty text', 'E_INPUT', (rag) => rag.add([{ id: 'x', text: '' }])],
  ['add: whitespace text', 'E_INPUT', (rag) => rag.add([{ id: 'x', text: ' \n\t ' }])],
  ['add: empty id', 'E_INPUT', (rag) => rag.add([{ id: '', text: 'a' }])],
  ['add: id a number', 'E_INPUT', (rag) => rag.add([{ id: 7, text: 'a' }])],
  ['add: id of 2 000 bytes', 'E_INPUT', (rag) => rag.add([{ id: 'i'.repeat(2000), text: 'a' }])],
  ['add: duplicate ids in one batch', 'E_INPUT', (rag) => rag.add([{ id: 'd', text: 'a' }, { id: 'd', text: 'b' }])],
  ['add: metadata an array', 'E_INPUT', (rag) => rag.add([{ id: 'x', text: 'a', metadata: [1] }])],
  ['add: metadata a string', 'E_INPUT', (rag) => rag.add([{ id: 'x', text: 'a', metadata: 'm' }])],
  ['add: metadata with a function', 'E_INPUT', (rag) => rag.add([{ id: 'x', text: 'a', metadata: { f() {} } }])],
  ['add: metadata with a symbol', 'E_INPUT', (rag) => rag.add([{ id: 'x', text: 'a', metadata: { s: Symbol('s') } }])],
  ['add: metadata with a BigInt', 'E_INPUT', (rag) => rag.add([{ id: 'x', text: 'a', metadata: { n: 1n } }])],
  ['add: title a number', 'E_INPUT', (rag) => rag.add([{ id: 'x', text: 'a', title: 5 }])],
  ['add: unknown document field', 'E_INPUT', (rag) => rag.add([{ id: 'x', text: 'a', txet: 'b' }])],
  ['add: text over the size limit (20 MB)', 'E_INPUT', (rag) => rag.add([{ id: 'x', text: 'w '.repeat(10 * 1024 * 1024) }])],
  ['add: onProgress not a function', 'E_INPUT', (rag) => rag.add([{ id: 'x', text: 'a' }], { onProgress: 'no' })],
  ['add: signal not a signal', 'E_INPUT', (rag) => rag.add([{ id: 'x', text: 'a' }], { signal: {} })],
  ['add: signal already aborted', 'E_ABORTED', (rag) => rag.add([{ id: 'x', text: 'a' }], { signal: AbortSignal.abort() })],
  ['add: unknown option', 'E_INPUT', (rag) => rag.add([{ id: 'x', text: 'a' }], { chunkSize: 10 })],
  ['add: options not an object', 'E_INPUT', (rag) => rag.add([{ id: 'x', text: 'a' }], 5)],
  // search
  ['search: query a number', 'E_INPUT', (rag) => rag.search(5)],
  ['search: query missing', 'E_INPUT', (rag) => rag.search()],
  ['search: k zero', 'E_INPUT', (rag) => rag.search('alpaca', { k: 0 })],
  ['search: k negative', 'E_INPUT', (rag) => rag.search('alpaca', { k: -1 })],
  ['search: k fractional', 'E_INPUT', (rag) => rag.search('alpaca', { k: 1.5 })],
  ['search: k huge', 'E_INPUT', (rag) => rag.search('alpaca', { k: 1e9 })],
  ['search: k a string', 'E_INPUT', (rag) => rag.search('alpaca', { k: '3' })],
  ['search: unknown mode', 'E_INPUT', (rag) => rag.search('alpaca', { mode: 'fuzzy' })],
  ['search: filter not an object', 'E_INPUT', (rag) => rag.search('alpaca', { filter: 'x' })],
  ['search: unknown option', 'E_INPUT', (rag) => rag.search('alpaca', { topK: 3 })],
  ['search: query over the size limit', 'E_INPUT', (rag) => rag.search('q '.repeat(10 * 1024 * 1024))],
  // ask (no generator was loaded)
  ['ask: without a generator', 'E_NO_GENERATOR', (rag) => rag.ask('When did the bridge open?')],
  // remove, get
  ['remove: id a number', 'E_INPUT', (rag) => rag.remove(5)],
  ['remove: ids numbers', 'E_INPUT', (rag) => rag.remove([1])],
  ['get: id a number', 'E_INPUT', (rag) => rag.get(1)],
  ['get: id missing', 'E_INPUT', (rag) => rag.get()],
  // embed
  ['embed: not an array', 'E_INPUT', (rag) => rag.embed('text')],
  ['embed: array of numbers', 'E_INPUT', (rag) => rag.embed([1])],
  ['embed: unknown role', 'E_INPUT', (rag) => rag.embed(['a'], 'question')],
  ['embed: lone surrogate', 'E_INPUT', (rag) => rag.embed(['\uD800 half'])],
  ['add: lone surrogate in the text', 'E_INPUT', (rag) => rag.add([{ id: 'x', text: 'half \uDC00 a pair' }])],
  ['add: lone surrogate in the title', 'E_INPUT', (rag) => rag.add([{ id: 'x', text: 'a', title: '\uD83D' }])],
  // open / import with bad arguments (a second instance; the first must not change)
  ['open: name a number', 'E_INPUT', (_, L) => L.open(5, { embedder: './models/all-MiniLM-L6-v2-Q8_0.gguf' })],
  ['open: empty name', 'E_INPUT', (_, L) => L.open('', { embedder: './models/all-MiniLM-L6-v2-Q8_0.gguf' })],
  ['open: no embedder', 'E_INPUT', (_, L) => L.open('other')],
  ['open: embedder a number', 'E_INPUT', (_, L) => L.open('other', { embedder: 5 })],
  ['open: embedder on another origin', 'E_MODEL_FETCH', (_, L) => L.open('other', { embedder: 'https://example.com/model.gguf' })],
  ['open: unknown backend', 'E_INPUT', (_, L) => L.open('other', { embedder: './models/all-MiniLM-L6-v2-Q8_0.gguf', backend: 'tpu' })],
  ['open: unknown option', 'E_INPUT', (_, L) => L.open('other', { embedder: './models/all-MiniLM-L6-v2-Q8_0.gguf', embeder: 'x' })],
  ['open: threads zero', 'E_INPUT', (_, L) => L.open('other', { embedder: './models/all-MiniLM-L6-v2-Q8_0.gguf', threads: 0 })],
  ['open: missing model file', 'E_MODEL_FETCH', (_, L) => L.open('other', { embedder: './models/nothing-here.gguf' })],
  ['import: random bytes', 'E_CORRUPT', (_, L) => L.import('imported', crypto.getRandomValues(new Uint8Array(4096)), { embedder: './models/all-MiniLM-L6-v2-Q8_0.gguf' })],
  ['import: empty file', 'E_CORRUPT', (_, L) => L.import('imported', new Uint8Array(0), { embedder: './models/all-MiniLM-L6-v2-Q8_0.gguf' })],
  ['import: not bytes', 'E_INPUT', (_, L) => L.import('imported', 'file', { embedder: './models/all-MiniLM-L6-v2-Q8_0.gguf' })],
  ['import: truncated export', 'E_CORRUPT', async (rag, L) => L.import('imported', (await rag.export()).slice(0, 100), { embedder: './models/all-MiniLM-L6-v2-Q8_0.gguf' })],
  ['import: export with a byte changed', 'E_CORRUPT', async (rag, L) => {
    const bytes = await rag.export();
    bytes[Math.floor(bytes.length / 2)] ^= 0xff;
    return L.import('imported', bytes, { embedder: './models/all-MiniLM-L6-v2-Q8_0.gguf' });
  }],
  ['import: export with bytes added', 'E_CORRUPT', async (rag, L) => {
    const bytes = await rag.export();
    const longer = new Uint8Array(bytes.length + 10);
    longer.set(bytes);
    return L.import('imported', longer, { embedder: './models/all-MiniLM-L6-v2-Q8_0.gguf' });
  }],
  ['import: into the open name without overwrite', 'E_INPUT', async (rag, L) => L.import(rag.name, await rag.export(), { embedder: './models/all-MiniLM-L6-v2-Q8_0.gguf' })],
];

const DOCS = [
  { id: 'bridge', text: 'The Golden Gate Bridge opened to traffic in 1937.' },
  { id: 'alpaca', text: 'Alpacas hum when they are curious, anxious or bored.' },
  { id: 'tea', text: 'Green tea is made from leaves that are not withered or oxidised.' },
];

for (const entry of ['index.js', 'worker.js']) {
  test(`${entry}: ${CASES.length} bad calls each give their code, in time, and change nothing`, { timeout: 900_000 }, async () => {
    const context = await env.browser.newContext();
    const page = await context.newPage();
    await openBlank(page, env.server);
    await page.evaluate(async ({ entry, DOCS }) => {
      const { LocalRag } = await import(`./pkg/${entry}`);
      globalThis.L = LocalRag;
      globalThis.rag = await LocalRag.open(`bad-${entry}`, { embedder: './models/all-MiniLM-L6-v2-Q8_0.gguf', backend: 'cpu' });
      await rag.add(DOCS);
      globalThis.state = async () => JSON.stringify({
        list: (await rag.list()).map((d) => d.id).sort(),
        hits: (await rag.search('Which animal hums?')).map((h) => h.docId),
      });
      globalThis.before = await state();
      globalThis.DOCS = DOCS;
    }, { entry, DOCS });
    const results = [];
    for (const [name, code, body] of CASES) {
      const r = await page.evaluate(async ({ src }) => {
        const f = eval(`(${src})`);
        const start = performance.now();
        let outcome;
        try {
          const value = await Promise.race([
            Promise.resolve().then(() => f(rag, L)),
            new Promise((_, reject) => setTimeout(() => reject(Object.assign(new Error('timed out'), { code: 'TIMEOUT' })), 60_000)),
          ]);
          outcome = { accepted: true, value: String(value).slice(0, 80) };
          // An instance opened by mistake must not linger.
          if (value && typeof value.close === 'function') await value.close();
        } catch (e) {
          outcome = { code: e?.code ?? null, error: e?.name, message: String(e?.message).slice(0, 200) };
        }
        const ms = Math.round(performance.now() - start);
        const after = await state();
        // Put back what a wrongly accepted call changed, so that one failure does not spill over.
        const ids = (await rag.list()).map((d) => d.id);
        const extra = ids.filter((id) => !JSON.parse(before).list.includes(id));
        if (extra.length) await rag.remove(extra);
        const missing = DOCS.filter((d) => !ids.includes(d.id));
        if (missing.length) await rag.add(missing);
        return { ...outcome, ms, changed: after !== before, broken: rag.broken };
      }, { src: body.toString() });
      results.push({ name, expected: code, ...r });
    }
    const wrong = results.filter((r) => r.code !== r.expected || r.accepted || r.broken || r.changed);
    console.log(`${entry}: ${results.length} cases, ${results.length - wrong.length} as documented; slowest ${Math.max(...results.map((r) => r.ms))} ms`);
    assert.deepEqual(wrong, [], JSON.stringify(wrong, null, 1));
    await context.close();
  });
}
