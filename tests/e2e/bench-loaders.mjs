// A 300-page PDF (www/test-fixtures/long.pdf, scripts/make_fixtures.py) from drop to searchable,
// split by stage, in headless Chromium on the CPU backend: parse (localrag/loaders: PDF.js on
// the page's thread), then `add` with its progress stages — chunk, embed, store, index — and the
// first search. Writes a Markdown table to stdout (scripts/bench.sh puts it into
// .cache/bench-loaders.md for BENCHMARKS.md).
//   node tests/e2e/bench-loaders.mjs [entry: index.js | worker.js]
import { startServer, launch, openBlank } from './browser.mjs';

const entry = process.argv[2] ?? 'index.js';
const server = await startServer('www', 8783);
const browser = await launch();
try {
  const page = await browser.newPage();
  await openBlank(page, server);
  const r = await page.evaluate(async (entry) => {
    const { LocalRag } = await import(`./pkg/${entry}`);
    const { loadFile } = await import('./pkg/loaders/index.js');
    const rag = await LocalRag.open('bench-loaders', { embedder: './models/all-MiniLM-L6-v2-Q8_0.gguf', backend: 'cpu', threads: 1 });
    await rag.add([{ id: 'warm', text: 'A warm-up document.' }]);
    const bytes = new Uint8Array(await (await fetch('./test-fixtures/long.pdf')).arrayBuffer());
    const t0 = performance.now();
    const doc = await loadFile(bytes, { name: 'long.pdf' });
    const t1 = performance.now();
    const stages = {};
    let last = t1;
    let current = null;
    const report = await rag.add([doc], {
      onProgress: (p) => {
        const now = performance.now();
        if (current) stages[current] = (stages[current] ?? 0) + (now - last);
        current = p.stage;
        last = now;
      },
    });
    const t2 = performance.now();
    if (current) stages[current] = (stages[current] ?? 0) + (t2 - last);
    const hits = await rag.search('Page 150 line 5', { k: 1 });
    const t3 = performance.now();
    await rag.destroy();
    return {
      pages: doc.metadata.pages, chars: doc.text.length, chunks: report.chunks, parse: t1 - t0, stages, add: t2 - t1, search: t3 - t2,
      found: hits[0]?.pages ?? null,
    };
  }, entry);
  const s = (ms) => (ms / 1000).toFixed(2);
  const total = r.parse + r.add;
  console.log(`| stage | seconds | share |\n|---|---:|---:|`);
  const rows = [['parse (PDF.js, text and structure)', r.parse], ...['chunk', 'embed', 'store', 'index'].map((k) => [k, r.stages[k] ?? 0])];
  for (const [k, ms] of rows) console.log(`| ${k} | ${s(ms)} | ${((100 * ms) / total).toFixed(0)} % |`);
  console.log(`| **drop to searchable** | **${s(total)}** | |`);
  console.log(`\n${r.pages} pages, ${r.chars} characters, ${r.chunks} chunks (all-MiniLM-L6-v2 Q8_0, CPU, one thread, \`${entry}\`); the first search then took ${r.search.toFixed(0)} ms and found page ${JSON.stringify(r.found)}.`);
  console.error(JSON.stringify({ bench: 'loaders', entry, ...r }));
} finally {
  await browser.close();
  server.close();
}
