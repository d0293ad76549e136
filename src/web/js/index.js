// localrag: private retrieval-augmented generation inside a web page.
//
// `LocalRag` on the calling thread (a page, or the Worker of 'localrag/worker'). It fetches and
// caches the model files, loads them into the wasm module (Burn on WebGPU or the CPU), opens
// the knowledge base in IndexedDB, and keeps several tabs consistent: writes are serialized
// with a Web Lock per knowledge base, every read first checks the stored write counter, and a
// BroadcastChannel tells the other tabs at once. Types: index.d.ts.
import init, { Embedder, Generator, KnowledgeBase, onPanic, sha256Hex } from './localrag.js';
import {
  LocalRagError, abortedError, fromCoded, checkKeys, checkSignal, callSafely, fileBytes, baseHref,
  isPlainObject as isObject, EMBEDDER_FILES, OPEN_KEYS, IMPORT_KEYS, ADD_KEYS, SEARCH_KEYS, ASK_KEYS,
} from './shared.js';

export { LocalRagError, ERROR_CODES } from './shared.js';

const MODEL_CACHE = 'localrag-models-v1';
// ---- the wasm module: one per thread, shared by every instance ----

let ready = null;
let brokenReason = null;
const inFlight = new Set();

function start() {
  ready ??= init()
    .then(() => onPanic((message) => breakAll(message)))
    .catch((e) => {
      ready = null;
      throw new LocalRagError('E_UNSUPPORTED', `the WebAssembly module could not start: ${e?.message ?? e}`);
    });
  return ready;
}

function brokenError() {
  return new LocalRagError(
    'E_BROKEN',
    `localrag hit an internal error and cannot be used any more; reload the page (${brokenReason})`,
  );
}

/** After a panic the module's state is unknown: fail everything now and from now on. */
function breakAll(reason) {
  brokenReason ??= String(reason);
  for (const reject of inFlight) reject(brokenError());
  inFlight.clear();
}

function toError(e) {
  const coded = fromCoded(e);
  if (coded) return coded;
  if (e instanceof WebAssembly.RuntimeError || brokenReason) {
    breakAll(e?.message ?? e);
    return brokenError();
  }
  return e;
}

/** Runs `fn` against the module; its failure becomes a LocalRagError, a panic E_BROKEN. */
function guarded(fn) {
  if (brokenReason) return Promise.reject(brokenError());
  return new Promise((resolve, reject) => {
    inFlight.add(reject);
    Promise.resolve()
      .then(fn)
      .then(resolve, (e) => reject(toError(e)))
      .finally(() => inFlight.delete(reject));
  });
}

// ---- option checks ----

const input = (message) => new LocalRagError('E_INPUT', message);

function checkFunction(options, key) {
  const f = options[key];
  if (f !== undefined && f !== null && typeof f !== 'function') throw input(`${key} must be a function`);
  return f ?? null;
}

function checkBackend(options, key) {
  const b = options[key];
  if (b === undefined || b === null) return undefined;
  if (!['auto', 'webgpu', 'cpu'].includes(b)) throw input(`${key} \`${b}\` is not one of 'auto', 'webgpu', 'cpu'`);
  return b;
}

function checkBool(options, key, fallback) {
  const v = options[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'boolean') throw input(`${key} must be a boolean`);
  return v;
}

function checkName(name) {
  if (typeof name !== 'string' || name.length === 0 || name.length > 200) {
    throw input('a knowledge base name must be a string of 1 to 200 characters');
  }
}

const isBytes = (v) => v instanceof ArrayBuffer || ArrayBuffer.isView(v);
const toBytes = (v) => (v instanceof ArrayBuffer ? new Uint8Array(v) : new Uint8Array(v.buffer, v.byteOffset, v.byteLength));

function checkSha(v, what) {
  if (typeof v !== 'string' || !/^[0-9a-fA-F]{64}$/.test(v)) throw input(`${what} must be 64 hex digits (a SHA-256)`);
  return v.toLowerCase();
}

// ---- model files: fetch with progress, optional SHA-256, Cache API ----

async function sha256(bytes) {
  if (globalThis.crypto?.subtle) {
    const d = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
    return Array.from(d, (b) => b.toString(16).padStart(2, '0')).join('');
  }
  await start();
  return sha256Hex(bytes);
}

async function openCache(enabled) {
  if (!enabled || typeof caches === 'undefined') return null;
  try {
    return await caches.open(MODEL_CACHE);
  } catch {
    return null; // e.g. an opaque origin: work without the cache
  }
}

/**
 * The bytes of one model file. A cached copy is used when present (and when it matches the
 * pinned hash); otherwise the file is downloaded as a stream with progress, checked, and only
 * then cached, so an interrupted download leaves nothing behind and the next try starts clean.
 * An optional file that the server does not have (404) gives null, and that is cached too.
 */
async function modelFile(url, { sha, optional, cache, allowCrossOrigin, progress, signal }) {
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
      if (!sha || (await sha256(bytes)) === sha) {
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
    const got = await sha256(bytes);
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

/** The embedder's files as bytes, from a folder URL and/or per-file URLs or bytes. */
async function embedderFiles(source, fetchOpts) {
  let folder = null;
  let hashes = {};
  let given = {};
  if (typeof source === 'string') {
    folder = source;
  } else if (isObject(source)) {
    checkKeys(source, ['url', 'sha256', ...EMBEDDER_FILES.map(([k]) => k)], 'embedder');
    if (source.url !== undefined && typeof source.url !== 'string') throw input('embedder.url must be a string');
    folder = source.url ?? null;
    if (source.sha256 !== undefined) {
      if (!isObject(source.sha256)) throw input("embedder.sha256 must map file names to hashes, e.g. { 'model.safetensors': '…' }");
      hashes = Object.fromEntries(Object.entries(source.sha256).map(([f, h]) => [f, checkSha(h, `embedder.sha256['${f}']`)]));
    }
    given = source;
  } else {
    throw input('the `embedder` option is required: a folder URL or { url, model, config, tokenizer, sha256 }');
  }
  if (folder !== null && folder.length === 0) throw input('the embedder URL is empty');
  const base = folder === null ? null : folder.endsWith('/') ? folder : `${folder}/`;
  const out = {};
  for (const [key, file, required] of EMBEDDER_FILES) {
    const v = given[key];
    if (v !== undefined && v !== null) {
      if (isBytes(v)) out[key] = toBytes(v);
      else if (typeof v === 'string') out[key] = await modelFile(v, { ...fetchOpts, sha: hashes[file] ?? null, optional: false });
      else throw input(`embedder.${key} must be a URL string, an ArrayBuffer or a Uint8Array`);
    } else if (base !== null) {
      const bytes = await modelFile(new URL(file, new URL(base, baseHref())).href, { ...fetchOpts, sha: hashes[file] ?? null, optional: !required });
      if (bytes) out[key] = bytes;
    } else if (required) {
      throw input(`embedder.${key} is required when no folder url is given`);
    }
  }
  return out;
}

async function generatorFile(source, fetchOpts) {
  if (isBytes(source)) return toBytes(source);
  if (typeof source === 'string') return modelFile(source, { ...fetchOpts, sha: null, optional: false });
  if (isObject(source)) {
    checkKeys(source, ['url', 'sha256'], 'generator');
    if (typeof source.url !== 'string') throw input('generator.url must be a string');
    const sha = source.sha256 === undefined ? null : checkSha(source.sha256, 'generator.sha256');
    return modelFile(source.url, { ...fetchOpts, sha, optional: false });
  }
  throw input('generator must be a URL string, { url, sha256 }, an ArrayBuffer or a Uint8Array');
}

// ---- many tabs ----

function withWriteLock(name, fn) {
  const locks = globalThis.navigator?.locks;
  return locks ? locks.request(`localrag:${name}`, fn) : fn();
}

function channelFor(name) {
  return typeof BroadcastChannel === 'undefined' ? null : new BroadcastChannel(`localrag:${name}`);
}

// ---- the API ----

const secret = Symbol('LocalRag');

export class LocalRag {
  #name;
  #kb;
  #embedder;
  #generator;
  #channel;
  #listeners = new Set();
  #closed = false;

  constructor(key, name, kb, embedder, generator) {
    if (key !== secret) throw new TypeError('use LocalRag.open(name, options)');
    this.#name = name;
    this.#kb = kb;
    this.#embedder = embedder;
    this.#generator = generator;
    this.#channel = channelFor(name);
    if (this.#channel) {
      this.#channel.onmessage = (ev) => {
        if (this.#closed || !ev.data || typeof ev.data.generation !== 'number') return;
        // Another tab wrote: reload now, so the next call is quick, and tell the listeners.
        this.#refresh().then((g) => this.#emit(g, true), () => {});
      };
    }
  }

  /** Downloads (or takes from the cache) the models, loads them, opens the knowledge base. */
  static open(name, options) {
    return guarded(() => openOrImport(name, options, null, OPEN_KEYS));
  }

  /** Creates the knowledge base `name` from an export file and opens it. */
  static import(name, file, options) {
    return guarded(async () => openOrImport(name, options, await fileBytes(file), IMPORT_KEYS));
  }

  /** Deletes a knowledge base and everything it stored. */
  static destroy(name) {
    return guarded(async () => {
      checkName(name);
      await start();
      // Instances open on it (in any tab) let go of their connection when it is deleted.
      await withWriteLock(name, () => KnowledgeBase.destroyByName(name));
    });
  }

  /** Removes the cached model files. */
  static async clearModelCache() {
    if (typeof caches !== 'undefined') await caches.delete(MODEL_CACHE);
  }

  get name() { return this.#name; }
  get backend() { return this.#embedder.backend; }
  get generatorBackend() { return this.#generator?.backend ?? null; }
  get dim() { return this.#embedder.dim; }
  get broken() { return brokenReason !== null; }

  #check() {
    if (this.#closed) throw new LocalRagError('E_CLOSED', `knowledge base "${this.#name}" is closed`);
  }

  /** Catches up with other tabs' writes; resolves to the write counter now loaded. */
  async #refresh() {
    return (await this.#kb.refresh()).generation;
  }

  #emit(generation, remote) {
    for (const f of this.#listeners) callSafely(f, { generation, remote });
  }

  /** A write: under the knowledge base's lock, on fresh data, announced to the other tabs. */
  #write(fn) {
    return guarded(async () => {
      this.#check();
      return withWriteLock(this.#name, async () => {
        const before = await this.#refresh();
        const result = await fn();
        const after = await this.#refresh();
        if (after !== before) {
          this.#channel?.postMessage({ generation: after });
          this.#emit(after, false);
        }
        return result;
      });
    });
  }

  /** A read: first catch up with what other tabs wrote. */
  #read(fn) {
    return guarded(async () => {
      this.#check();
      await this.#refresh();
      return fn();
    });
  }

  add(docs, options) {
    return this.#write(() => {
      const o = checkKeys(options, ADD_KEYS, 'add');
      const onProgress = checkFunction(o, 'onProgress');
      const signal = checkSignal(o);
      const report = onProgress ? (p) => onProgress({ stage: p.stage, loaded: p.done, total: p.total }) : undefined;
      return this.#kb.add(docs, { onProgress: report, signal: signal ?? undefined });
    });
  }

  search(query, options) {
    return this.#read(() => this.#kb.search(query, checkKeys(options, SEARCH_KEYS, 'search')));
  }

  ask(question, options) {
    return this.#read(() => this.#kb.ask(question, checkKeys(options, ASK_KEYS, 'ask')));
  }

  remove(ids) {
    return this.#write(() => this.#kb.remove(ids));
  }

  get(id) {
    return this.#read(() => {
      if (typeof id !== 'string') throw input('get() takes a document id (a string)');
      return this.#kb.get(id);
    });
  }

  list() {
    return this.#read(() => this.#kb.list());
  }

  stats() {
    return this.#read(async () => ({
      ...(await this.#kb.stats()),
      backend: this.backend,
      generatorBackend: this.generatorBackend,
    }));
  }

  embed(texts) {
    return guarded(() => {
      this.#check();
      return this.#embedder.embed(texts);
    });
  }

  export() {
    return this.#read(() => this.#kb.export());
  }

  onChange(listener) {
    if (typeof listener !== 'function') throw input('onChange takes a function');
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Closes the database and frees the models; later calls fail with E_CLOSED. */
  close() {
    return guarded(async () => {
      if (this.#closed) return;
      this.#closed = true;
      this.#channel?.close();
      this.#listeners.clear();
      await this.#kb.close();
      this.#kb.free();
      this.#embedder.free();
      this.#generator?.free();
    });
  }

  /** Closes and deletes this knowledge base. */
  async destroy() {
    await this.close();
    await LocalRag.destroy(this.#name);
  }
}

async function openOrImport(name, options, file, keys) {
  checkName(name);
  if (!isObject(options)) throw input('open needs an options object with at least `embedder`');
  const o = checkKeys(options, keys, file ? 'import' : 'open');
  if (o.embedder === undefined || o.embedder === null) {
    throw input('the `embedder` option is required: a folder URL or { url, model, config, tokenizer, sha256 }');
  }
  const backend = checkBackend(o, 'backend') ?? 'auto';
  const generatorBackend = checkBackend(o, 'generatorBackend') ?? backend;
  if (o.cpuBackend !== undefined && !['flex', 'ndarray'].includes(o.cpuBackend)) {
    throw input(`cpuBackend \`${o.cpuBackend}\` is not one of 'flex', 'ndarray'`);
  }
  const onProgress = checkFunction(o, 'onProgress');
  const signal = checkSignal(o);
  const progress = (p) => {
    if (onProgress) callSafely(onProgress, p);
  };
  const fetchOpts = {
    cache: checkBool(o, 'cache', true),
    allowCrossOrigin: checkBool(o, 'allowCrossOrigin', false),
    progress,
    signal,
  };
  // Checked before anything is downloaded (the model-dependent limit of chunkTokens, at most
  // its maxSeqLength - 2, is checked again once the embedder is loaded).
  const integer = (k, min, max) => {
    const v = o[k];
    if (v === undefined || v === null) return;
    if (!Number.isInteger(v) || v < min || v > max) throw input(`${k} must be an integer from ${min} to ${max}, got ${v}`);
  };
  integer('chunkTokens', 8, 100_000);
  integer('chunkOverlap', 0, 100_000);
  integer('exactBelow', 0, 1e9);
  integer('efSearch', 16, 2048);
  checkBool(o, 'persist', true);
  checkBool(o, 'overwrite', false);
  const kbOptions = {};
  for (const k of ['chunkTokens', 'chunkOverlap', 'persist', 'exactBelow', 'efSearch', 'overwrite']) {
    if (o[k] !== undefined && o[k] !== null) kbOptions[k] = o[k];
  }
  await start();
  const stopIfAborted = () => {
    if (signal?.aborted) throw abortedError('opening the knowledge base');
  };
  const files = await embedderFiles(o.embedder, fetchOpts);
  const gguf = o.generator === undefined || o.generator === null ? null : await generatorFile(o.generator, fetchOpts);
  stopIfAborted();
  let embedder = null;
  let generator = null;
  try {
    progress({ stage: 'load-embedder', loaded: 0, total: 1 });
    embedder = await Embedder.load({ ...files, backend, cpuBackend: o.cpuBackend });
    progress({ stage: 'load-embedder', loaded: 1, total: 1 });
    stopIfAborted();
    if (gguf) {
      progress({ stage: 'load-generator', loaded: 0, total: 1 });
      generator = await Generator.load({ model: gguf, backend: generatorBackend, cpuBackend: o.cpuBackend });
      progress({ stage: 'load-generator', loaded: 1, total: 1 });
      stopIfAborted();
    }
    progress({ stage: 'open', loaded: 0, total: 1 });
    const kb = file
      ? await withWriteLock(name, () => KnowledgeBase.import(name, embedder, file, kbOptions))
      : await KnowledgeBase.open(name, embedder, kbOptions);
    if (generator) kb.setGenerator(generator);
    if (signal?.aborted) {
      await kb.close();
      kb.free();
      throw abortedError('opening the knowledge base');
    }
    const { generation } = await kb.refresh();
    if (file) {
      // Other tabs holding this name reload.
      const ch = channelFor(name);
      ch?.postMessage({ generation });
      ch?.close();
    }
    const rag = new LocalRag(secret, name, kb, embedder, generator);
    progress({ stage: 'open', loaded: 1, total: 1 });
    return rag;
  } catch (e) {
    embedder?.free();
    generator?.free();
    throw e;
  }
}
