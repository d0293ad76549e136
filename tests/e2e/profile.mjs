// Profiles a page of www/bench.html with V8's sampling CPU profiler (DevTools protocol) and
// prints the functions with the most self time. For looking into the wasm module: build it with
// its names (`cargo rustc --lib --profile wasm --target wasm32-unknown-unknown --features
// testing -- -C strip=none`, then wasm-bindgen into www/pkg-testing).
// Usage: node tests/e2e/profile.mjs "?suites=compare&compareEngines=localrag-q8_0" [top]
import { startServer, launch } from './browser.mjs';

const query = process.argv[2] ?? '';
const top = Number(process.argv[3] ?? 30);
const server = await startServer('www', 8769);
const browser = await launch();
try {
  const page = await browser.newPage();
  const client = await page.context().newCDPSession(page);
  await client.send('Profiler.enable');
  await client.send('Profiler.setSamplingInterval', { interval: 200 });
  await client.send('Profiler.start');
  await page.goto(`${server.url}bench.html${query}`);
  await page.waitForSelector('body[data-state=done]', { timeout: 3_600_000 });
  const { profile } = await client.send('Profiler.stop');
  const self = new Map();
  const dt = new Map();
  profile.samples.forEach((id, i) => dt.set(id, (dt.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  let total = 0;
  for (const node of profile.nodes) {
    const t = dt.get(node.id) ?? 0;
    total += t;
    const name = node.callFrame.functionName || `(${node.callFrame.url.split('/').pop()})`;
    self.set(name, (self.get(name) ?? 0) + t);
  }
  const rows = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, top);
  for (const [name, t] of rows) console.log(`${(100 * t / total).toFixed(1).padStart(5)}%  ${name.slice(0, 150)}`);
} finally {
  await browser.close();
  server.close();
}
