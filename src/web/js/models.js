// Model files: the one owner of fetching them (same origin unless allowed), streaming with
// progress, an optional pinned SHA-256, and the Cache API. The wasm loaders take the bytes.
import { LocalRagError, abortedError, baseHref, isPlainObject } from './shared.js';
import { EMBEDDER_FILES } from './contract.js';

/** The Cache API store of downloaded model files. */
export const MODEL_CACHE = 'localrag-models-v1';

/** The options of `open`/`import` this module reads. */
export const MODEL_KEYS = Object.freeze(['embedder', 'generator', 'allowCrossOrigin', 'cache']);

const input = (message) => new LocalRagError('E_INPUT', message);

const isBytes = (v) => v instanceof ArrayBuffer || ArrayBuffer.isView(v);
const toBytes = (v) => (v instanceof ArrayBuffer ? new Uint8Array(v) : new Uint8Array(v.buffer, v.byteOffset, v.byteLength));

function checkSha(v, what) {
  if (typeof v !== 'string' || !/^[0-9a-fA-F]{64}$/.test(v)) throw input(`${what} must be 64 hex digits (a SHA-256)`);
  return v.toLowerCase();
}

function checkBool(options, key, fallback) {
  const v = options[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'boolean') throw input(`${key} must be a boolean`);
  return v;
}

function checkKeys(value, allowed, what) {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) throw input(`unknown ${what} option \`${key}\` (known: ${allowed.join(', ')})`);
  }
}

/** Hex SHA-256 with WebCrypto; `fallback(bytes)` where it is missing (insecure contexts). */
async function sha256(bytes, fallback) {
  if (globalThis.crypto?.subtle) {
    const d = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
    return Array.from(d, (b) => b.toString(16).padStart(2, '0')).join('');
  }
  return fallback(bytes);
}

async function openCache(enabled) {
  if (!enabled || typeof caches === 'undefined') return null;
  try {
    return await caches.open(MODEL_CACHE);
  } catch {
    return null; // e.g. an opaque origin: work without the cache
  }
}

/** Removes the cached model files. */
export async function clearModelCache() {
  if (typeof caches !== 'undefined') await caches.delete(MODEL_CACHE);
}

/**
 * The bytes of one model file. A cached copy is used when present (and when it matches the
 * pinned hash); otherwise the file is downloaded as a stream with progress, checked, and only
 * then cached, so an interrupted download leaves nothing behind and the next try starts clean.
 * An optional file that the server does not have (404) gives null, and that is cached too.
 */
async function modelFile(url, { sha, optional, cache, allowCrossOrigin, progress, signal, hash }) {
  let abs;
  try {
    abs = new URL(url, baseHref()).href;
  } catch {
    throw input(`\`${url}\` is not a valid URL`);
  }
  const here = globalThis.location?.origin;
  if (!allowCrossOrigin && here && new URL(abs).origin !== here) {
    throw new LocalRagError(
      'E_MODEL_FETCH',
      `${abs} is on another origin than this page (${here}); model files come from the page's own origin unless you pass allowCrossOrigin: true`,
    );
  }
  if (signal?.aborted) throw abortedError('loading the models');
  const store = await openCache(cache);
  if (store) {
    const hit = await store.match(abs).catch(() => undefined);
    if (hit) {
      if (hit.headers.get('x-localrag-missing') === '1') return null;
      const bytes = new Uint8Array(await hit.arrayBuffer());
      if (!sha || (await sha256(bytes, hash)) === sha) {
        progress({ stage: 'download', file: abs, loaded: bytes.length, total: bytes.length, cached: true });
        return bytes;
      }
      await store.delete(abs).catch(() => {}); // stale or damaged: download again
    }
  }
  let response;
  try {
    response = await fetch(abs, { signal: signal ?? undefined, credentials: 'same-origin' });
  } catch (e) {
    if (signal?.aborted) throw abortedError('loading the models');
    throw new LocalRagError('E_MODEL_FETCH', `could not download ${abs}: ${e?.message ?? e}; check the connection and try again`);
  }
  if (!response.ok) {
    if (optional && response.status === 404) {
      await store?.put(abs, new Response(null, { status: 200, headers: { 'x-localrag-missing': '1' } })).catch(() => {});
      return null;
    }
    throw new LocalRagError('E_MODEL_FETCH', `could not download ${abs}: HTTP ${response.status} ${response.statusText}`.trim());
  }
  const encoded = response.headers.get('content-encoding');
  const total = encoded ? 0 : Number(response.headers.get('content-length')) || 0;
  const parts = [];
  let loaded = 0;
  try {
    const reader = response.body.getReader();
    progress({ stage: 'download', file: abs, loaded, total, cached: false });
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      parts.push(value);
      loaded += value.length;
      progress({ stage: 'download', file: abs, loaded, total, cached: false });
    }
  } catch (e) {
    if (signal?.aborted) throw abortedError('loading the models');
    throw new LocalRagError(
      'E_MODEL_FETCH',
      `the download of ${abs} was interrupted after ${loaded} bytes (${e?.message ?? e}); nothing was kept, try again`,
    );
  }
  if (total && loaded !== total) {
    throw new LocalRagError('E_MODEL_FETCH', `the download of ${abs} ended after ${loaded} of ${total} bytes; nothing was kept, try again`);
  }
  const bytes = new Uint8Array(loaded);
  let at = 0;
  for (const p of parts) {
    bytes.set(p, at);
    at += p.length;
  }
  parts.length = 0;
  if (sha) {
    const got = await sha256(bytes, hash);
    if (got !== sha) {
      throw new LocalRagError('E_MODEL_FETCH', `${abs} has SHA-256 ${got}, not the expected ${sha}; it was not used or cached`);
    }
  }
  if (store) {
    const headers = { 'content-type': 'application/octet-stream', 'content-length': String(bytes.length) };
    await store.put(abs, new Response(bytes, { headers })).catch(() => {}); // a full quota only costs the cache
  }
  return bytes;
}

const EMBEDDER_HELP = 'the `embedder` option is required: a folder URL, a `.gguf` file URL, or { url, model, config, tokenizer, sha256, prompts }';

/** Whether a URL names a single GGUF file (its path ends in `.gguf`), not a folder. */
function isGgufUrl(u) {
  return /\.gguf$/i.test(u.split(/[?#]/)[0]);
}

/** Checks the model options of `open` without fetching anything; returns the fetch settings. */
export function checkModelOptions(o) {
  const embedder = o.embedder;
  if (embedder === undefined || embedder === null) throw input(EMBEDDER_HELP);
  if (typeof embedder === 'string') {
    if (embedder.length === 0) throw input('the embedder URL is empty');
  } else if (isPlainObject(embedder)) {
    checkKeys(embedder, ['url', 'sha256', 'prompts', ...EMBEDDER_FILES.map((f) => f.key)], 'embedder');
    if (embedder.prompts !== undefined && !isPlainObject(embedder.prompts)) {
      throw input("embedder.prompts must be an object like { query: 'query: ', passage: 'passage: ' }");
    }
    if (embedder.url !== undefined && typeof embedder.url !== 'string') throw input('embedder.url must be a string');
    if (embedder.url === '') throw input('the embedder URL is empty');
    if (embedder.sha256 !== undefined) {
      if (!isPlainObject(embedder.sha256)) throw input("embedder.sha256 must map file names to hashes, e.g. { 'model.safetensors': '…' }");
      for (const [f, h] of Object.entries(embedder.sha256)) checkSha(h, `embedder.sha256['${f}']`);
    }
    for (const { key, required } of EMBEDDER_FILES) {
      const v = embedder[key];
      if (v !== undefined && v !== null && !isBytes(v) && typeof v !== 'string') {
        throw input(`embedder.${key} must be a URL string, an ArrayBuffer or a Uint8Array`);
      }
      if (required && (v === undefined || v === null) && embedder.url === undefined) {
        throw input(`embedder.${key} is required when no folder url is given`);
      }
    }
  } else {
    throw input(EMBEDDER_HELP);
  }
  const generator = o.generator;
  if (generator !== undefined && generator !== null && !isBytes(generator) && typeof generator !== 'string') {
    if (!isPlainObject(generator)) throw input('generator must be a URL string, { url, sha256 }, an ArrayBuffer or a Uint8Array');
    checkKeys(generator, ['url', 'sha256'], 'generator');
    if (typeof generator.url !== 'string') throw input('generator.url must be a string');
    if (generator.sha256 !== undefined) checkSha(generator.sha256, 'generator.sha256');
  }
  return { cache: checkBool(o, 'cache', true), allowCrossOrigin: checkBool(o, 'allowCrossOrigin', false) };
}

/**
 * The embedder's files as bytes, keyed as `Embedder.load` takes them, from a folder URL and/or
 * per-file URLs or bytes. `fetchOpts`: { cache, allowCrossOrigin, progress, signal, hash }.
 */
export async function embedderFiles(source, fetchOpts) {
  let given = typeof source === 'string' ? { url: source } : source;
  // A `.gguf` URL is the model alone: the file carries its config and vocabulary.
  if (typeof given.url === 'string' && isGgufUrl(given.url)) {
    const { url, ...rest } = given;
    given = { ...rest, model: given.model ?? url };
  }
  const fileName = (u) => u.split(/[?#]/)[0].split('/').pop();
  const hashes = Object.fromEntries(Object.entries(given.sha256 ?? {}).map(([f, h]) => [f, checkSha(h, f)]));
  const folder = given.url ?? null;
  const base = folder === null ? null : new URL(folder.endsWith('/') ? folder : `${folder}/`, baseHref());
  const out = {};
  for (const { key, path, fallback, required } of EMBEDDER_FILES) {
    const v = given[key];
    if (v !== undefined && v !== null) {
      const sha = (typeof v === 'string' ? hashes[fileName(v)] : undefined) ?? hashes[path] ?? (fallback ? hashes[fallback] : undefined) ?? null;
      out[key] = isBytes(v) ? toBytes(v) : await modelFile(v, { ...fetchOpts, sha, optional: false });
    } else if (base !== null) {
      // The first of the file's names the folder has (the model: GGUF, then safetensors).
      const names = fallback ? [path, fallback] : [path];
      for (const [i, name] of names.entries()) {
        const last = i === names.length - 1;
        const bytes = await modelFile(new URL(name, base).href, { ...fetchOpts, sha: hashes[name] ?? null, optional: !(required && last) });
        if (bytes) {
          out[key] = bytes;
          break;
        }
      }
    }
  }
  if (given.prompts !== undefined) out.prompts = given.prompts;
  return out;
}

/** The generator's GGUF file as bytes, or null without one. */
export async function generatorFile(source, fetchOpts) {
  if (source === undefined || source === null) return null;
  if (isBytes(source)) return toBytes(source);
  if (typeof source === 'string') return modelFile(source, { ...fetchOpts, sha: null, optional: false });
  const sha = source.sha256 === undefined ? null : checkSha(source.sha256, 'generator.sha256');
  return modelFile(source.url, { ...fetchOpts, sha, optional: false });
}
