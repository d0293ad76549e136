// Shared by the end-to-end tests and the browser benchmark: a loopback static server and
// Debian's Chromium with WebGPU (SwiftShader), driven by playwright-core (no browser download).
import { spawn } from 'node:child_process';
import { before, after } from 'node:test';
import { chromium } from 'playwright-core';

export const ROOT = new URL('../../', import.meta.url).pathname;

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--enable-unsafe-webgpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];

/** The models a knowledge-base test runs, by the name its environment variable gives:
 * `slices`, the two-block slices of the shipped models (tests/reference/make_slices.py: their
 * tokenizers, prompt format and kernels; `make test`), or `real`, the shipped MiniLM Q8_0 and
 * SmolLM2 Q4_1. Paths are relative to www/. */
export function modelSet(variable) {
  const name = process.env[variable] ?? 'slices';
  const models = {
    slices: { embedder: './test-models/slices/minilm-slice.gguf', generator: './test-models/slices/smollm2-slice.gguf' },
    real: { embedder: './models/all-MiniLM-L6-v2-Q8_0.gguf', generator: './models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf' },
  }[name];
  if (!models) throw new Error(`${variable}=${name}: slices or real`);
  return { name, ...models };
}

/** A loopback static server for `dir`; `isolated`: with the COOP/COEP headers; `cors`: with
 * `Access-Control-Allow-Origin: *`. */
export async function startServer(dir, port, { isolated = false, cors = false } = {}) {
  const args = [`${ROOT}tests/serve.py`, '--dir', dir, '--port', String(port), ...(isolated ? ['--isolated'] : []),
    ...(cors ? ['--cors'] : [])];
  const proc = spawn('python3', args, {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}/`;
  for (let i = 0; i < 100; i++) {
    try {
      const r = await fetch(url);
      if (r.ok) return { url, isolated, close: () => proc.kill() };
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  proc.kill();
  throw new Error(`server on ${url} did not start`);
}

/** Opens an empty page of `server`'s origin: a path it does not have, so that the page is
 * the server's own response (with its headers), and Chromium counts it as a loopback page that
 * may fetch from the other loopback servers (a routed page may not). */
export async function openBlank(page, server) {
  await page.goto(`${server.url}__blank__`);
}

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_ARGS,
  });
}

/** For node:test files: a loopback server for `dir` and one Chromium, started before the file's
 * tests and closed after them. `server` and `browser` of the returned object are set by then. */
export function serveAndLaunch(dir, port, options) {
  const env = { server: null, browser: null };
  before(async () => {
    env.server = await startServer(dir, port, options);
    env.browser = await launch();
  });
  after(async () => {
    await env.browser?.close();
    env.server?.close();
  });
  return env;
}
