// End to end: the served demo page in headless Chromium embeds sentences on WebGPU and on the
// CPU, and the similarity matrix it shows matches the golden embeddings of the numpy reference.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ROOT, startServer, launch } from './browser.mjs';

const golden = JSON.parse(readFileSync(`${ROOT}tests/fixtures/embeddings.json`, 'utf8'));
const PORT = 8767;
let server, browser;

before(async () => {
  server = await startServer('www', PORT);
  browser = await launch();
});
after(async () => {
  await browser?.close();
  server?.close();
});

const dot = (a, b) => a.reduce((s, x, i) => s + x * b[i], 0);

// Cases the user could type as lines: no line breaks, no surrounding whitespace.
const typed = golden.cases.filter((c) => c.text === c.text.trim() && !/[\r\n]/.test(c.text) && c.text.length > 0);

for (const backend of ['webgpu', 'cpu']) {
  test(`demo shows golden similarities on ${backend}`, { timeout: 600_000 }, async () => {
    const page = await browser.newPage();
    const requests = [];
    page.on('request', (r) => requests.push(r.url()));
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${server.url}?backend=${backend}`);
    await page.waitForSelector('body[data-state=ready]', { timeout: 300_000 });
    assert.equal(await page.textContent('[data-testid=backend]'), backend);

    const chosen = [...typed.slice(0, 4), ...typed.slice(20, 24)];
    await page.fill('[data-testid=sentences]', chosen.map((c) => c.text).join('\n'));
    await page.click('[data-testid=compare]');
    await page.waitForSelector('body[data-state=done]', { timeout: 300_000 });

    const cells = await page.$$eval('[data-testid=matrix] td', (tds) =>
      tds.map((td) => ({ i: +td.dataset.i, j: +td.dataset.j, value: +td.dataset.value, shown: td.textContent })));
    assert.equal(cells.length, chosen.length * chosen.length);
    for (const { i, j, value, shown } of cells) {
      const expected = dot(chosen[i].embedding, chosen[j].embedding);
      assert.ok(Math.abs(value - expected) < 2e-3, `${backend} [${i},${j}] ${value} vs golden ${expected}`);
      assert.equal(shown, value.toFixed(4));
    }
    // The paraphrase pair is the most similar pair among the demo sentences.
    const at = (i, j) => cells.find((c) => c.i === i && c.j === j).value;
    assert.ok(at(0, 1) > at(0, 2) + 0.2 && at(0, 1) > at(0, 3) + 0.2);

    assert.deepEqual(errors, []);
    // Privacy: every request stays on the page's own origin.
    for (const url of requests) assert.ok(url.startsWith(server.url), `request left the origin: ${url}`);
    await page.close();
  });
}

test('demo renders user text as text, not HTML', { timeout: 600_000 }, async () => {
  const page = await browser.newPage();
  await page.goto(`${server.url}?backend=cpu`);
  await page.waitForSelector('body[data-state=ready]', { timeout: 300_000 });
  await page.fill('[data-testid=sentences]', '<img src=x onerror="window.pwned=1">\nplain');
  await page.click('[data-testid=compare]');
  await page.waitForSelector('body[data-state=done]', { timeout: 300_000 });
  assert.equal(await page.evaluate(() => window.pwned), undefined);
  assert.equal(await page.$$eval('[data-testid=matrix] img', (x) => x.length), 0);
  await page.close();
});

test('demo: add documents, ask, see the streamed answer with its passages; text never leaves the page', { timeout: 900_000 }, async () => {
  const page = await browser.newPage();
  const requests = [];
  page.on('request', (r) => requests.push({ url: r.url(), body: r.postData() ?? '' }));
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${server.url}?backend=cpu&kb=e2e-ask`);
  await page.waitForSelector('body[data-state=ready]', { timeout: 300_000 });

  // A document typed in, and two as files (HTML is reduced to its text).
  const secret = 'The Eiffel Tower in Paris was completed in 1889 as the entrance arch to the World\'s Fair. It is 330 metres tall.';
  await page.fill('[data-testid=doc-title]', 'Eiffel Tower');
  await page.fill('[data-testid=doc-text]', secret);
  await page.click('[data-testid=add]');
  await page.waitForSelector('body[data-docs="1"]', { timeout: 300_000 });
  await page.setInputFiles('[data-testid=files]', [
    { name: 'bees.txt', mimeType: 'text/plain', buffer: Buffer.from('A honey bee colony has one queen, who lays up to 2,000 eggs a day in summer.') },
    { name: 'tides.html', mimeType: 'text/html', buffer: Buffer.from('<html><body><h1>Tides</h1><p>Tides are caused by the <b>gravity</b> of the Moon.</p><img src=x onerror="window.pwned=1"></body></html>') },
  ]);
  await page.waitForSelector('body[data-docs="3"]', { timeout: 300_000 });
  const listed = await page.$$eval('[data-testid=docs] li', (lis) => lis.map((li) => li.dataset.id));
  assert.ok(listed.includes('bees.txt') && listed.includes('tides.html'), `listed: ${listed}`);

  // Ask: the answer streams in (it grows over time) and names the year; passages are listed.
  const seen = [];
  const poll = setInterval(async () => {
    try { seen.push(await page.textContent('[data-testid=answer]')); } catch {}
  }, 200);
  await page.fill('[data-testid=question]', 'When was the Eiffel Tower completed?');
  await page.click('[data-testid=ask]');
  await page.waitForSelector('body[data-ask=done]', { timeout: 600_000 });
  clearInterval(poll);
  const answer = await page.textContent('[data-testid=answer]');
  assert.match(answer, /1889/);
  const partial = seen.filter((s) => s && s.length > 0 && s.length < answer.length);
  assert.ok(partial.length > 0, 'the answer was shown before it was complete');
  const passages = await page.$$eval('[data-testid=citations] li', (lis) => lis.map((li) => li.textContent));
  assert.ok(passages.length >= 1 && passages[0].includes('Eiffel Tower'), `passages: ${passages}`);
  // Revealing a passage shows its text.
  await page.click('[data-testid=citations] li button');
  assert.equal(await page.textContent('[data-testid=citations] li .passage'), secret);

  // Remove a document.
  await page.click('[data-testid=docs] li[data-id="bees.txt"] button');
  await page.waitForSelector('body[data-docs="2"]', { timeout: 300_000 });

  assert.equal(await page.evaluate(() => window.pwned), undefined);
  assert.deepEqual(errors, []);
  // Privacy: every request stays on the page's origin and carries no document text.
  for (const { url, body } of requests) {
    assert.ok(url.startsWith(server.url), `request left the origin: ${url}`);
    for (const words of ['Eiffel', 'honey bee', 'Moon']) {
      assert.ok(!decodeURIComponent(url).includes(words) && !body.includes(words), `document text in a request: ${url}`);
    }
  }
  await page.evaluate(() => indexedDB.deleteDatabase('localrag:e2e-ask'));
  await page.close();
});
