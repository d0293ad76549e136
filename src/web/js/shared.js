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

/** A non-null, non-array object. */
export const isPlainObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

/** The embedder's files: option key, file name in a sentence-transformers folder, required. */
export const EMBEDDER_FILES = Object.freeze([
  ['model', 'model.safetensors', true],
  ['config', 'config.json', true],
  ['tokenizer', 'tokenizer.json', true],
  ['poolingConfig', '1_Pooling/config.json', false],
  ['sentenceConfig', 'sentence_bert_config.json', false],
]);

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
