//! localrag: private retrieval-augmented generation that runs inside a web page.
//!
//! The crate has a platform-free core, tested natively, and a thin browser layer ([`web`],
//! wasm32 only) that is the only code touching `web-sys`/`js-sys`. The core, from the bottom
//! up (a module uses only the ones above it in this list):
//!
//! | module | what |
//! |---|---|
//! | `error`, `util`, `hooks` | the error type and its codes; digests and vector arithmetic; how long operations report to their host |
//! | `text` | the lexical analyzer and the chunker |
//! | `retrieval` | the vector index (HNSW + mutable segment), BM25, fusion and MMR, evaluation metrics |
//! | `formats` | safetensors, the GGUF container, ggml's quantized blocks |
//! | `device` | which compute device (Burn's wgpu or CPU backends) |
//! | `kernels` | matrix products with weights kept in their quantized blocks |
//! | `models` | one model architecture per file (BERT; Llama, Qwen2, Qwen3, Gemma 3 over a shared decoder) |
//! | `embed` | the sentence embedder (tokenize, batch, pool, check) |
//! | `generate` | the generator (tokenizer, chat template, sampler, text stream, generation loop) |
//! | `kb` | the knowledge base over a [`Store`]: records, add, search, the export file |
//! | `rag` | the `ask` flow: retrieval, the grounded prompt, the answer with citations |
//! | `contract` | the TypeScript types and JS constants generated from the Rust types |
//!
//! The public Rust API is what this file re-exports.

// The browser suite (tests/web.rs, compiled into the module with the feature `testing`) names
// this crate as its users do.
#[cfg(all(target_arch = "wasm32", feature = "testing"))]
extern crate self as localrag;

mod device;
mod embed;
mod error;
mod formats;
mod generate;
mod hooks;
mod kb;
mod kernels;
mod models;
mod options;
mod rag;
mod retrieval;
mod text;
mod util;

#[cfg(not(target_arch = "wasm32"))]
pub mod contract;
#[cfg(target_arch = "wasm32")]
pub mod web;

pub use device::{
    AUTO_THREADS_CAP, BackendChoice, BackendKind, CpuBackend, DeviceOptions, MAX_THREADS,
    OpenDeviceOptions, Threads,
};
pub use device::{cpu_device, gpu_adapter_info, gpu_device_async, is_software_adapter};
#[cfg(not(target_arch = "wasm32"))]
pub use device::{gpu_device, hardware_gpu_device};
/// The embedder's tokenizer on its own (the fuzzing run reads `tokenizer.json` through it).
pub use embed::tokenizer::TextTokenizer;
pub use embed::{
    Embed, Embedder, EmbedderFile, EmbedderFileBytes, EmbedderFiles, EmbedderOptions, FILES,
    MAX_BATCH_SIZE, MAX_TEXT_BYTES, Pooling, Prompts, Role,
};
pub use error::{Error, Result};
pub use formats::{GgmlType, Gguf, GgufValue, TensorInfo, Weights, dequantize, dequantize_row};
pub use generate::{
    ChatTemplate, ChatTokenizer, DEFAULT_MAX_TOKENS, FinishReason, GenerateOptions, GenerateParams,
    Generation, GenerationResult, Generator, Message, Prompt, SamplingParams, Step, Timings, Usage,
    argmax, top_k,
};
pub use hooks::{Hooks, Progress, Stage};
pub use kb::{
    AddReport, Contents, DocInfo, DocInput, Filter, Hit, HitScores, KbOptions, KnowledgeBase,
    KnowledgeBaseOptions, MAX_DOC_BYTES, MAX_ID_BYTES, MAX_K, Manifest, MemoryStore, Op,
    PassageContext, SearchOptions, Space, Stats, Store, StoredChunk, StoredDocument,
};
pub use models::bert::{Bert, BertConfig};
pub use models::decoder::{
    ARCHITECTURES, Activation, Cache, Decoder, DecoderConfig, DecoderWeights, GgufSource,
    RopeStyle, config_of, load_weights,
};
pub use models::llama::permute_for_pairs;
pub use options::{Options, Source};
pub use rag::{
    Answer, AnswerSentence, AskOptions, Citation, GroundedPrompt, MIN_SUPPORT, NO_ANSWER, Prepared,
    SYSTEM_PROMPT, Support, SupportPassage, attribute, build_prompt, cited_numbers,
    parse_citations, relevant, support_score, support_signals,
};
pub use retrieval::{
    IndexOptions, IndexStats, Metrics, Mode, SnapshotState, Vector, VectorIndex, evaluate,
};
pub use text::{ChunkOptions, ChunkSpan, TokenSpans, chunk_text, utf16_len};
pub use text::{Heading, Location, PageStart, Structure};
pub use util::{cosine, sha256_hex};

/// Helpers of the benchmarks and tests (feature `testing`).
#[cfg(any(test, feature = "testing"))]
pub mod testing {
    pub use crate::retrieval::bench::{measure, noisy_queries, quantile, random_unit};
}

/// The `ask` flow, step by step.
pub mod ask {
    pub use crate::rag::{answer, ask, attribute_answer, prepare};
}
