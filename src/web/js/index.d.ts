// localrag: private retrieval-augmented generation inside a web page.
// `import { LocalRag } from 'localrag'` runs on the calling thread;
// `import { LocalRag } from 'localrag/worker'` runs the same API in a dedicated Worker.
// The data types are generated from the Rust types (src/web/types.d.ts, included in
// localrag.d.ts); this file declares the JavaScript API around them.
import type {
  DocumentInput, AddReport, AddOptions, SearchOptions, Hit, AskOptions, Answer, StoredDocument,
  DocumentInfo, KnowledgeBaseStats, KnowledgeBaseOptions, OpenDeviceOptions, ErrorCode, ModelBytes,
  Progress,
} from './localrag.js';

export type {
  BackendChoice, DocumentInput, AddReport, AddOptions, SearchFilter, SearchOptions, Hit, HitScores,
  AskOptions, Answer, Citation, StoredDocument, StoredChunk, DocumentInfo, KnowledgeBaseStats,
  Usage, Timings, FinishReason, SamplingOptions, ErrorCode, ModelBytes, DocumentStructure,
  PageStart, Heading,
} from './localrag.js';

/** The codes above, in a frozen array. */
export declare const ERROR_CODES: readonly ErrorCode[];

/** Every failure is a `LocalRagError`: a JS `Error` with a stable `code`. */
export declare class LocalRagError extends Error {
  constructor(code: ErrorCode, message: string);
  readonly name: 'LocalRagError';
  readonly code: ErrorCode;
}

/** A URL (same origin unless `allowCrossOrigin`) with an optional pinned SHA-256. */
export interface ModelFile {
  url: string;
  /** Hex SHA-256 (either case); the download (or cached copy) must match or E_MODEL_FETCH. */
  sha256?: string;
}

/** The embedding model: a sentence-transformers folder (e.g. all-MiniLM-L6-v2,
 * multilingual-e5-small) or a `bert` GGUF file. */
export type EmbedderSource =
  /** Folder URL: the weights (`model.gguf`, or `model.safetensors` when there is none),
   * `config.json`, `tokenizer.json` and (optional) `1_Pooling/config.json`,
   * `sentence_bert_config.json`, `config_sentence_transformers.json` (the query and passage
   * prompts) are fetched from it. A URL ending in `.gguf` is a single GGUF file that carries
   * its config and vocabulary (llama.cpp's `bert` layout). */
  | string
  | {
      /** Folder or `.gguf` URL; files not given below are fetched from it. */
      url?: string;
      /** SHA-256 per file name, e.g. `{ 'model.gguf': '1afc…' }`. */
      sha256?: Record<string, string>;
      /** Overrides the folder's prompts, e.g. `{ query: 'query: ', passage: 'passage: ' }`. */
      prompts?: { query?: string; passage?: string };
      model?: string | ModelBytes;
      config?: string | ModelBytes;
      tokenizer?: string | ModelBytes;
      poolingConfig?: string | ModelBytes;
      sentenceConfig?: string | ModelBytes;
      sentenceTransformersConfig?: string | ModelBytes;
    };

/** The answering model: a Llama-family GGUF (F32, F16, Q8_0, Q4_0 or Q4_1). */
export type GeneratorSource = string | ModelFile | ModelBytes;

/** Progress of `open`/`import`: downloads (per file), then model loading and the store. */
export interface OpenProgress {
  stage: 'download' | 'load-embedder' | 'load-generator' | 'open';
  /** The file being downloaded (absolute URL); absent for other stages. */
  file?: string;
  /** Bytes (download) or steps done. */
  loaded: number;
  /** Bytes (download; 0 when the server sends no length) or steps in all. */
  total: number;
  /** True when the file came from the Cache API without a download. */
  cached?: boolean;
}

/** The options of `open`: the model files, how they are fetched, the devices (generated type
 * `OpenDeviceOptions`: `backend`, `generatorBackend`, `cpuBackend`) and the knowledge base's own
 * (generated type `KnowledgeBaseOptions`: `chunkTokens`, `chunkOverlap`, `persist`, `exactBelow`,
 * `efSearch`). */
export interface OpenOptions extends KnowledgeBaseOptions, OpenDeviceOptions {
  /** Required. */
  embedder: EmbedderSource;
  /** Optional: without it, `search` works and `ask` fails with E_NO_GENERATOR. */
  generator?: GeneratorSource;
  /** Allow model URLs on another origin (default false). */
  allowCrossOrigin?: boolean;
  /** Keep downloaded model files in the Cache API (default true), so a second visit
   * downloads nothing. */
  cache?: boolean;
  onProgress?: (p: OpenProgress) => void;
  /** Aborts downloads and loading (E_ABORTED). */
  signal?: AbortSignal;
}

export interface ImportOptions extends OpenOptions {
  /** Replace a knowledge base of that name that already holds documents (default false:
   * E_INPUT). */
  overwrite?: boolean;
}

/** Progress of `add`: `{ stage, loaded, total }`. */
export type AddProgress = Progress;

/** A change to the stored documents, from this instance or another tab. */
export interface ChangeEvent {
  /** Increases with every write. */
  generation: number;
  /** True when another tab or Worker made the change. */
  remote: boolean;
}

/** The two builds of the WebAssembly module: SIMD128 everywhere, relaxed SIMD where the engine
 * has it (8-bit integer products in the quantized embedder). */
export type WasmVariant = 'baseline' | 'relaxed-simd';

/** The threads a module runs its CPU work on. */
export interface ThreadsInfo {
  /** Threads of the pool (1: the single-threaded module). */
  count: number;
  /** The `threads` option of the open that loaded the module. */
  requested: number | 'auto';
  /** Why one thread runs, or null: not cross-origin isolated, `threads: 1`, a model on
   * WebGPU (the threaded module runs on the CPU only), no threaded module in the package. */
  reason: string | null;
  /** Parallel tasks of the CPU products each pool thread has run, then those run by the
   * calling thread outside the pool; empty with one thread. */
  tasks: number[];
}

export declare class LocalRag {
  private constructor();
  /** Loads the models (downloading and caching them) and opens (or creates) the knowledge
   * base `name` in IndexedDB. */
  static open(name: string, options: OpenOptions): Promise<LocalRag>;
  /** Creates the knowledge base `name` from an `export()` file and opens it. */
  static import(name: string, file: Blob | ArrayBuffer | Uint8Array, options: ImportOptions): Promise<LocalRag>;
  /** Deletes a knowledge base and all it stored; instances open on it (in any tab) let go
   * and fail with E_CLOSED afterwards. */
  static destroy(name: string): Promise<void>;
  /** Removes the downloaded model files from the Cache API. */
  static clearModelCache(): Promise<void>;
  /** Chooses this thread's WebAssembly module before the first `open`/`import`/`destroy`
   * loads it: 'auto' (the default) takes the relaxed-SIMD build where the engine validates it
   * (faster quantized embedding), else the baseline one; naming one forces it (E_UNSUPPORTED
   * at load where it cannot run). E_INPUT once another module is loaded. */
  static selectWasm(variant: 'auto' | WasmVariant): void;
  /** The module this thread runs, null before it is loaded. */
  static readonly wasm: WasmVariant | null;
  /** The threads of this thread's module (option `threads` of the first open), null before it
   * is loaded. */
  static readonly threads: ThreadsInfo | null;

  readonly name: string;
  /** Where the embedder runs. */
  readonly backend: 'webgpu' | 'cpu';
  /** Where the generator runs, or null without one. */
  readonly generatorBackend: 'webgpu' | 'cpu' | null;
  /** Vector length of the embedder. */
  readonly dim: number;
  /** True after an internal failure: every later call fails with E_BROKEN; reload the page. */
  readonly broken: boolean;

  add(docs: DocumentInput[], options?: AddOptions): Promise<AddReport>;
  search(query: string, options?: SearchOptions): Promise<Hit[]>;
  ask(question: string, options?: AskOptions): Promise<Answer>;
  remove(ids: string | string[]): Promise<number>;
  get(id: string): Promise<StoredDocument | undefined>;
  list(): Promise<DocumentInfo[]>;
  stats(): Promise<KnowledgeBaseStats & { generation: number; backend: 'webgpu' | 'cpu'; generatorBackend: 'webgpu' | 'cpu' | null; wasm: WasmVariant; threads: ThreadsInfo }>;
  /** Unit-length vectors of texts, one `Float32Array` each; with `role`, each text after that
   * role's prompt (what the knowledge base does with chunks and queries). */
  embed(texts: string[], role?: 'query' | 'passage'): Promise<Float32Array[]>;
  /** One versioned binary file: documents, chunks, vectors, index snapshot, manifest. */
  export(): Promise<Uint8Array>;
  /** Calls `listener` after every write (here or in another tab); returns an unsubscribe. */
  onChange(listener: (e: ChangeEvent) => void): () => void;
  close(): Promise<void>;
  /** Closes and deletes this knowledge base. */
  destroy(): Promise<void>;
}
