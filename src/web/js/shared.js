// Shared by the calling-thread API, the Worker proxy and the Worker's entry: the error type,
// the public method list, and small helpers. The error codes come from the Rust types
// (contract.js is generated).
import { ERROR_CODES } from './contract.js';

export { ERROR_CODES };

/** A JS `Error` with a stable `code`. */
export class LocalRagError extends Error {
  constructor(code, message, options) {
    super(message, options);
    this.name = 'LocalRagError';
    this.code = ERROR_CODES.includes(code) ? code : 'E_BROKEN';
  }
}

/** The error of an aborted operation. */
export function abortedError(what = 'the operation') {
  return new LocalRagError('E_ABORTED', `${what} was aborted`);
}

/** Turns what the wasm module (or the Worker) threw into a LocalRagError, when it is one. */
export function fromCoded(e) {
  if (e instanceof LocalRagError) return e;
  if (e && typeof e === 'object' && typeof e.code === 'string' && ERROR_CODES.includes(e.code)) {
    return new LocalRagError(e.code, String(e.message ?? e.code));
  }
  return null;
}

/**
 * The instance methods of `LocalRag` that work on the knowledge base: the calling-thread class
 * defines them, the Worker proxy forwards exactly these, and the Worker's entry accepts exactly
 * these (`close`, `destroy` and `onChange` are handled on each side).
 */
export const METHODS = Object.freeze(['add', 'search', 'ask', 'remove', 'get', 'list', 'stats', 'embed', 'export']);

/** A non-null, non-array object. */
export const isPlainObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

/** The page's own URL (in a Worker: its script's), against which model URLs are resolved. */
export const baseHref = () => globalThis.document?.baseURI ?? globalThis.location?.href;

/** The `signal` option: null, or an AbortSignal (else E_INPUT). */
export function checkSignal(options) {
  const s = options?.signal;
  if (s === undefined || s === null) return null;
  if (typeof s !== 'object' || typeof s.aborted !== 'boolean' || typeof s.addEventListener !== 'function') {
    throw new LocalRagError('E_INPUT', 'signal must be an AbortSignal');
  }
  return s;
}

/** A function-valued option, or null (else E_INPUT). */
export function checkFunction(options, key) {
  const f = options?.[key];
  if (f !== undefined && f !== null && typeof f !== 'function') throw new LocalRagError('E_INPUT', `${key} must be a function`);
  return f ?? null;
}

/** Calls a user callback; an exception in it is reported, but does not break the operation. */
export function callSafely(f, value) {
  try {
    f(value);
  } catch (e) {
    setTimeout(() => { throw e; });
  }
}

/** An export file given as a Blob, an ArrayBuffer or a typed array, as bytes (a view where it can). */
export async function fileBytes(file) {
  if (typeof Blob !== 'undefined' && file instanceof Blob) return new Uint8Array(await file.arrayBuffer());
  if (file instanceof ArrayBuffer) return new Uint8Array(file);
  if (ArrayBuffer.isView(file)) return new Uint8Array(file.buffer, file.byteOffset, file.byteLength);
  throw new LocalRagError('E_INPUT', 'import takes the file as a Blob, an ArrayBuffer or a Uint8Array');
}
