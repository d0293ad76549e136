// localrag/loaders (issue 16) in headless Chromium, on the fixtures scripts/make_fixtures.py
// writes (www/test-fixtures: PDFs, a .docx, and what each should give in expect.json) and on
// HTML, Markdown and text made here:
//   - each format to text and structure, in a page and in a Worker (the same result): pages of
//     known passages, heading paths, the running header and footer dropped, a hyphenated word
//     joined, two columns read one after the other, Chinese text whole;
//   - the typed errors: a scanned PDF (E_UNSUPPORTED, naming OCR), an encrypted one without its
//     password (E_UNSUPPORTED) and with a wrong one (E_INPUT), a damaged one, an unknown format,
//     text in another encoding;
//   - through the API on both entry points: the documents added, each known passage found with
//     its page and heading path, `get` giving the structure back, an `ask` whose passages carry
//     their location;
//   - nothing in a document runs (scripts, event handlers), nothing is fetched for it (images),
//     and no document text leaves the page.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ROOT, openBlank, serveAndLaunch } from './browser.mjs';

const env = serveAndLaunch('www', 8782);
const safeDecode = (u) => { try { return decodeURIComponent(u); } catch { return u; } };
const EXPECT = JSON.parse(readFileSync(`${ROOT}www/test-fixtures/expect.json`, 'utf8'));
const EMBEDDER = './models/all-MiniLM-L6-v2-Q8_0.gguf';
const GENERATOR = './models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf';

const HTML = `<!doctype html><html><head><title>Lighthouse log</title>
<style>body { color: red } .secret { display: none }</style>
<script>globalThis.__ran = 'head script'</script></head>
<body onload="globalThis.__ran = 'onload'">
<nav><a href="/">Home</a> | <a href="/about">About</a></nav>
<h1>Lighthouse log</h1>
<p>The keeper trimmed the wick at <b>dusk</b> every day.</p>
<img src="/never-fetched.png" onerror="globalThis.__ran = 'onerror'">
<h2>Storms</h2>
<ul><li>The storm of 1921 broke the gallery glass.</li><li>The storm of 1934 was milder.</li></ul>
<table><tr><th>Year</th><th>Ships</th></tr><tr><td>1921</td><td>14</td></tr></table>
<pre>log --since 1921
  two  spaces kept</pre>
<script>globalThis.__ran = 'body script'</script>
<iframe src="/never-fetched.html"></iframe>
</body></html>`;

const MARKDOWN = `# Field notes

Notes from the granite quarry.

## Tools

- A chisel with a copper handle
- Safety glasses

\`\`\`
drill --depth 40
\`\`\`

<script>globalThis.__ran = 'markdown script'</script>
<img src="/never-fetched-md.png" onerror="globalThis.__ran = 'md onerror'">
`;

/** In the page: loads a fixture or given bytes with localrag/loaders (helpers on globalThis). */
const HELPERS = `
globalThis.fixture = async (name) => new Uint8Array(await (await fetch('./test-fixtures/' + name)).arrayBuffer());
globalThis.tryLoad = async (bytes, options) => {
  const { loadFile } = await import('./pkg/loaders/index.js');
  try { return { ok: true, doc: await loadFile(bytes, options) }; }
  catch (e) { return { ok: false, code: e.code, name: e.name, message: e.message }; }
};
`;

/** What each case is loaded from, in the page: [label, how]. */
const CASES = {
  'manual.pdf': "fixture('manual.pdf').then((b) => tryLoad(b, { name: 'manual.pdf' }))",
  'two-column.pdf': "fixture('two-column.pdf').then((b) => tryLoad(b, { name: 'two-column.pdf' }))",
  'outline.pdf': "fixture('outline.pdf').then((b) => tryLoad(b, { name: 'outline.pdf' }))",
  'mixed-scan.pdf': "fixture('mixed-scan.pdf').then((b) => tryLoad(b, { name: 'mixed-scan.pdf' }))",
  'chinese.pdf': "fixture('chinese.pdf').then((b) => tryLoad(b, { name: 'chinese.pdf' }))",
  'report.docx': "fixture('report.docx').then((b) => tryLoad(b, { name: 'report.docx' }))",
  'scanned.pdf': "fixture('scanned.pdf').then((b) => tryLoad(b, { name: 'scanned.pdf' }))",
  'encrypted.pdf': "fixture('encrypted.pdf').then((b) => tryLoad(b, { name: 'encrypted.pdf' }))",
  'encrypted.pdf, wrong password': "fixture('encrypted.pdf').then((b) => tryLoad(b, { name: 'encrypted.pdf', password: 'nope' }))",
  'encrypted.pdf, password': "fixture('encrypted.pdf').then((b) => tryLoad(b, { name: 'encrypted.pdf', password: 'user-secret' }))",
  'damaged.pdf': "fixture('manual.pdf').then((b) => tryLoad(b.slice(0, 900), { name: 'damaged.pdf' }))",
  'page.html': `tryLoad(new TextEncoder().encode(${JSON.stringify(HTML)}), { name: 'page.html' })`,
  'notes.md': `tryLoad(new TextEncoder().encode(${JSON.stringify(MARKDOWN)}), { name: 'notes.md' })`,
  'utf16le.txt': "tryLoad(new Uint8Array([0xff, 0xfe, ...[...'Küche ☕ ok'].flatMap((c) => [c.charCodeAt(0) & 255, c.charCodeAt(0) >> 8])]), { name: 'utf16le.txt' })",
  'utf16be, no mark.txt': "tryLoad(new Uint8Array([...'plain words here'].flatMap((c) => [0, c.charCodeAt(0)])), { name: 'be.txt' })",
  'windows-1252.txt': "tryLoad(new Uint8Array([0x43, 0x61, 0x66, 0xe9, 0x20, 0x6e, 0x6f, 0x69, 0x72]), { name: 'cafe.txt' })",
  'sheet.xlsx': "tryLoad(new Uint8Array([0x50, 0x4b, 3, 4, 0, 0]), { name: 'sheet.xlsx' })",
  'data.json': "tryLoad(new TextEncoder().encode('{\"note\": \"a JSON file is text\"}'), { name: 'data.json' })",
  'bad option': "tryLoad(new Uint8Array([65]), { name: 'a.txt', pasword: 'x' })",
};

/** The page number of UTF-16 offset `at` in a loaded document. */
function pageAt(doc, at) {
  const pages = doc.structure?.pages ?? [];
  let n = null;
  for (const p of pages) if (p.start <= at) n = p.number;
  return n;
}

function checkLoaded(results) {
  const ok = (k) => {
    assert.equal(results[k].ok, true, `${k}: ${results[k].code} ${results[k].message}`);
    return results[k].doc;
  };
  const fail = (k, code, re) => {
    assert.equal(results[k].ok, false, `${k} loaded`);
    assert.equal(results[k].code, code, `${k}: ${results[k].message}`);
    assert.equal(results[k].name, 'LocalRagError');
    assert.match(results[k].message, re, k);
  };
  // The manual: pages, headings, no header or footer, a joined hyphenation.
  const manual = ok('manual.pdf');
  const m = EXPECT['manual.pdf'];
  assert.equal(manual.metadata.pages, m.pages);
  assert.equal(manual.structure.pages.length, m.pages);
  assert.ok(!manual.text.includes(m.header), 'the running header is dropped');
  assert.ok(!/Page \d/.test(manual.text), 'the running footer is dropped');
  assert.ok(manual.text.includes(m.hyphenated) && !manual.text.includes('configu-'), 'the hyphenated word is joined');
  for (const p of m.passages) {
    const at = manual.text.indexOf(p.text);
    assert.ok(at >= 0, `manual.pdf holds "${p.text}"`);
    assert.equal(pageAt(manual, at), p.page, `"${p.text}" is on page ${p.page}`);
  }
  const headings = manual.structure.headings.map((h) => `${h.level} ${manual.text.slice(h.start, h.end)}`);
  assert.deepEqual(headings, ['1 1 Installation', '2 1.1 Linux', '2 1.2 Windows', '1 2 Configuration', '2 2.1 Network', '2 2.2 Storage', '1 3 Troubleshooting']);
  // Headings in the body's size, found by the outline: as printed, at the outline's depth, in
  // place of their printed line (not twice); the larger title line is not a heading.
  const paper = ok('outline.pdf');
  const o = EXPECT['outline.pdf'];
  assert.deepEqual(paper.structure.headings.map((h) => [h.level, paper.text.slice(h.start, h.end)]), o.headings);
  for (const [, h] of o.headings) assert.equal(paper.text.split(h).length, 2, `"${h}" once in ${paper.text}`);
  assert.ok(paper.text.startsWith(o.title + '\n\n'), paper.text);
  for (const p of o.passages) {
    const at = paper.text.indexOf(p.text);
    assert.ok(at >= 0, `outline.pdf holds "${p.text}"`);
    assert.equal(pageAt(paper, at), p.page, `"${p.text}" is on page ${p.page}`);
  }
  // Two columns: the left one whole, then the right one.
  const cols = ok('two-column.pdf');
  const { left, right } = EXPECT['two-column.pdf'];
  assert.ok(cols.text.includes(left), `the left column in order: ${cols.text}`);
  assert.ok(cols.text.includes(right), 'the right column in order');
  assert.ok(cols.text.indexOf(left) < cols.text.indexOf(right));
  // A scanned page among typed ones: said, not fatal.
  const mixed = ok('mixed-scan.pdf');
  assert.deepEqual(mixed.metadata.pagesWithoutText, EXPECT['mixed-scan.pdf'].pagesWithoutText);
  assert.equal(pageAt(mixed, mixed.text.indexOf('Typed page 3')), 3);
  // Chinese and mixed scripts, whole.
  const zh = ok('chinese.pdf');
  for (const line of EXPECT['chinese.pdf'].lines) assert.ok(zh.text.includes(line), `chinese.pdf holds ${line}: ${zh.text}`);
  assert.equal(zh.title, 'chinese', 'a PDF without a Title is named by its file');
  assert.deepEqual(zh.structure.headings.map((h) => zh.text.slice(h.start, h.end)), ['第一章 长城']);
  // Word: headings, lists, the table.
  const docx = ok('report.docx');
  assert.equal(docx.title, 'Quarterly Report');
  assert.deepEqual(docx.structure.headings.map((h) => docx.text.slice(h.start, h.end)), ['Quarterly Report', 'Risks', 'Next steps']);
  assert.ok(docx.text.includes('- Two suppliers closed their Lisbon plants.'));
  assert.ok(docx.text.includes('2. Audit the warehouse in March.'));
  assert.ok(docx.text.includes('North | 1200'));
  // HTML: structure, no script, no style, no navigation; <pre> verbatim.
  const html = ok('page.html');
  assert.equal(html.title, 'Lighthouse log');
  assert.deepEqual(html.structure.headings.map((h) => html.text.slice(h.start, h.end)), ['Lighthouse log', 'Storms']);
  assert.ok(html.text.includes('The keeper trimmed the wick at dusk every day.'));
  assert.ok(html.text.includes('- The storm of 1934 was milder.'));
  assert.ok(html.text.includes('Year | Ships\n1921 | 14'));
  assert.ok(html.text.includes('log --since 1921\n  two  spaces kept'));
  for (const gone of ['__ran', 'color: red', 'Home', 'About']) assert.ok(!html.text.includes(gone), `page.html text has "${gone}"`);
  const md = ok('notes.md');
  assert.deepEqual(md.structure.headings.map((h) => md.text.slice(h.start, h.end)), ['Field notes', 'Tools']);
  assert.ok(md.text.includes('- A chisel with a copper handle') && md.text.includes('drill --depth 40'));
  assert.ok(!md.text.includes('__ran'));
  // Text encodings.
  assert.equal(ok('utf16le.txt').text, 'Küche ☕ ok');
  assert.equal(ok('utf16be, no mark.txt').text, 'plain words here');
  assert.equal(ok('data.json').text, '{"note": "a JSON file is text"}');
  assert.equal(ok('encrypted.pdf, password').text.includes('The vault combination is 12-34-56.'), true);
  // The typed errors.
  fail('scanned.pdf', 'E_UNSUPPORTED', /no text layer.*OCR/s);
  fail('encrypted.pdf', 'E_UNSUPPORTED', /encrypted.*password/);
  fail('encrypted.pdf, wrong password', 'E_INPUT', /password is wrong/);
  fail('damaged.pdf', 'E_INPUT', /not a readable PDF/);
  fail('windows-1252.txt', 'E_UNSUPPORTED', /not UTF-8 or UTF-16/);
  fail('sheet.xlsx', 'E_UNSUPPORTED', /not supported/);
  fail('bad option', 'E_INPUT', /unknown loadFile option `pasword`/);
}

test('loaders: every format in a page, the same in a Worker; typed errors; nothing runs or is fetched', { timeout: 300_000 }, async () => {
  const context = await env.browser.newContext();
  const page = await context.newPage();
  await openBlank(page, env.server);
  const requests = [];
  page.on('request', (r) => requests.push(r.url()));
  await page.evaluate(HELPERS);
  const run = (where) => page.evaluate(async ({ cases, where }) => {
    if (where === 'page') {
      const out = {};
      for (const [k, how] of Object.entries(cases)) out[k] = await (0, eval)(how);
      return out;
    }
    // A module Worker running the same calls.
    const src = `${HELPERS_SRC}\nself.onmessage = async (e) => { const out = {}; for (const [k, how] of Object.entries(e.data)) out[k] = await (0, eval)(how); postMessage(out); };`;
    const url = URL.createObjectURL(new Blob([src.replaceAll("'./", `'${location.origin}/`)], { type: 'text/javascript' }));
    const w = new Worker(url, { type: 'module' });
    const out = await new Promise((resolve, reject) => {
      w.onmessage = (e) => resolve(e.data);
      w.onerror = (e) => reject(new Error(e.message));
      w.postMessage(cases);
    });
    w.terminate();
    return out;
  }, { cases: CASES, where }).catch((e) => { throw e; });
  await page.evaluate((src) => { globalThis.HELPERS_SRC = src; }, HELPERS);
  const inPage = await run('page');
  checkLoaded(inPage);
  const inWorker = await run('worker');
  checkLoaded(inWorker);
  for (const k of Object.keys(CASES)) {
    assert.deepEqual(inWorker[k], inPage[k], `${k}: the Worker gives what the page gives`);
  }
  assert.equal(await page.evaluate(() => globalThis.__ran), undefined, 'nothing of a document ran');
  const strays = requests.filter((u) => /never-fetched/.test(u));
  assert.deepEqual(strays, [], 'nothing a document points to was fetched');
  await context.close();
});

for (const entry of ['index.js', 'worker.js']) {
  test(`${entry}: loaded files through the API: passages found with their page and heading path, cited with them`, { timeout: 600_000 }, async () => {
    const context = await env.browser.newContext();
    const page = await context.newPage();
    await openBlank(page, env.server);
    const requests = [];
    page.on('request', (r) => requests.push({ url: r.url(), body: r.postData() ?? '' }));
    await page.evaluate(HELPERS);
    const r = await page.evaluate(async ({ entry, EMBEDDER, GENERATOR, HTML, EXPECT }) => {
      const { LocalRag } = await import(`./pkg/${entry}`);
      const { loadFile } = await import('./pkg/loaders/index.js');
      const rag = await LocalRag.open('loaded', { embedder: EMBEDDER, generator: GENERATOR, backend: 'cpu', chunkTokens: 64, chunkOverlap: 8 });
      const docs = [
        await loadFile(await fixture('manual.pdf'), { name: 'manual.pdf', id: 'manual' }),
        await loadFile(await fixture('report.docx'), { name: 'report.docx', id: 'report' }),
        await loadFile(new TextEncoder().encode(HTML), { name: 'page.html', id: 'page' }),
        await loadFile(await fixture('two-column.pdf'), { name: 'two-column.pdf', id: 'columns' }),
        await loadFile(await fixture('outline.pdf'), { name: 'outline.pdf', id: 'paper' }),
        await loadFile(await fixture('chinese.pdf'), { name: 'chinese.pdf', id: 'chinese' }),
        await loadFile(await fixture('mixed-scan.pdf'), { name: 'mixed-scan.pdf', id: 'mixed' }),
        await loadFile(await fixture('encrypted.pdf'), { name: 'encrypted.pdf', id: 'vault', password: 'user-secret' }),
      ];
      // The files that cannot be added say why, through the same entry point.
      const errors = {};
      for (const name of ['scanned.pdf', 'encrypted.pdf']) {
        try { await loadFile(await fixture(name), { name }); } catch (e) { errors[name] = { code: e.code, needsPassword: !!e.needsPassword }; }
      }
      await rag.add(docs);
      const found = [];
      for (const p of EXPECT['manual.pdf'].passages) {
        const hits = await rag.search(p.text, { k: 3, filter: { docIds: ['manual'] } });
        const hit = hits.find((h) => h.text.includes(p.text.slice(0, 40)));
        found.push({ want: p, hit: hit && { pages: hit.pages, headingPath: hit.headingPath, chunkText: hit.text } });
      }
      for (const p of EXPECT['report.docx'].passages) {
        const hits = await rag.search(p.text, { k: 3, filter: { docIds: ['report'] } });
        const hit = hits.find((h) => h.text.includes(p.text));
        found.push({ want: p, hit: hit && { pages: hit.pages ?? null, headingPath: hit.headingPath, chunkText: hit.text } });
      }
      // The other fixtures: a known line of each, its page and heading path.
      const known = [
        { docId: 'columns', text: EXPECT['two-column.pdf'].left.slice(0, 30), page: 1, headingPath: [] },
        { docId: 'columns', text: EXPECT['two-column.pdf'].right.slice(0, 30), page: 1, headingPath: [] },
        { docId: 'chinese', text: EXPECT['chinese.pdf'].lines[0], page: 1, headingPath: ['第一章 长城'] },
        ...EXPECT['outline.pdf'].passages.map((p) => ({ docId: 'paper', ...p })),
        { docId: 'mixed', text: 'Typed page 3', page: 3, headingPath: [] },
        { docId: 'vault', text: 'The vault combination is 12-34-56.', page: 1, headingPath: [] },
      ];
      for (const p of known) {
        const hits = await rag.search(p.text, { k: 3, filter: { docIds: [p.docId] } });
        const hit = hits.find((h) => h.text.includes(p.text));
        found.push({ want: p, hit: hit && { pages: hit.pages ?? null, headingPath: hit.headingPath, chunkText: hit.text } });
      }
      const stored = await rag.get('manual');
      const answer = await rag.ask('Which port does the server listen on by default?', { maxTokens: 24, k: 2 });
      const count = (await rag.list()).length;
      await rag.destroy();
      return {
        found,
        structure: stored.structure,
        chunkLocations: stored.chunks.map((c) => ({ pages: c.pages, headingPath: c.headingPath })),
        passages: answer.passages.map((p) => ({ docId: p.docId, pages: p.pages, headingPath: p.headingPath })),
        answer: { text: answer.answer, sentences: answer.sentences, passages: answer.passages.length },
        errors,
        count,
      };
    }, { entry, EMBEDDER, GENERATOR, HTML, EXPECT });
    for (const { want, hit } of r.found) {
      assert.ok(hit, `"${want.text}" found`);
      if (want.page) assert.deepEqual(hit.pages, [want.page, want.page], `"${want.text}": pages of ${JSON.stringify(hit)}`);
      assert.deepEqual(hit.headingPath, want.headingPath, `"${want.text}": heading path of ${JSON.stringify(hit)}`);
    }
    assert.equal(r.count, 8, 'every readable fixture was added');
    assert.deepEqual(r.errors, {
      'scanned.pdf': { code: 'E_UNSUPPORTED', needsPassword: false },
      'encrypted.pdf': { code: 'E_UNSUPPORTED', needsPassword: true },
    });
    assert.equal(r.structure.pages.length, EXPECT['manual.pdf'].pages, 'get() gives the structure back');
    // Every sentence of the answer is accounted for: cited, inferred from a given passage, or
    // marked unsupported; offsets index the answer.
    assert.ok(r.answer.sentences.length > 0, `the answer has sentences: ${JSON.stringify(r.answer)}`);
    for (const s of r.answer.sentences) {
      assert.ok(['cited', 'inferred', 'unsupported'].includes(s.support), JSON.stringify(s));
      assert.ok(s.start < s.end && s.end <= r.answer.text.length, JSON.stringify(s));
      assert.equal(s.passages.length === 0, s.support === 'unsupported', JSON.stringify(s));
      assert.ok(s.passages.every((n) => n >= 1 && n <= r.answer.passages), JSON.stringify(s));
    }
    assert.ok(r.chunkLocations.every((c) => c.pages && c.headingPath.length > 0), 'every chunk of the manual is located');
    const port = r.passages.find((p) => p.docId === 'manual');
    assert.ok(port, `the manual is among the passages: ${JSON.stringify(r.passages)}`);
    assert.deepEqual(port.pages, [3, 3]);
    assert.deepEqual(port.headingPath, ['2 Configuration', '2.1 Network']);
    // No document text left the page: every request is for the package, the models or a fixture.
    const origin = new URL(env.server.url).origin;
    for (const q of requests) {
      assert.ok(q.url.startsWith(origin), `a request left the origin: ${q.url}`);
      assert.ok(!/keeper|harbour\.toml|Lisbon|12-34-56|长城|user-secret/.test(safeDecode(q.url) + q.body), `a request carries document text: ${q.url}`);
    }
    await context.close();
  });
}
