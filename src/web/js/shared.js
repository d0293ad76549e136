// Shared by the calling-thread API and the Worker proxy: the error type and the option names
// each call accepts (so both reject a misspelt option with the same E_INPUT).

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

export const OPEN_KEYS = Object.freeze([
  'embedder', 'generator', 'backend', 'generatorBackend', 'cpuBackend', 'allowCrossOrigin', 'cache',
  'onProgress', 'signal', 'chunkTokens', 'chunkOverlap', 'persist', 'exactBelow', 'efSearch',
]);
export const IMPORT_KEYS = Object.freeze([...OPEN_KEYS, 'overwrite']);
export const ADD_KEYS = Object.freeze(['onProgress', 'signal']);
export const SEARCH_KEYS = Object.freeze(['k', 'mode', 'filter', 'mmrLambda', 'rerank']);
export const ASK_KEYS = Object.freeze([
  ...SEARCH_KEYS, 'minScore', 'contextTokens', 'maxTokens', 'temperature', 'topK', 'topP',
  'repetitionPenalty', 'seed', 'stop', 'onToken', 'signal',
]);

const isPlainObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

/** `options` (undefined, null or an object with only `allowed` keys), or E_INPUT. */
export function checkKeys(options, allowed, what) {
  if (options === undefined || options === null) return {};
  if (!isPlainObject(options)) throw new LocalRagError('E_INPUT', `${what} options must be an object`);
  for (const key of Object.keys(options)) {
    if (!allowed.includes(key)) {
      throw new LocalRagError('E_INPUT', `unknown ${what} option \`${key}\` (known: ${allowed.join(', ')})`);
    }
  }
  return options;
}
