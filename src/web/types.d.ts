// Generated from the Rust types by `LOCALRAG_WRITE_CONTRACT=1 cargo test --test native contract`; do not edit.

/** Every code a localrag error can carry. */
export type ErrorCode =
  | 'E_INPUT'
  | 'E_MODEL_FETCH'
  | 'E_MODEL_FORMAT'
  | 'E_CONFIG'
  | 'E_TOKENIZER'
  | 'E_BACKEND'
  | 'E_OUTPUT'
  | 'E_STORAGE'
  | 'E_QUOTA'
  | 'E_MODEL_MISMATCH'
  | 'E_DIM_MISMATCH'
  | 'E_CORRUPT'
  | 'E_LOST'
  | 'E_CLOSED'
  | 'E_ABORTED'
  | 'E_NO_GENERATOR'
  | 'E_BROKEN'
  | 'E_UNSUPPORTED';

/** Every error localrag throws: a JS `Error` with a stable `code`. */
export interface LocalRagError extends Error {
  name: 'LocalRagError';
  code: ErrorCode;
}

/**
 * A model file given as bytes.
 */
export type ModelBytes = ArrayBuffer | Uint8Array;

/**
 * A JSON-like object.
 */
export type JsonObject = Record<string, unknown>;

/**
 * Which device runs a model. `'auto'` picks WebGPU when the browser gives a hardware adapter
 * (a software fallback such as SwiftShader counts as none) and the CPU otherwise.
 */
export type BackendChoice = "auto" | "webgpu" | "cpu";

/**
 * Burn's CPU backend of the fallback. `'flex'`, Burn's current pure-Rust backend, is the only
 * one built (Cargo.toml says why); the option stays so another can be added without a new one.
 */
export type CpuBackend = "flex";

/**
 * How many threads the CPU work may use in the browser (the threaded module's rayon pool).
 * `'auto'` (the default): where the page is cross-origin isolated and the models run on the
 * CPU, one per logical core, at most 8; otherwise the single-threaded module. A whole number
 * from 1 to 64: that many (1 loads the single-threaded module; more need cross-origin
 * isolation, without which the single-threaded module runs and `LocalRag.threads` says why).
 * The first `open` of a thread (page or Worker) decides; natively rayon's own pool is used.
 */
export type Threads = number | 'auto';

/**
 * Where a model loader puts the model.
 */
export type DeviceOptions = {
  /**
   * Default `'auto'`.
   */
  backend?: BackendChoice;
  /**
   * Which Burn CPU backend the CPU fallback uses (default and only value 'flex').
   */
  cpuBackend?: CpuBackend;
};

/**
 * The device options of `LocalRag.open`: one choice for both models, or one for each.
 */
export type OpenDeviceOptions = {
  /**
   * Device of both models (default 'auto': WebGPU when the browser gives a hardware adapter,
   * else the CPU).
   */
  backend?: BackendChoice;
  /**
   * Device of the generator only (default: `backend`).
   */
  generatorBackend?: BackendChoice;
  /**
   * Burn CPU backend of the fallback (default 'flex').
   */
  cpuBackend?: CpuBackend;
  /**
   * Threads of the CPU work in the browser (default 'auto'; read before the wasm module loads).
   */
  threads?: Threads;
};

/**
 * How token vectors become one sentence vector.
 */
export type Pooling = "mean" | "cls";

/**
 * Text put before each query and each passage (sentence-transformers' `prompts`).
 */
export type Prompts = {
  query?: string;
  passage?: string;
};

/**
 * Which side of a search a text is on: models such as E5 embed each with its own prompt.
 */
export type Role = "query" | "passage";

/**
 * Knobs that override what the model files say.
 */
export type EmbedderOptions = {
  /**
   * Tokens read per text (default: the model's max_seq_length, 256 for all-MiniLM-L6-v2).
   */
  maxSeqLength?: number;
  /**
   * Overrides the pooling config.
   */
  pooling?: Pooling;
  /**
   * Texts per forward pass, 1..1024 (default 16).
   */
  batchSize?: number;
  /**
   * Prompts put before queries and passages; each given one overrides the model folder's
   * `config_sentence_transformers.json` (E5 models: `"query: "` and `"passage: "`).
   */
  prompts?: Prompts;
};

/**
 * The files of a sentence-transformers model as bytes (owned).
 */
export type EmbedderFileBytes = {
  /**
   * `config.json` (empty or absent: read from a GGUF model).
   */
  config?: ModelBytes;
  /**
   * `tokenizer.json` (empty or absent: the vocabulary a GGUF model carries).
   */
  tokenizer?: ModelBytes;
  /**
   * `1_Pooling/config.json` (optional; mean pooling without it).
   */
  poolingConfig?: ModelBytes;
  /**
   * `sentence_bert_config.json` (optional; gives max_seq_length).
   */
  sentenceConfig?: ModelBytes;
  /**
   * `config_sentence_transformers.json` (optional; gives the query and passage prompts).
   */
  sentenceTransformersConfig?: ModelBytes;
  /**
   * `model.gguf` (a `bert` GGUF file) or `model.safetensors`.
   */
  model: ModelBytes;
};

/**
 * What the browser's `Embedder.load` takes: the model's files as bytes, the embedder's options
 * and the device, in one object.
 */
export type EmbedderLoadOptions = {
} & EmbedderFileBytes & EmbedderOptions & DeviceOptions;

/**
 * The options of a knowledge base that `open` and `import` take.
 */
export type KnowledgeBaseOptions = {
  /**
   * Most tokens per chunk (default 200; at most the model's maxSeqLength - 2).
   */
  chunkTokens?: number;
  /**
   * Tokens of whole sentences repeated between consecutive chunks (default 24).
   */
  chunkOverlap?: number;
  /**
   * Ask the browser to keep this origin's storage (`navigator.storage.persist()`). Default
   * true.
   */
  persist?: boolean;
  /**
   * Advanced: below this many chunks search is exact and no HNSW is built (default 4096).
   */
  exactBelow?: number;
  /**
   * Advanced: HNSW candidate list, 16..2048 (default 64), fixed when the base is (re)built.
   */
  efSearch?: number;
};

/**
 * The options of the raw `KnowledgeBase.import`: the knowledge base's, and whether to replace
 * one that holds documents.
 */
export type ImportKnowledgeBaseOptions = {
  /**
   * Replace a knowledge base of that name that holds documents (default false: E_INPUT).
   */
  overwrite?: boolean;
} & KnowledgeBaseOptions;

/**
 * Where a page begins.
 */
export type PageStart = {
  /**
   * 1-based page number, as printed or counted.
   */
  number: number;
  /**
   * UTF-16 offset of the page's first character in the text.
   */
  start: number;
};

/**
 * A heading: its text is `text.slice(start, end)`.
 */
export type Heading = {
  /**
   * 1 (a title or chapter) to 6.
   */
  level: number;
  start: number;
  end: number;
};

/**
 * Where a document's pages begin and its headings stand.
 */
export type DocumentStructure = {
  /**
   * The pages, in order: page `number` begins at `start`.
   */
  pages?: Array<PageStart>;
  /**
   * The headings, in order, not overlapping.
   */
  headings?: Array<Heading>;
};

/**
 * A document as the caller gives it.
 */
export type DocumentInput = {
  /**
   * Default: a hash of the text. Re-adding an id replaces the document.
   */
  id?: string;
  title?: string;
  /**
   * Where the text came from (a file name, a URL): shown with citations.
   */
  source?: string;
  /**
   * Required, non-empty; lone UTF-16 surrogates are refused (E_INPUT).
   */
  text: string;
  /**
   * A JSON object; `filter.metadata` matches its top-level keys.
   */
  metadata?: Record<string, unknown>;
  /**
   * Where the pages begin and the headings stand (UTF-16 offsets into `text`), as
   * `localrag/loaders` gives it: chunks do not run across headings or page starts, and
   * hits and citations say their pages and heading path.
   */
  structure?: DocumentStructure;
};

/**
 * A stage of `add`: chunking, embedding, the store's write, and (when thresholds say so)
 * rebuilding the HNSW graph after the write.
 */
export type AddStage = "chunk" | "embed" | "store" | "index";

/**
 * Progress of `add`.
 */
export type Progress = {
  stage: AddStage;
  /**
   * Steps done (documents chunked, chunks embedded, …).
   */
  loaded: number;
  total: number;
};

/**
 * The options of `add`: only the caller's hooks.
 */
export type AddOptions = {
  /**
   * Called with the progress of each stage.
   */
  onProgress?: (p: Progress) => void;
  /**
   * Aborting before the write rejects with E_ABORTED and stores nothing.
   */
  signal?: AbortSignal;
};

/**
 * What an `add` did.
 */
export type AddReport = {
  added: number;
  updated: number;
  unchanged: number;
  /**
   * Chunks newly embedded.
   */
  chunks: number;
  ids: Array<string>;
};

/**
 * What `refresh` did.
 */
export type RefreshResult = {
  /**
   * True when another tab or Worker had changed the documents and they were reloaded.
   */
  changed: boolean;
  /**
   * The write counter now loaded.
   */
  generation: number;
};

/**
 * Which retrievers run.
 */
export type Mode = "vector" | "lexical" | "hybrid";

/**
 * Which passages to keep.
 */
export type SearchFilter = {
  /**
   * Only these documents.
   */
  docIds?: Array<string>;
  /**
   * Top-level metadata keys that must equal these values.
   */
  metadata?: JsonObject;
};

/**
 * How to search.
 */
export type SearchOptions = {
  /**
   * Passages to return, 1..100 (default 5).
   */
  k?: number;
  /**
   * Default 'hybrid'.
   */
  mode?: Mode;
  filter?: SearchFilter;
  /**
   * Maximal marginal relevance trade-off, 0..1 (default 0.7; 1 = relevance only).
   */
  mmrLambda?: number;
  /**
   * Set false to skip reranking (default true).
   */
  rerank?: boolean;
};

/**
 * The scores that ranked a hit.
 */
export type HitScores = {
  /**
   * Cosine similarity to the query (null when the vector retriever did not find it).
   */
  vector: number | null;
  /**
   * BM25 score (null when the lexical retriever did not find it).
   */
  lexical: number | null;
  fused: number;
  rerank: number;
};

/**
 * One retrieved passage.
 */
export type Hit = {
  docId: string;
  chunkId: number;
  text: string;
  /**
   * UTF-16 offsets: `doc.text.slice(start, end) === text`.
   */
  start: number;
  end: number;
  title: string;
  source: string;
  metadata: Record<string, unknown>;
  /**
   * First and last page of the passage (documents with pages: PDFs).
   */
  pages?: [number, number];
  /**
   * The headings above the passage, outermost first (empty for a document without headings).
   */
  headingPath: Array<string>;
  score: number;
  scores: HitScores;
};

/**
 * One chunk of a stored document.
 */
export type StoredChunk = {
  id: number;
  /**
   * UTF-16 offsets into the document's text.
   */
  start: number;
  end: number;
  text: string;
  /**
   * First and last page of the chunk (documents with pages).
   */
  pages?: [number, number];
  /**
   * The headings above the chunk, outermost first (empty for a document without headings).
   */
  headingPath: Array<string>;
};

/**
 * A stored document with its chunks.
 */
export type StoredDocument = {
  id: string;
  title: string;
  source: string;
  text: string;
  metadata: Record<string, unknown>;
  chunks: Array<StoredChunk>;
  /**
   * Its pages and headings, as given to `add`.
   */
  structure?: DocumentStructure;
};

/**
 * A document without its text, for listings.
 */
export type DocumentInfo = {
  id: string;
  title: string;
  source: string;
  metadata: Record<string, unknown>;
  /**
   * Length of the text in UTF-16 code units.
   */
  chars: number;
  chunks: number;
};

/**
 * What happened to a stored snapshot on open. Shown as `"loaded"`, `"missing"` or
 * `"rebuilt: <why>"`.
 */
export type SnapshotState = 'loaded' | 'missing' | `rebuilt: ${string}`;

/**
 * The origin's storage use, as the browser estimates it.
 */
export type StorageEstimate = {
  usage: number;
  quota: number;
  persisted: boolean | null;
};

/**
 * Counts and state.
 */
export type KnowledgeBaseStats = {
  documents: number;
  chunks: number;
  dim: number;
  model: string;
  baseSegment: number;
  mutableSegment: number;
  tombstones: number;
  vocabulary: number;
  /**
   * What happened to the stored index snapshot on open: 'loaded', 'missing' or
   * 'rebuilt: <why>'.
   */
  snapshot: SnapshotState;
  /**
   * Records that could not be decoded on open and were left out.
   */
  skippedRecords: number;
  /**
   * Counts the writes of documents; another tab's write raises it.
   */
  generation: number;
  /**
   * `navigator.storage.estimate()` for the whole origin, when available (filled in by the
   * browser layer).
   */
  storage: StorageEstimate | null;
};

/**
 * What the browser's `Generator.load` takes: the GGUF file as bytes and the device.
 */
export type GeneratorLoadOptions = {
  /**
   * A GGUF file (architectures: see `ARCHITECTURES`; weights of any type `GgmlType::READABLE`).
   */
  model: ModelBytes;
} & DeviceOptions;

/**
 * One chat message.
 */
export type ChatMessage = {
  role: 'system' | 'user' | 'assistant';
  content: string;
};

/**
 * How to sample. The defaults give deterministic greedy decoding.
 */
export type SamplingParams = {
  /**
   * 0 (default) is greedy; higher is more random.
   */
  temperature?: number;
  /**
   * Keep the k most likely tokens when sampling, 0 = all (default 40).
   */
  topK?: number;
  /**
   * Nucleus sampling, (0, 1] (default 0.95).
   */
  topP?: number;
  /**
   * > 1 discourages repeating the last 64 tokens (default 1, off).
   */
  repetitionPenalty?: number;
  /**
   * Seed of the sampler (default 0): the same seed gives the same text.
   */
  seed?: number;
};

/**
 * Options of one generation (what `generate` and `ask` share). In JavaScript the sampling
 * parameters sit in the same object.
 */
export type SamplingOptions = {
  /**
   * Tokens to generate at most (default 256). The context is never exceeded.
   */
  maxTokens?: number;
  /**
   * Strings that end generation; they are not part of the text.
   */
  stop?: Array<string>;
  /**
   * Called with each piece of new text (never half a character).
   */
  onToken?: (delta: string) => void;
  /**
   * Aborting rejects with E_ABORTED between two tokens.
   */
  signal?: AbortSignal;
} & SamplingParams;

/**
 * The options of `Generator.generate` besides the sampling options.
 */
export type GenerateOptions = {
  /**
   * Use the prompt string as it is (special tokens such as `<|im_start|>` recognised) instead
   * of as a user message in the model's chat template.
   */
  raw?: boolean;
  /**
   * Benchmarks: do not stop at end-of-turn tokens.
   */
  ignoreEos?: boolean;
} & SamplingOptions;

/**
 * Why generation ended.
 */
export type FinishReason = "eos" | "stop" | "length" | "context" | "cancelled";

/**
 * Token counts of one generation.
 */
export type Usage = {
  promptTokens: number;
  completionTokens: number;
};

/**
 * Where the time of a generation went.
 */
export type Timings = {
  /**
   * Time to the first generated token (the prompt's forward pass and the first read-back).
   */
  prefillMs: number;
  /**
   * Time of the remaining tokens.
   */
  decodeMs: number;
};

/**
 * A finished generation, as `Generator.generate` returns it.
 */
export type Generation = {
  text: string;
  finishReason: FinishReason;
  usage: Usage;
  timings: Timings;
  promptIds: Array<number>;
  ids: Array<number>;
};

/**
 * How `ask` answers: the search options, the generation options and its own.
 */
export type AskOptions = {
  /**
   * Least cosine similarity between question and passage, -1..1 (default 0.25). With no
   * passage above it, the answer says so and the model is not run.
   */
  minScore?: number;
  /**
   * Tokens the prompt and the answer share (default 2048, at most the model's context).
   */
  contextTokens?: number;
  /**
   * Least support, 0..1, for linking a sentence the model did not cite to the passage that
   * supports it best (`support: "inferred"`); below it the sentence is `"unsupported"`
   * (default 0.5, measured: BENCHMARKS.md "Attribution").
   */
  minSupport?: number;
} & SearchOptions & SamplingOptions;

/**
 * A passage given to the model (and, when the answer cites it, a citation).
 */
export type Citation = {
  /**
   * The passage's number in the prompt (`[n]` in the answer).
   */
  n: number;
  docId: string;
  chunkId: number;
  title: string;
  /**
   * UTF-16 offsets of the passage in its document.
   */
  start: number;
  end: number;
  text: string;
  /**
   * First and last page of the passage (documents with pages).
   */
  pages?: [number, number];
  /**
   * The headings above the passage, outermost first.
   */
  headingPath: Array<string>;
};

/**
 * How a sentence of an answer is backed by the passages.
 */
export type Support = "cited" | "inferred" | "unsupported";

/**
 * A sentence of an answer and the passages behind it.
 */
export type AnswerSentence = {
  /**
   * UTF-16 offsets of the sentence in the answer (its citation marks included).
   */
  start: number;
  end: number;
  support: Support;
  /**
   * Passage numbers (`n` of `passages`): those cited, or the one inferred; empty when
   * unsupported.
   */
  passages: Array<number>;
  /**
   * The best support any passage gives the sentence, 0..1 (null for a sentence without
   * words).
   */
  score: number | null;
};

/**
 * What `ask` returns.
 */
export type Answer = {
  answer: string;
  /**
   * Passages the answer cites, in order of first citation.
   */
  citations: Array<Citation>;
  /**
   * Numbers the answer cites that were never given (dropped from `citations`).
   */
  invalidCitations: Array<number>;
  /**
   * Every passage given to the model, numbered from 1.
   */
  passages: Array<Citation>;
  /**
   * Each sentence of the answer with the passages behind it: cited by the model, inferred
   * (not cited, but a passage supports it), or unsupported. Empty when the model did not run.
   */
  sentences: Array<AnswerSentence>;
  usage: Usage;
  /**
   * null when no passage was relevant and the model did not run.
   */
  finishReason: FinishReason | null;
  /**
   * null when the model did not run.
   */
  timings: Timings | null;
};
