// localrag/worker: the LocalRag API, run in a dedicated Worker so that the page never blocks.
//
// Each instance owns one module Worker (worker-entry.js) that runs the calling-thread API
// (index.js). Calls are messages; `onProgress`/`onToken` come back as messages; an AbortSignal
// is forwarded as an `abort` message; export files, imported files and vectors move as
// transferables. Errors arrive as LocalRagError with the same codes.
import {
  LocalRagError, METHODS, abortedError, fromCoded, checkSignal, callSafely, fileBytes, baseHref,
  isPlainObject,
} from './shared.js';
import { EMBEDDER_FILES } from './contract.js';
import { checkWasmVariant } from './wasm.js';

export { LocalRagError, ERROR_CODES } from './shared.js';

const secret = Symbol('LocalRagWorker');
const CALL = Symbol('call');
// The wasm module each new Worker loads (LocalRag.selectWasm), and the one the last loaded.
let wantedWasm = 'auto';
let lastWasm = null;
let lastThreads = null;

function spawn() {
  if (typeof Worker === 'undefined') {
    throw new LocalRagError('E_UNSUPPORTED', 'this environment has no Worker; import from "localrag" instead');
  }
  return new Worker(new URL('./worker-entry.js', import.meta.url), { type: 'module', name: 'localrag' });
}

/** Model URLs are resolved against the page, not against the Worker's script. */
function resolveModels(options) {
  if (!isPlainObject(options)) return options;
  const abs = (u) => {
    try {
      return new URL(u, baseHref()).href;
    } catch {
      return u; // the Worker reports the bad URL
    }
  };
  const out = { ...options };
  if (typeof out.embedder === 'string') out.embedder = abs(out.embedder);
  else if (isPlainObject(out.embedder)) {
    out.embedder = { ...out.embedder };
    for (const k of ['url', ...EMBEDDER_FILES.map((f) => f.key)]) {
      if (typeof out.embedder[k] === 'string') out.embedder[k] = abs(out.embedder[k]);
    }
  }
  if (typeof out.generator === 'string') out.generator = abs(out.generator);
  else if (isPlainObject(out.generator) && typeof out.generator.url === 'string') {
    out.generator = { ...out.generator, url: abs(out.generator.url) };
  }
  return out;
}

/** One Worker and the calls in flight on it. */
class Channel {
  #worker;
  #next = 1;
  #calls = new Map();
  #dead = null;
  onChange = null;

  constructor() {
    this.#worker = spawn();
    this.#worker.onmessage = (ev) => this.#receive(ev.data);
    this.#worker.onerror = (ev) => {
      ev.preventDefault?.();
      this.#fail(new LocalRagError('E_BROKEN', `the localrag Worker failed: ${ev.message ?? 'it could not start'}`));
    };
    this.#worker.onmessageerror = () => this.#fail(new LocalRagError('E_BROKEN', 'a message from the localrag Worker could not be read'));
  }

  get dead() { return this.#dead; }

  #fail(error) {
    this.#dead ??= error;
    for (const call of this.#calls.values()) call.reject(error);
    this.#calls.clear();
  }

  #receive(m) {
    if (m?.type === 'change') {
      this.onChange?.(m.event);
      return;
    }
    const call = this.#calls.get(m?.id);
    if (!call) return;
    if (m.type === 'callback') {
      const f = call.callbacks[m.name];
      if (f) callSafely(f, m.value);
      // After the callback, so that an abort it made is posted first (worker-entry.js waits
      // for this before an add's write).
      if (m.seq !== undefined) this.#worker.postMessage({ type: 'ack', id: m.id, seq: m.seq });
      return;
    }
    this.#calls.delete(m.id);
    call.cleanup();
    if (m.type === 'result') call.resolve(m.value);
    else call.reject(fromCoded(m.error) ?? new LocalRagError('E_BROKEN', String(m.error?.message ?? m.error)));
  }

  /**
   * Sends `op` with `args`. Every function in the last (options) argument becomes a callback:
   * it is named in the message and the Worker puts a forwarding function in its place (the
   * Worker's side then checks the option names, so a misspelt one is refused there).
   */
  call(op, args, transfer = []) {
    if (this.#dead) return Promise.reject(this.#dead);
    return new Promise((resolve, reject) => {
      const id = this.#next++;
      const callbacks = {};
      let signal = null;
      const last = args.length ? args[args.length - 1] : undefined;
      if (isPlainObject(last) && !ArrayBuffer.isView(last) && !(last instanceof ArrayBuffer)) {
        const o = { ...last };
        for (const [k, v] of Object.entries(o)) {
          if (typeof v === 'function') {
            callbacks[k] = v;
            o[k] = null;
          }
        }
        try {
          signal = checkSignal(o);
        } catch (e) {
          reject(e);
          return;
        }
        if (signal) {
          if (signal.aborted) {
            reject(abortedError());
            return;
          }
          o.signal = true; // the Worker makes its own AbortController
        }
        args = [...args.slice(0, -1), o];
      }
      const onAbort = () => this.#worker.postMessage({ type: 'abort', id });
      signal?.addEventListener('abort', onAbort, { once: true });
      const cleanup = () => signal?.removeEventListener('abort', onAbort);
      this.#calls.set(id, { resolve, reject, callbacks, cleanup });
      try {
        this.#worker.postMessage({ type: 'call', id, op, args, callbacks: Object.keys(callbacks) }, transfer);
      } catch (e) {
        this.#calls.delete(id);
        cleanup();
        reject(new LocalRagError('E_INPUT', `could not send the arguments to the Worker: ${e?.message ?? e}`));
      }
    });
  }

  terminate() {
    this.#fail(new LocalRagError('E_CLOSED', 'the knowledge base is closed'));
    this.#worker.terminate();
  }
}

/** Runs one static operation in a short-lived Worker. */
async function once(op, args, transfer) {
  const ch = new Channel();
  try {
    return await ch.call(op, args, transfer);
  } finally {
    ch.terminate();
  }
}

export class LocalRag {
  #channel;
  #info;
  #listeners = new Set();
  #broken = false;
  #closed = false;

  constructor(key, channel, info) {
    if (key !== secret) throw new TypeError('use LocalRag.open(name, options)');
    this.#channel = channel;
    this.#info = info;
    channel.onChange = (e) => {
      for (const f of this.#listeners) callSafely(f, e);
    };
  }

  static async #start(op, args, transfer) {
    const channel = new Channel();
    try {
      if (wantedWasm !== 'auto') await channel.call('selectWasm', [wantedWasm]);
      const info = await channel.call(op, args, transfer);
      lastWasm = info.wasm;
      lastThreads = info.threads;
      return new LocalRag(secret, channel, info);
    } catch (e) {
      channel.terminate();
      throw e;
    }
  }

  static async open(name, options) {
    return LocalRag.#start('open', [name, resolveModels(options)]);
  }

  static async import(name, file, options) {
    const view = await fileBytes(file);
    // A private copy (a Blob's bytes already are one) moves to the Worker without a second
    // copy; the caller's buffer stays intact.
    const bytes = typeof Blob !== 'undefined' && file instanceof Blob ? view : view.slice();
    return LocalRag.#start('import', [name, bytes, resolveModels(options)], [bytes.buffer]);
  }

  static destroy(name) {
    return once('destroy', [name]);
  }

  static clearModelCache() {
    return once('clearModelCache', []);
  }

  /** The wasm module the Workers opened from now on load ('auto', 'baseline', 'relaxed-simd'). */
  static selectWasm(variant) {
    checkWasmVariant(variant);
    wantedWasm = variant;
  }

  /** The module the most recently opened Worker runs, null before one opened. */
  static get wasm() {
    return lastWasm;
  }

  /**
   * The threads of the most recently opened Worker's module when it opened, null before one
   * opened (each instance's Worker has its own module and pool; `stats().threads` is live).
   */
  static get threads() {
    return lastThreads;
  }

  get name() { return this.#info.name; }
  get backend() { return this.#info.backend; }
  get generatorBackend() { return this.#info.generatorBackend; }
  get dim() { return this.#info.dim; }
  get broken() { return this.#broken || this.#channel.dead?.code === 'E_BROKEN'; }

  async [CALL](method, ...args) {
    if (this.#closed) throw new LocalRagError('E_CLOSED', `knowledge base "${this.#info.name}" is closed`);
    try {
      return await this.#channel.call('call', [method, ...args]);
    } catch (e) {
      if (e?.code === 'E_BROKEN') this.#broken = true;
      throw e;
    }
  }


  /** Hidden, for tests: makes the Worker's wasm module panic. */
  __panicForTest(onPool) { return this.#channel.call('__panicForTest', [onPool === true]).catch((e) => { if (e?.code === 'E_BROKEN') this.#broken = true; throw e; }); }

  onChange(listener) {
    if (typeof listener !== 'function') throw new LocalRagError('E_INPUT', 'onChange takes a function');
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async close() {
    if (this.#closed) return;
    try {
      await this[CALL]('close');
    } finally {
      this.#closed = true;
      this.#listeners.clear();
      this.#channel.terminate();
    }
  }

  async destroy() {
    if (this.#closed) return LocalRag.destroy(this.#info.name);
    try {
      await this[CALL]('destroy');
    } finally {
      this.#closed = true;
      this.#channel.terminate();
    }
  }
}

// The knowledge-base methods, forwarded as they are (one list: shared.js).
for (const method of METHODS) {
  Object.defineProperty(LocalRag.prototype, method, {
    value: function (...args) {
      return this[CALL](method, ...args);
    },
    writable: true,
    configurable: true,
  });
}
