// The Worker side of localrag/worker: runs the calling-thread API (index.js) for one instance
// and answers the messages of worker.js.
import { LocalRag, LocalRagError } from './index.js';
import { wasmExports } from './wasm.js';
import { METHODS } from './shared.js';

let rag = null;
const controllers = new Map();

const post = (message, transfer) => self.postMessage(message, transfer ?? []);

function errorOf(e) {
  if (e instanceof LocalRagError) return { code: e.code, message: e.message };
  return { code: 'E_BROKEN', message: `unexpected error in the localrag Worker: ${e?.message ?? e}` };
}

// Per call with a signal: callbacks forwarded and acknowledged (the page acknowledges each after
// running it, and posts any abort it caused before that), and who waits for the count to meet.
const acks = new Map();

/**
 * A forwarding callback. With a signal it also has `settled()`: a promise that resolves when the
 * page has run every callback forwarded so far, so an abort made from one of them has arrived;
 * `add` awaits it before its write (options.rs, `JsHooks::settle`).
 */
function forwarder(id, name, withSignal) {
  if (!withSignal) return (value) => post({ type: 'callback', id, name, value });
  let state = acks.get(id);
  if (!state) acks.set(id, (state = { sent: 0, seen: 0, waiting: [] }));
  const f = (value) => post({ type: 'callback', id, name, value, seq: ++state.sent });
  f.settled = () =>
    state.seen >= state.sent ? Promise.resolve() : new Promise((resolve) => state.waiting.push(resolve));
  return f;
}

function acknowledged(id, seq) {
  const state = acks.get(id);
  if (!state) return;
  state.seen = Math.max(state.seen, seq);
  if (state.seen < state.sent) return;
  for (const resolve of state.waiting.splice(0)) resolve();
}

/** Puts back the callbacks (named in the message) and the signal that worker.js replaced. */
function revive(id, args, callbacks) {
  const last = args[args.length - 1];
  if (!last || typeof last !== 'object' || Array.isArray(last) || ArrayBuffer.isView(last)) return args;
  const o = { ...last };
  for (const name of callbacks ?? []) o[name] = forwarder(id, name, o.signal === true);
  if (o.signal === true) {
    const c = new AbortController();
    controllers.set(id, c);
    o.signal = c.signal;
  }
  return [...args.slice(0, -1), o];
}

/** Typed arrays in a result move instead of being copied. */
function transferables(value) {
  if (ArrayBuffer.isView(value)) return [value.buffer];
  if (Array.isArray(value)) return value.filter((v) => ArrayBuffer.isView(v)).map((v) => v.buffer);
  return [];
}

async function run(op, args) {
  switch (op) {
    case 'open':
    case 'import': {
      if (rag) throw new LocalRagError('E_INPUT', 'this Worker already holds a knowledge base');
      rag = op === 'open' ? await LocalRag.open(...args) : await LocalRag.import(...args);
      rag.onChange((event) => post({ type: 'change', event }));
      return { name: rag.name, backend: rag.backend, generatorBackend: rag.generatorBackend, dim: rag.dim, wasm: LocalRag.wasm, threads: LocalRag.threads };
    }
    case 'selectWasm':
      return LocalRag.selectWasm(...args);
    case 'destroy':
      return LocalRag.destroy(...args);
    case 'clearModelCache':
      return LocalRag.clearModelCache();
    case '__panicForTest':
      // Only in a build with the `testing` feature: lets the tests check that a panic marks the
      // instance broken (E_BROKEN).
      if (typeof wasmExports()?.__panicForTest !== 'function') {
        throw new LocalRagError('E_UNSUPPORTED', 'this build has no test exports (or no knowledge base was opened)');
      }
      wasmExports().__panicForTest(args[0] === true);
      return undefined;
    case 'call': {
      const [method, ...rest] = args;
      if (!rag) throw new LocalRagError('E_CLOSED', 'no knowledge base is open in this Worker');
      if (![...METHODS, 'close', 'destroy'].includes(method)) {
        throw new LocalRagError('E_INPUT', `unknown method ${method}`);
      }
      return rag[method](...rest);
    }
    default:
      throw new LocalRagError('E_INPUT', `unknown operation ${op}`);
  }
}

self.onmessage = async (ev) => {
  const m = ev.data;
  if (m?.type === 'abort') {
    controllers.get(m.id)?.abort();
    return;
  }
  if (m?.type === 'ack') {
    acknowledged(m.id, m.seq);
    return;
  }
  if (m?.type !== 'call') return;
  try {
    const value = await run(m.op, revive(m.id, m.args, m.callbacks));
    post({ type: 'result', id: m.id, value }, transferables(value));
  } catch (e) {
    post({ type: 'error', id: m.id, error: errorOf(e) });
  } finally {
    controllers.delete(m.id);
    acks.delete(m.id);
  }
};
