// Real storage limits and storage taken away (issue 15), both entry points:
// - a real quota: the origin's quota is lowered through the DevTools protocol
//   (`Storage.overrideQuotaForOrigin`) and filled; the add that does not fit fails with E_QUOTA,
//   earlier data is intact, the instance stays usable, and after a remove an add fits again;
// - the Cache API full while the models are cached: `open` still works (the model is used
//   without being cached) and says so;
// - the database destroyed by another tab (`LocalRag.destroy`), deleted underneath by another
//   tab (`indexedDB.deleteDatabase`) and by the browser (`Storage.clearDataForOrigin`): the
//   open instance fails with E_CLOSED, without hanging; `open` again starts a fresh knowledge
//   base after a destroy and when all the site's data went (what eviction does), and says
//   E_LOST when the IndexedDB alone went behind localrag's back (until `destroy`);
// - `persist()` is asked for and its result reported in `stats().storage.persisted`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { ROOT, openBlank, serveAndLaunch } from './browser.mjs';

const env = serveAndLaunch('www', 8779);
const EMBEDDER = './models/all-MiniLM-L6-v2-Q8_0.gguf';
const DOCS = [
  { id: 'bridge', text: 'The Golden Gate Bridge opened to traffic in 1937.' },
  { id: 'alpaca', text: 'Alpacas hum when they are curious, anxious or bored.' },
  { id: 'tea', text: 'Green tea is made from leaves that are not withered or oxidised.' },
];

async function freshPage() {
  const context = await env.browser.newContext();
  const page = await context.newPage();
  await openBlank(page, env.server);
  const cdp = await context.newCDPSession(page);
  return { context, page, cdp, origin: new URL(env.server.url).origin };
}

/** In the page: the outcome of `f()` within `ms` — its value, or its error's code and message. */
const SETTLE = `globalThis.settle = async (f, ms = 30000) => {
  try {
    const v = await Promise.race([f(), new Promise((_, j) => setTimeout(() => j(Object.assign(new Error('timed out'), { code: 'TIMEOUT' })), ms))]);
    return { ok: true, value: v };
  } catch (e) { return { ok: false, code: e?.code ?? e?.name, message: String(e?.message) }; }
};`;

for (const entry of ['index.js', 'worker.js']) {
  test(`${entry}: a full origin quota gives E_QUOTA, keeps the data, and a remove makes room again`, { timeout: 600_000 }, async () => {
    const { context, page, cdp, origin } = await freshPage();
    await page.evaluate(SETTLE);
    // Room for the cached model and 3 MiB more. (Chromium's IndexedDB takes the quota when the
    // origin's storage is first opened: the override comes before anything is stored.)
    const modelBytes = statSync(`${ROOT}www/models/all-MiniLM-L6-v2-Q8_0.gguf`).size;
    await cdp.send('Storage.overrideQuotaForOrigin', { origin, quotaSize: modelBytes + 3 * 1024 * 1024 });
    const r = await page.evaluate(async ({ entry, EMBEDDER, DOCS }) => {
      const { LocalRag } = await import(`./pkg/${entry}`);
      globalThis.rag = await LocalRag.open('quota', { embedder: EMBEDDER, backend: 'cpu' });
      await rag.add(DOCS);
      const fills = [];
      let failure = null;
      // 600 kB of random (incompressible) metadata per document: storage without much embedding.
      const blob = () => {
        const bytes = new Uint8Array(450_000);
        for (let i = 0; i < bytes.length; i += 65536) crypto.getRandomValues(bytes.subarray(i, i + 65536));
        let s = '';
        for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
        return btoa(s);
      };
      for (let i = 0; i < 40 && !failure; i++) {
        const out = await settle(() => rag.add([{ id: `fill-${i}`, text: `Filler document number ${i}.`, metadata: { blob: blob() } }]));
        if (out.ok) fills.push(`fill-${i}`); else failure = out;
      }
      const afterFull = {
        ids: (await rag.list()).map((d) => d.id).sort(),
        hit: (await rag.search('Which animal hums?'))[0]?.docId,
        text: (await rag.get('bridge'))?.text,
        count: (await rag.stats()).documents,
      };
      // Make room (a remove must work on a full quota), then the add that failed fits.
      const removed = await settle(() => rag.remove(fills));
      const again = await settle(() => rag.add([{ id: 'after-room', text: 'Room was made for this document.', metadata: { blob: blob() } }]));
      const finalIds = (await rag.list()).map((d) => d.id).sort();
      return { fills: fills.length, failure, afterFull, removed, again, finalIds, persisted: (await rag.stats()).storage?.persisted };
    }, { entry, EMBEDDER, DOCS });
    assert.ok(r.failure, 'the quota was reached');
    assert.equal(r.failure.code, 'E_QUOTA', JSON.stringify(r.failure));
    assert.match(r.failure.message, /quota .* exhausted; nothing of this write was stored/);
    assert.deepEqual(r.afterFull.ids, ['alpaca', 'bridge', 'tea', ...Array.from({ length: r.fills }, (_, i) => `fill-${i}`)].sort());
    assert.equal(r.afterFull.hit, 'alpaca');
    assert.equal(r.afterFull.text, DOCS[0].text);
    assert.equal(r.afterFull.count, 3 + r.fills);
    assert.deepEqual(r.removed, { ok: true, value: r.fills });
    assert.equal(r.again.ok, true, JSON.stringify(r.again));
    assert.deepEqual(r.finalIds, ['after-room', 'alpaca', 'bridge', 'tea']);
    assert.equal(typeof r.persisted, 'boolean', 'persist() was asked and its result reported');
    console.log(`# ${entry}: quota reached after ${r.fills} fills of 600 kB; persisted: ${r.persisted}`);
    // The data is there for a new instance too.
    const reopened = await page.evaluate(async ({ entry, EMBEDDER }) => {
      await rag.close();
      const { LocalRag } = await import(`./pkg/${entry}`);
      const again = await LocalRag.open('quota', { embedder: EMBEDDER, backend: 'cpu' });
      const ids = (await again.list()).map((d) => d.id).sort();
      await again.destroy();
      return ids;
    }, { entry, EMBEDDER });
    assert.deepEqual(reopened, ['after-room', 'alpaca', 'bridge', 'tea']);
    await cdp.send('Storage.overrideQuotaForOrigin', { origin });
    await context.close();
  });

  test(`${entry}: the Cache API full while caching the models: open still works`, { timeout: 600_000 }, async () => {
    const { context, page, cdp, origin } = await freshPage();
    // Far less than the 25 MB model: its cache write must fail.
    await cdp.send('Storage.overrideQuotaForOrigin', { origin, quotaSize: 4 * 1024 * 1024 });
    await page.evaluate(SETTLE);
    const r = await page.evaluate(async ({ entry, EMBEDDER, DOCS }) => {
      const { LocalRag } = await import(`./pkg/${entry}`);
      const events = [];
      const opened = await settle(async () => {
        globalThis.rag = await LocalRag.open('cachefull', { embedder: EMBEDDER, backend: 'cpu', onProgress: (e) => events.push(e) });
        return true;
      }, 120_000);
      if (!opened.ok) return { opened };
      const added = await settle(() => rag.add(DOCS));
      const hit = (await rag.search('Which animal hums?'))[0]?.docId;
      const cached = await caches.open('localrag-models-v1').then((c) => c.keys()).then((k) => k.length, () => -1);
      await rag.destroy();
      return { opened, added, hit, cached, downloads: [...new Set(events.filter((e) => e.stage === 'download').map((e) => `${e.file.split('/').pop()} cached: ${!!e.cached}`))] };
    }, { entry, EMBEDDER, DOCS });
    assert.equal(r.opened.ok, true, JSON.stringify(r.opened));
    assert.equal(r.added.ok, true, JSON.stringify(r.added));
    assert.equal(r.hit, 'alpaca');
    assert.deepEqual(r.downloads, ['all-MiniLM-L6-v2-Q8_0.gguf cached: false']);
    assert.equal(r.cached, 0, 'nothing was cached');
    await cdp.send('Storage.overrideQuotaForOrigin', { origin });
    await context.close();
  });

  test(`${entry}: the database deleted by another tab or by the browser: E_CLOSED, then E_LOST or a fresh start`, { timeout: 600_000 }, async () => {
    const { context, page, cdp, origin } = await freshPage();
    await page.evaluate(SETTLE);
    const open = async (name) => page.evaluate(async ({ entry, EMBEDDER, DOCS, name }) => {
      const { LocalRag } = await import(`./pkg/${entry}`);
      globalThis.rag = await LocalRag.open(name, { embedder: EMBEDDER, backend: 'cpu' });
      await rag.add(DOCS);
      return (await rag.list()).length;
    }, { entry, EMBEDDER, DOCS, name });
    const probe = async () => page.evaluate(async () => ({
      search: await settle(() => rag.search('alpaca'), 10_000),
      add: await settle(() => rag.add([{ id: 'late', text: 'Written after the database went away.' }]), 10_000),
      list: await settle(() => rag.list(), 10_000),
    }));
    // Opens the name twice as it is (each: 'opened' or the error code, the message of a
    // failure), then — after `destroy` where it was lost — once more, and writes to it.
    const reopen = async (name) => page.evaluate(async ({ entry, EMBEDDER, name }) => {
      const { LocalRag } = await import(`./pkg/${entry}`);
      const options = { embedder: EMBEDDER, backend: 'cpu' };
      const tries = [];
      let message = null;
      for (let i = 0; i < 2; i++) {
        tries.push(await LocalRag.open(name, options).then(async (r) => {
          await r.close();
          return 'opened';
        }, (e) => { message = e.message; return e.code; }));
      }
      if (tries[0] === 'E_LOST') await LocalRag.destroy(name);
      const fresh = await LocalRag.open(name, options);
      const before = (await fresh.list()).length;
      await fresh.add([{ id: 'new', text: 'A new beginning.' }]);
      const after = (await fresh.list()).map((d) => d.id);
      await fresh.destroy();
      return { tries, message, before, after };
    }, { entry, EMBEDDER, name });
    const lost = (r) => {
      assert.deepEqual(r.tries, ['E_LOST', 'E_LOST'], 'reported lost, on every open, until destroyed');
      assert.match(r.message, /stored data is gone.*LocalRag\.import.*LocalRag\.destroy/s);
      assert.deepEqual({ before: r.before, after: r.after }, { before: 0, after: ['new'] });
    };
    // Every probed call of the instance failed with E_CLOSED (its message matching `re`, if given).
    const closed = async (when, re) => {
      for (const [call, out] of Object.entries(await probe())) {
        assert.equal(out.ok, false, `${call} after ${when} was accepted`);
        assert.equal(out.code, 'E_CLOSED', `${call}: ${JSON.stringify(out)}`);
        if (re) assert.match(out.message, re, `${call}: ${out.message}`);
      }
    };

    // Another tab destroys the knowledge base through localrag: the open instance fails with
    // E_CLOSED, and the next open starts afresh (a deliberate deletion is no loss).
    assert.equal(await open('destroyed'), 3);
    const other = await context.newPage();
    await openBlank(other, env.server);
    await other.evaluate(async ({ entry }) => {
      const { LocalRag } = await import(`./pkg/${entry}`);
      await LocalRag.destroy('destroyed');
    }, { entry });
    await closed('destroy in another tab');
    assert.deepEqual(await reopen('destroyed'), { tries: ['opened', 'opened'], message: null, before: 0, after: ['new'] });

    // Another tab of the origin deletes the database (not through localrag).
    assert.equal(await open('deleted'), 3);
    const deleted = await other.evaluate(() => new Promise((resolve) => {
      const req = indexedDB.deleteDatabase('localrag:deleted');
      req.onsuccess = () => resolve('deleted');
      req.onerror = () => resolve(`error ${req.error?.name}`);
      req.onblocked = () => resolve('blocked');
    }));
    assert.equal(deleted, 'deleted', 'the open instance let go of the database');
    await closed('deletion', /deleted|closed/i);
    // Deleted by something other than `destroy`: the next open says the data is gone.
    lost(await reopen('deleted'));

    // The browser clears the origin's IndexedDB alone (as DevTools can; Chromium deleting a
    // damaged database is the same to the page): lost.
    assert.equal(await open('cleared'), 3);
    await cdp.send('Storage.clearDataForOrigin', { origin, storageTypes: 'indexeddb' });
    await closed('clearing');
    lost(await reopen('cleared'));

    // The browser clears all the site's data (what eviction under storage pressure does, and
    // what a user clearing the site's data does): the knowledge base starts afresh, no error.
    assert.equal(await open('evicted'), 3);
    await cdp.send('Storage.clearDataForOrigin', { origin, storageTypes: 'all' });
    await closed('eviction');
    const evicted = await reopen('evicted');
    assert.deepEqual(evicted, { tries: ['opened', 'opened'], message: null, before: 0, after: ['new'] });
    await context.close();
  });

  // The browser aborts the transactions under way before the page gets the connection's `close`
  // event, so a call in flight while the site's IndexedDB is cleared used to fail with E_STORAGE
  // ("AbortError") instead of E_CLOSED (once in a run of this file, 2026-12-07). Calls run back to
  // back while it is cleared, at other moments each round: every one resolves or fails with
  // E_CLOSED.
  test(`${entry}: calls in flight while the browser clears IndexedDB fail with E_CLOSED, never E_STORAGE`, { timeout: 600_000 }, async () => {
    const counts = {};
    for (let round = 0; round < 6; round++) {
      const { context, page, cdp, origin } = await freshPage();
      await page.evaluate(async ({ entry, EMBEDDER, DOCS }) => {
        const { LocalRag } = await import(`./pkg/${entry}`);
        const rag = await LocalRag.open('in-flight', { embedder: EMBEDDER, backend: 'cpu' });
        await rag.add(DOCS);
        globalThis.outcomes = [];
        globalThis.running = (async () => {
          for (let i = 0; outcomes.length < 100_000; i++) {
            const call = i % 2 ? () => rag.search('alpaca') : () => rag.get('tea');
            try {
              await call();
              outcomes.push('ok');
            } catch (e) {
              outcomes.push(e.code ?? String(e));
              if (e.code === 'E_CLOSED') return;
            }
          }
        })();
      }, { entry, EMBEDDER, DOCS });
      await new Promise((r) => setTimeout(r, 20 + 45 * round));
      await cdp.send('Storage.clearDataForOrigin', { origin, storageTypes: 'indexeddb' });
      const outcomes = await page.evaluate(async () => {
        await Promise.race([running, new Promise((r) => setTimeout(r, 20_000))]);
        return outcomes;
      });
      for (const o of outcomes) counts[o] = (counts[o] ?? 0) + 1;
      assert.equal(outcomes.at(-1), 'E_CLOSED', `round ${round}: the calls went on after the clearing: ${JSON.stringify(counts)}`);
      await context.close();
    }
    console.log(`${entry}: calls while IndexedDB was cleared, 6 rounds: ${JSON.stringify(counts)}`);
    assert.deepEqual(Object.keys(counts).sort(), ['E_CLOSED', 'ok'], JSON.stringify(counts));
    assert.equal(counts.E_CLOSED, 6);
  });
}
