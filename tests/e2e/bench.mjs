// `make bench`, browser half: runs www/bench.html in headless Chromium (WebGPU on SwiftShader)
// and prints one JSON object per line.
import { startServer, launch } from './browser.mjs';
import { execFileSync } from 'node:child_process';

function rendererRss() {
  const out = execFileSync('ps', ['-C', 'chromium', '-o', 'rss=,args='], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l.includes('--type=renderer'))
    .reduce((sum, l) => sum + Number(l.trim().split(/\s+/)[0]) * 1024, 0);
}

const query = process.argv[2] ?? '';
// `isolated=1`: served with COOP/COEP, so that the page may run the threaded module.
const server = await startServer('www', 8768, { isolated: /[?&]isolated=1(&|$)/.test(query) });
const browser = await launch();
try {
  const page = await browser.newPage();
  // The resident memory of Chromium's renderer processes (the page and its workers), in bytes.
  await page.exposeFunction('rendererRss', () => rendererRss());
  // An uncaught error ends the run instead of waiting for the page to finish.
  const failed = new Promise((_, reject) => page.on('pageerror', (e) => reject(new Error(`page error: ${e.message}`))));
  // Rows are printed as they finish (stderr), the full list at the end (stdout).
  page.on('console', (m) => { if (m.text().startsWith('bench-row ')) console.error(m.text().slice(10)); });
  await page.goto(`${server.url}bench.html${query}`);
  await Promise.race([page.waitForSelector('body[data-state=done]', { timeout: 3_600_000 }), failed]);
  for (const row of await page.evaluate(() => window.benchResults)) console.log(JSON.stringify(row));
  const ua = await page.evaluate(() => navigator.userAgent);
  console.log(JSON.stringify({ where: 'browser', userAgent: ua }));
} finally {
  await browser.close();
  server.close();
}
