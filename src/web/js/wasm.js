// Which WebAssembly module this thread runs. The package carries two builds of the same crate:
// the baseline one (SIMD128, valid in every engine with WebAssembly SIMD) and, in `relaxed/`,
// one whose embedder products use relaxed SIMD's `i32x4.relaxed_dot_i8x16_i7x16_add_s` (8-bit
// activations; Cargo feature `relaxed-simd`). A module with an instruction the engine does not
// know fails to validate as a whole, so the choice is made before loading, by validating a
// 41-byte module that holds that one instruction.
import { LocalRagError } from './shared.js';
import { RELAXED_SIMD_BUILD } from './variants.js';

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

/** The module's exports, instantiated once per thread. */
export function loadWasm() {
  loading ??= (async () => {
    const name = resolveVariant();
    loadedName = name;
    // Literal specifiers, so bundlers see both modules (and their .wasm) and split them.
    const mod = name === 'relaxed-simd' ? await import('./relaxed/localrag.js') : await import('./localrag.js');
    await mod.default();
    loaded = mod;
    return mod;
  })().catch((e) => {
    loading = null;
    loadedName = null;
    throw e;
  });
  return loading;
}

/** The loaded module's exports (after `loadWasm` resolved), else null. */
export function wasmExports() {
  return loaded;
}

/** 'baseline' or 'relaxed-simd' once chosen, else null. */
export function wasmVariant() {
  return loadedName;
}
