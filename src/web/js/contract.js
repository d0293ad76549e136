// Generated from the Rust types by `LOCALRAG_WRITE_CONTRACT=1 cargo test --test native contract`; do not edit.

/** Every code a LocalRagError can carry (listed in the README). */
export const ERROR_CODES = Object.freeze([
  "E_INPUT",
  "E_MODEL_FETCH",
  "E_MODEL_FORMAT",
  "E_CONFIG",
  "E_TOKENIZER",
  "E_BACKEND",
  "E_OUTPUT",
  "E_STORAGE",
  "E_QUOTA",
  "E_MODEL_MISMATCH",
  "E_DIM_MISMATCH",
  "E_CORRUPT",
  "E_LOST",
  "E_CLOSED",
  "E_ABORTED",
  "E_NO_GENERATOR",
  "E_BROKEN",
  "E_UNSUPPORTED"
]);

/** The embedder's files: option key, path in a sentence-transformers folder, required. */
export const EMBEDDER_FILES = Object.freeze([
  {
    "key": "config",
    "path": "config.json",
    "fallback": null,
    "required": false
  },
  {
    "key": "tokenizer",
    "path": "tokenizer.json",
    "fallback": null,
    "required": false
  },
  {
    "key": "poolingConfig",
    "path": "1_Pooling/config.json",
    "fallback": null,
    "required": false
  },
  {
    "key": "sentenceConfig",
    "path": "sentence_bert_config.json",
    "fallback": null,
    "required": false
  },
  {
    "key": "sentenceTransformersConfig",
    "path": "config_sentence_transformers.json",
    "fallback": null,
    "required": false
  },
  {
    "key": "model",
    "path": "model.gguf",
    "fallback": "model.safetensors",
    "required": true
  }
].map(Object.freeze));

/** `threads`: the most a page may ask for, and the most 'auto' takes. */
export const MAX_THREADS = 64;
export const AUTO_THREADS_CAP = 8;

/** Lower-case names in the description of a software WebGPU adapter ('auto' passes it over). */
export const SOFTWARE_ADAPTERS = Object.freeze([
  "swiftshader",
  "llvmpipe",
  "lavapipe",
  "softpipe",
  "microsoft basic render"
]);
