// Which WebAssembly module this thread runs. The package carries builds of the same crate on
// two axes. SIMD: the baseline one (SIMD128, valid in every engine with WebAssembly SIMD) and,
// in `relaxed/`, one whose embedder products use relaxed SIMD's
// `i32x4.relaxed_dot_i8x16_i7x16_add_s` (8-bit activations; Cargo feature `relaxed-simd`). A
// module with an instruction the engine does not know fails to validate as a whole, so the
// choice is made before loading, by validating a 41-byte module that holds that one
// instruction. Threads: the same two in `threads/` built with atomics and shared memory
// (feature `threads`), whose CPU work runs on a pool of Web Workers (threads.js). Shared memory
// needs a cross-origin isolated page (COOP/COEP headers); elsewhere the single-threaded module
// runs.
import { LocalRagError } from './shared.js';
import { AUTO_THREADS_CAP, MAX_THREADS, SOFTWARE_ADAPTERS } from './contract.js';
import { RELAXED_SIMD_BUILD, THREADS_BUILD } from './variants.js';
import { startPool } from './threads.js';

/** `(func (result v128) (i32x4.relaxed_dot_i8x16_i7x16_add_s (i8x16.splat 0) ×3))`. */
export const RELAXED_SIMD_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // \0asm, version 1
  0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, // type section: () -> v128
  0x03, 0x02, 0x01, 0x00, // function section: one function of type 0
  0x0a, 0x13, 0x01, 0x11, 0x00, // code section: one body of 17 bytes, no locals
  0x41, 0x00, 0xfd, 0x0f, // i32.const 0, i8x16.splat
  0x41, 0x00, 0xfd, 0x0f,
  0x41, 0x00, 0xfd, 0x0f,
  0xfd, 0x93, 0x02, // i32x4.relaxed_dot_i8x16_i7x16_add_s (0xfd 275)
  0x0b, // end
]);

/** Whether this engine runs relaxed SIMD's dot product. */
export function hasRelaxedSimd() {
  try {
    return WebAssembly.validate(RELAXED_SIMD_PROBE);
  } catch {
    return false;
  }
}

const VARIANTS = ['auto', 'baseline', 'relaxed-simd'];
let wanted = 'auto';
let loading = null;
let loaded = null;
let loadedName = null;
// `threads` of the open that loaded the module, and what runs: { count, reason }.
let requestedThreads = null;
let threadInfo = null;

/** Throws E_INPUT unless `threads` is undefined, 'auto' or a whole number in range. */
function checkThreads(threads) {
  if (threads === undefined || threads === 'auto') return;
  if (!Number.isInteger(threads) || threads < 1 || threads > MAX_THREADS) {
    throw new LocalRagError(
      'E_INPUT',
      `threads: expected 'auto' or a whole number from 1 to ${MAX_THREADS}, not ${String(threads)}`,
    );
  }
}

/** Whether the browser gives a WebGPU adapter that is not a software fallback. */
async function hardwareWebGpu() {
  const gpu = globalThis.navigator?.gpu;
  if (!gpu) return false;
  let adapter = null;
  try {
    adapter = await gpu.requestAdapter();
  } catch {
    return false;
  }
  if (!adapter) return false;
  const info = adapter.info ?? {};
  if (adapter.isFallbackAdapter || info.isFallbackAdapter) return false;
  const d = [info.vendor, info.architecture, info.description].filter(Boolean).join(' ').toLowerCase();
  return !SOFTWARE_ADAPTERS.some((name) => d.includes(name));
}

/**
 * Whether a model of these backend choices ('auto', 'webgpu', 'cpu') would run on WebGPU, which
 * the threaded module lacks (wgpu's WebGPU objects cannot be shared among threads).
 */
async function wantsWebGpu(backends) {
  if (backends.includes('webgpu')) return true;
  return backends.includes('auto') && (await hardwareWebGpu());
}

/** How many threads to run for `threads`, and why not more. */
async function planThreads(threads, backends) {
  const cores = Math.max(1, Number(globalThis.navigator?.hardwareConcurrency) || 1);
  const count = threads === 'auto' ? Math.min(cores, AUTO_THREADS_CAP) : threads;
  const one = (reason) => ({ count: 1, reason });
  if (count === 1) return one(threads === 1 ? 'threads: 1 was asked for' : 'the device has one logical core');
  if (!THREADS_BUILD) return one('this package has no threaded module');
  if (globalThis.crossOriginIsolated !== true) {
    return one('the page is not cross-origin isolated (it needs the COOP and COEP headers, see the README)');
  }
  if (typeof Worker === 'undefined') return one('this environment has no Worker');
  if (await wantsWebGpu(backends)) {
    return one('a model runs on WebGPU, and the threaded module runs on the CPU only');
  }
  return { count, reason: null };
}

/** Throws E_INPUT unless `variant` names a choice of module. */
export function checkWasmVariant(variant) {
  if (!VARIANTS.includes(variant)) {
    throw new LocalRagError('E_INPUT', `the wasm module is one of ${VARIANTS.join(', ')}, not ${String(variant)}`);
  }
}

/**
 * Picks the module before the first load: 'auto' (relaxed SIMD where the engine has it and the
 * package carries it), 'baseline' or 'relaxed-simd'. Once a module is loaded it stays.
 */
export function selectWasm(variant) {
  checkWasmVariant(variant);
  if (loading && variant !== 'auto' && variant !== loadedName) {
    throw new LocalRagError('E_INPUT', `the ${loadedName ?? 'chosen'} wasm module is already loaded in this thread`);
  }
  if (!loading) wanted = variant;
}

function resolveVariant() {
  if (wanted === 'baseline') return 'baseline';
  if (wanted === 'relaxed-simd') {
    if (!RELAXED_SIMD_BUILD) throw new LocalRagError('E_UNSUPPORTED', 'this package has no relaxed-SIMD module');
    if (!hasRelaxedSimd()) throw new LocalRagError('E_UNSUPPORTED', 'this engine has no relaxed SIMD');
    return 'relaxed-simd';
  }
  return RELAXED_SIMD_BUILD && hasRelaxedSimd() ? 'relaxed-simd' : 'baseline';
}

/**
 * The module's exports, instantiated once per thread. On the first load `threads` ('auto' or a
 * count, checked by `checkThreads`) and the models' `backends` ('auto', 'webgpu' or 'cpu', each
 * model's) decide between the threaded and the single-threaded module; a later load that asks
 * for another count is E_INPUT.
 */
export function loadWasm({ threads = 'auto', backends = ['auto'] } = {}) {
  checkThreads(threads);
  if (loading && threads !== 'auto' && requestedThreads !== threads) {
    throw new LocalRagError(
      'E_INPUT',
      `this thread's wasm module already runs with threads: ${requestedThreads} (the first open decides)`,
    );
  }
  loading ??= (async () => {
    const name = resolveVariant();
    loadedName = name;
    requestedThreads = threads;
    let plan = await planThreads(threads, backends);
    let mod = null;
    if (plan.count > 1) {
      try {
        // Literal specifiers, so bundlers see every module (and its .wasm) and split them.
        mod = name === 'relaxed-simd' ? await import('./threads/relaxed/localrag.js') : await import('./threads/localrag.js');
        await mod.default();
        await startPool(mod, plan.count, name === 'relaxed-simd');
      } catch (e) {
        mod = null;
        plan = { count: 1, reason: `the threaded module did not start (${e?.message ?? e})` };
      }
    }
    if (!mod) {
      mod = name === 'relaxed-simd' ? await import('./relaxed/localrag.js') : await import('./localrag.js');
      await mod.default();
    }
    threadInfo = { count: plan.count, reason: plan.reason };
    loaded = mod;
    return mod;
  })().catch((e) => {
    loading = null;
    loadedName = null;
    requestedThreads = null;
    threadInfo = null;
    throw e;
  });
  return loading;
}

/**
 * The threads this thread's module runs its CPU work on, once loaded (else null): `count`,
 * `requested` (the `threads` option), `reason` (why one thread, or null), and `tasks`: the
 * parallel tasks each pool thread has run (then those run outside the pool; empty with one).
 */
export function wasmThreads() {
  if (!threadInfo || !loaded) return null;
  return { ...threadInfo, requested: requestedThreads, tasks: Array.from(loaded.threadTasks()) };
}

/** The loaded module's exports (after `loadWasm` resolved), else null. */
export function wasmExports() {
  return loaded;
}

/** 'baseline' or 'relaxed-simd' once chosen, else null. */
export function wasmVariant() {
  return loadedName;
}
