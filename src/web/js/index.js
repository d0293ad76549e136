// localrag: private retrieval-augmented generation inside a web page.
//
// `LocalRag` on the calling thread (a page, or the Worker of 'localrag/worker'). It fetches and
// caches the model files, loads them into the wasm module (Burn on WebGPU or the CPU), opens
// the knowledge base in IndexedDB, and keeps several tabs consistent: writes are serialized
// with a Web Lock per knowledge base, every read first checks the stored write counter, and a
// BroadcastChannel tells the other tabs at once. Types: index.d.ts.
import { loadWasm, selectWasm, wasmThreads, wasmVariant } from './wasm.js';
import {
  LocalRagError, abortedError, fromCoded, checkFunction, checkSignal, callSafely, fileBytes,
  isPlainObject as isObject,
} from './shared.js';
import { MODEL_KEYS, checkModelOptions, clearModelCache, embedderFiles, generatorFile } from './models.js';

export { LocalRagError, ERROR_CODES } from './shared.js';
// ---- the wasm module: one per thread, shared by every instance ----

let ready = null;
let brokenReason = null;
const inFlight = new Set();

/**
 * Resolves to the module's exports, started once per thread: wasm.js picks the build, with the
 * `threads` and device options of the first open (`options`).
 */
function start(options = {}) {
  const { threads, backend, generatorBackend } = options;
  if (ready) {
    loadWasm({ threads }); // E_INPUT when it asks for another thread count than the loaded one
    return ready;
  }
  ready = loadWasm({ threads, backends: [backend ?? 'auto', generatorBackend ?? backend ?? 'auto'] })
    .then((wasm) => {
      wasm.onPanic((message) => breakAll(message));
      return wasm;
    })
    .catch((e) => {
      ready = null;
      if (e instanceof LocalRagError) throw e;
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

const input = (message) => new LocalRagError('E_INPUT', message);

function checkName(name) {
  if (typeof name !== 'string' || name.length === 0 || name.length > 200) {
    throw input('a knowledge base name must be a string of 1 to 200 characters');
  }
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

/** A signal aborted when either is (AbortSignal.any where the browser has it). */
function eitherSignal(a, b) {
  if (typeof AbortSignal.any === 'function') return AbortSignal.any([a, b]);
  const c = new AbortController();
  const abort = () => c.abort();
  if (a.aborted || b.aborted) abort();
  a.addEventListener('abort', abort, { once: true });
  b.addEventListener('abort', abort, { once: true });
  return c.signal;
}

const secret = Symbol('LocalRag');

export class LocalRag {
  #name;
  #kb;
  #embedder;
  #generator;
  #channel;
  #listeners = new Set();
  #closed = false;
  /** The promise of `close()`, once called. */
  #closing = null;
  /** Calls under way (past the closed check): `close()` lets them settle before freeing. */
  #pending = new Set();
  /** Aborted by `close()`: stops an `add` before its write, and an `ask`. */
  #closer = new AbortController();

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
    return guarded(() => openOrImport(name, options, null));
  }

  /** Creates the knowledge base `name` from an export file and opens it. */
  static import(name, file, options) {
    return guarded(async () => openOrImport(name, options, await fileBytes(file)));
  }

  /** Deletes a knowledge base and everything it stored. */
  static destroy(name) {
    return guarded(async () => {
      checkName(name);
      const wasm = await start();
      // Instances open on it (in any tab) let go of their connection when it is deleted.
      await withWriteLock(name, () => wasm.KnowledgeBase.destroyByName(name));
    });
  }

  /** Removes the cached model files. */
  static clearModelCache() {
    return clearModelCache();
  }

  /**
   * Chooses this thread's wasm module before it loads: 'auto' (the default: relaxed SIMD where
   * the engine has it), 'baseline' or 'relaxed-simd'.
   */
  static selectWasm(variant) {
    selectWasm(variant);
  }

  /** The wasm module this thread runs ('baseline' or 'relaxed-simd'), null before the first open. */
  static get wasm() {
    return wasmVariant();
  }

  /**
   * The threads this thread's module runs the CPU work on, null before the first open:
   * `{ count, requested, reason, tasks }` (see index.d.ts).
   */
  static get threads() {
    return wasmThreads();
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

  /** Runs `fn` as a call under way: `close()` waits for it before freeing what it uses. */
  #track(fn) {
    this.#check();
    const p = Promise.resolve().then(fn);
    this.#pending.add(p);
    const done = () => this.#pending.delete(p);
    p.then(done, done);
    return p;
  }

  /**
   * `options` with `close()`'s signal beside the caller's, so that closing stops the call; left
   * as they are where they are not an object with a valid signal (the wasm side reports that).
   */
  #closable(options) {
    if (options === undefined) return { signal: this.#closer.signal };
    if (!isObject(options) || !(options.signal === undefined || options.signal instanceof AbortSignal)) return options;
    const signal = options.signal ? eitherSignal(options.signal, this.#closer.signal) : this.#closer.signal;
    return { ...options, signal };
  }

  /** A call stopped by `close()` (not by the caller's signal) fails with E_CLOSED. */
  #closedDuring(what, options) {
    return (e) => {
      if (e?.code === 'E_ABORTED' && this.#closer.signal.aborted && !options?.signal?.aborted) {
        throw new LocalRagError('E_CLOSED', `knowledge base "${this.#name}" was closed during ${what}; ${what === 'add' ? 'nothing of the batch was stored' : 'it was stopped'}`);
      }
      throw e;
    };
  }

  /** A write: under the knowledge base's lock, on fresh data, announced to the other tabs. */
  #write(fn) {
    return guarded(() => this.#track(() => withWriteLock(this.#name, async () => {
      this.#check();
      const before = await this.#refresh();
      const result = await fn();
      // Stored. Catching up and telling the others is not part of the write: its failure does
      // not make the write fail.
      try {
        const after = await this.#refresh();
        if (after !== before) {
          this.#channel?.postMessage({ generation: after });
          this.#emit(after, false);
        }
      } catch {}
      return result;
    })));
  }

  /** A read: first catch up with what other tabs wrote. */
  #read(fn) {
    return guarded(() => this.#track(async () => {
      await this.#refresh();
      return fn();
    }));
  }

  add(docs, options) {
    return this.#write(() => this.#kb.add(docs, this.#closable(options)).catch(this.#closedDuring('add', options)));
  }

  search(query, options) {
    return this.#read(() => this.#kb.search(query, options));
  }

  ask(question, options) {
    return this.#read(() => this.#kb.ask(question, this.#closable(options)).catch(this.#closedDuring('ask', options)));
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
      wasm: wasmVariant(),
      threads: wasmThreads(),
    }));
  }

  embed(texts, role) {
    return guarded(() => this.#track(() => this.#embedder.embed(texts, role)));
  }

  export() {
    return this.#read(() => this.#kb.export());
  }

  onChange(listener) {
    if (typeof listener !== 'function') throw input('onChange takes a function');
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Closes the database and frees the models; later calls fail with E_CLOSED. Calls under way
   * settle first: an `add` not yet at its write, and an `ask`, are stopped (E_CLOSED); an `add`
   * already writing completes. Closing twice gives the same promise.
   */
  close() {
    if (this.#closing) return this.#closing;
    this.#closed = true;
    this.#closer.abort();
    this.#closing = guarded(async () => {
      await Promise.allSettled([...this.#pending]);
      this.#channel?.close();
      this.#listeners.clear();
      await this.#kb.close();
      this.#kb.free();
      this.#embedder.free();
      this.#generator?.free();
    });
    return this.#closing;
  }

  /** Closes and deletes this knowledge base. */
  async destroy() {
    await this.close();
    await LocalRag.destroy(this.#name);
  }
}

/**
 * Opens the knowledge base `name`. One found lost (E_LOST: its database gone, its note there) is
 * looked at again under the write lock: a `destroy` under way in another tab deletes the
 * database first and the note after.
 */
async function openKnowledgeBase(KnowledgeBase, name, embedder, kbOptions) {
  try {
    return await KnowledgeBase.open(name, embedder, kbOptions);
  } catch (e) {
    if (fromCoded(e)?.code !== 'E_LOST') throw e;
    return withWriteLock(name, () => KnowledgeBase.open(name, embedder, kbOptions));
  }
}

async function openOrImport(name, options, file) {
  checkName(name);
  if (!isObject(options)) throw input('open needs an options object with at least `embedder`');
  const { Embedder, Generator, KnowledgeBase, checkOpenOptions, sha256Hex } = await start(options);
  // Every option is checked before anything is downloaded: the model sources here, the rest
  // (knowledge-base and device options, unknown keys) by the wasm side.
  const onProgress = checkFunction(options, 'onProgress');
  const signal = checkSignal(options);
  checkOpenOptions(options, file !== null, [...MODEL_KEYS, 'onProgress', 'signal']);
  const { cache, allowCrossOrigin } = checkModelOptions(options);
  const {
    embedder: embedderSource, generator: generatorSource, backend, generatorBackend, cpuBackend,
    threads: _t, allowCrossOrigin: _a, cache: _c, onProgress: _p, signal: _s, ...kbOptions
  } = options;
  const progress = (p) => {
    if (onProgress) callSafely(onProgress, p);
  };
  const fetchOpts = { cache, allowCrossOrigin, progress, signal, hash: sha256Hex };
  const stopIfAborted = () => {
    if (signal?.aborted) throw abortedError('opening the knowledge base');
  };
  const files = await embedderFiles(embedderSource, fetchOpts);
  const gguf = await generatorFile(generatorSource, fetchOpts);
  stopIfAborted();
  let embedder = null;
  let generator = null;
  try {
    progress({ stage: 'load-embedder', loaded: 0, total: 1 });
    embedder = await Embedder.load({ ...files, backend, cpuBackend });
    progress({ stage: 'load-embedder', loaded: 1, total: 1 });
    stopIfAborted();
    if (gguf) {
      progress({ stage: 'load-generator', loaded: 0, total: 1 });
      generator = await Generator.load({ model: gguf, backend: generatorBackend ?? backend, cpuBackend });
      progress({ stage: 'load-generator', loaded: 1, total: 1 });
      stopIfAborted();
    }
    progress({ stage: 'open', loaded: 0, total: 1 });
    const kb = file
      ? await withWriteLock(name, () => KnowledgeBase.import(name, embedder, file, kbOptions))
      : await openKnowledgeBase(KnowledgeBase, name, embedder, kbOptions);
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
