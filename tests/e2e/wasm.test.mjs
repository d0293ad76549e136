// The browser suite (tests/web.rs) in headless Chromium (WebGPU on SwiftShader). Its tests are
// compiled into pkg-testing's modules (feature `testing`; src/web/testing.rs includes the file),
// each an export `test_*` that resolves, or rejects or panics with the failure. This runs every
// test in a page of its own: once on the single-threaded module, and once more on the threaded
// one (pkg-testing/threads, two threads, on a cross-origin isolated page) for the tests that run
// on the CPU, so that the parity tests hold on both builds. The model files come from CORS
// servers on loopback, as the suite expects: www/models on 8766, the test-only models on 8767.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ROOT, launch, openBlank, startServer } from './browser.mjs';

const ONLY = process.env.WEB_TESTS ? new RegExp(process.env.WEB_TESTS) : null;
// Every exported test, in the order of the file.
const exported = (glue) => [...readFileSync(`${ROOT}pkg-testing/${glue}`, 'utf8')
  .matchAll(/^export function (test_\w+)\(\)/gm)].map((m) => m[1]);
const single = exported('localrag.d.ts').filter((n) => !ONLY || ONLY.test(n));
const threaded = exported('threads/localrag.d.ts').filter((n) => !ONLY || ONLY.test(n));

const servers = {};
let browser = null;
before(async () => {
  servers.models = await startServer('www/models', 8766, { cors: true });
  servers.testModels = await startServer('.cache/test-models', 8767, { cors: true });
  servers.page = await startServer('www', 8784);
  servers.isolated = await startServer('www', 8785, { isolated: true });
  browser = await launch();
});
after(async () => {
  await browser?.close();
  for (const s of Object.values(servers)) s.close();
});

/** Runs export `name` of `glue` (`pool`: with a pool of that many threads) in a fresh page. */
async function run(server, glue, name, pool, t) {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on('console', (m) => t.diagnostic(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => t.diagnostic(`page error: ${e.message}`));
  await openBlank(page, server);
  try {
    return await page.evaluate(async ({ glue, name, pool }) => {
      const mod = await import(`./pkg-testing/${glue}`);
      await mod.default();
      if (pool) {
        const { startPool } = await import('./pkg-testing/threads.js');
        await startPool(mod, pool, false);
      }
      // A panic aborts the module: the test's promise would never settle, so the panic hook's
      // message ends the test instead.
      const panicked = new Promise((resolve) => mod.onPanic((message) => resolve({ ok: false, error: message })));
      const ran = mod[name]().then(() => ({ ok: true }), (e) => ({ ok: false, error: `${e?.code ?? ''} ${e?.message ?? e}` }));
      const r = await Promise.race([ran, panicked]);
      return { ...r, tasks: Array.from(mod.threadTasks()) };
    }, { glue, name, pool });
  } finally {
    await context.close();
  }
}

for (const name of single) {
  test(`single-threaded module: ${name}`, { timeout: 30 * 60_000 }, async (t) => {
    const r = await run(servers.page, 'localrag.js', name, 0, t);
    assert.ok(r.ok, r.error);
  });
}

for (const name of threaded) {
  test(`threaded module, 2 threads: ${name}`, { timeout: 30 * 60_000 }, async (t) => {
    const r = await run(servers.isolated, 'threads/localrag.js', name, 2, t);
    assert.ok(r.ok, r.error);
    t.diagnostic(`tasks per thread: ${JSON.stringify(r.tasks)}`);
  });
}
