// The one error type of localrag, shared by the calling-thread API and the Worker proxy.

/** Every code a LocalRagError can carry (listed in the README). */
export const ERROR_CODES = Object.freeze([
  'E_INPUT', 'E_MODEL_FETCH', 'E_MODEL_FORMAT', 'E_CONFIG', 'E_TOKENIZER', 'E_BACKEND', 'E_OUTPUT',
  'E_STORAGE', 'E_QUOTA', 'E_MODEL_MISMATCH', 'E_DIM_MISMATCH', 'E_CORRUPT', 'E_CLOSED',
  'E_ABORTED', 'E_NO_GENERATOR', 'E_BROKEN', 'E_UNSUPPORTED',
]);

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
