//! The contract between Rust and JavaScript, written out from the Rust types: the TypeScript
//! declarations of every type that crosses the boundary (by ts-rs) and the JavaScript constants
//! that must equal Rust's (the error codes, the embedder's files). `tests/contract.rs` fails
//! when the committed files differ from what this generates (`src/web/types.d.ts`, which the
//! wasm-bindgen glue's `localrag.d.ts` includes, and `src/web/js/contract.js`), and rewrites
//! them with `LOCALRAG_WRITE_CONTRACT=1`.

use ts_rs::{Config, TS};

use crate::device::{
    AUTO_THREADS_CAP, BackendChoice, CpuBackend, DeviceOptions, MAX_THREADS, OpenDeviceOptions,
    SOFTWARE_ADAPTERS, Threads,
};
use crate::embed::{
    EmbedderFileBytes, EmbedderLoad, EmbedderOptions, FILES, Pooling, Prompts, Role,
};
use crate::error::Error;
use crate::formats::ModelBytes;
use crate::generate::{
    FinishReason, GenerateOptions, GenerateParams, GenerationResult, GeneratorLoad, Message,
    SamplingParams, Timings, Usage,
};
use crate::hooks::{Progress, Stage};
use crate::kb::{
    AddOptions, AddReport, DocInfo, DocInput, Filter, Hit, HitScores, ImportOptions,
    KnowledgeBaseOptions, RefreshResult, SearchOptions, Stats, StorageEstimate, StoredChunk,
    StoredDocument,
};
use crate::options::Options;
use crate::rag::{Answer, AnswerSentence, AskOptions, Citation, Support};
use crate::retrieval::{Mode, SnapshotState};
use crate::text::{Heading, PageStart, Structure};
use crate::util::JsonObject;

/// Where the generated files live, relative to the crate's root.
pub const TYPES_PATH: &str = "src/web/types.d.ts";
pub const CONSTANTS_PATH: &str = "src/web/js/contract.js";

const HEADER: &str = "Generated from the Rust types by `LOCALRAG_WRITE_CONTRACT=1 cargo test --test native contract`; do not edit.";

/// One exported declaration, with its documentation.
fn decl<T: TS>(cfg: &Config) -> String {
    let docs = T::docs().unwrap_or_default();
    format!("{docs}export {}\n", pretty(&T::decl(cfg)))
}

/// The declaration of options read from one object with other options structs: its own fields
/// intersected with theirs.
fn composite<T: TS + Options>(cfg: &Config) -> String {
    let own = decl::<T>(cfg);
    let own = own.trim_end().trim_end_matches(';');
    format!("{own} & {};\n", T::parts(cfg).join(" & "))
}

/// Puts each field of an object type on its own line (ts-rs writes them on one).
fn pretty(decl: &str) -> String {
    let Some(open) = decl.find("= {") else {
        return decl.to_string();
    };
    let (head, body) = decl.split_at(open + 3);
    let mut out = String::from(head);
    let mut depth = 0i32;
    let mut line = String::new();
    let mut fields: Vec<String> = Vec::new();
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            // A doc comment is copied as it is (its commas are not field separators).
            '/' if chars.peek() == Some(&'*') => {
                line.push(c);
                let mut prev = ' ';
                for d in chars.by_ref() {
                    line.push(d);
                    if prev == '*' && d == '/' {
                        break;
                    }
                    prev = d;
                }
                continue;
            }
            '{' | '(' | '[' | '<' => depth += 1,
            '}' | ')' | ']' | '>' if depth > 0 => depth -= 1,
            '}' if depth == 0 => {
                fields.push(std::mem::take(&mut line));
                let rest: String = chars.collect();
                for f in fields.iter().map(|f| f.trim()).filter(|f| !f.is_empty()) {
                    for l in f.lines() {
                        let l = l.trim();
                        out.push_str("\n  ");
                        out.push_str(if l.starts_with('*') { " " } else { "" });
                        out.push_str(l);
                    }
                    out.push(';');
                }
                out.push_str("\n}");
                out.push_str(&rest);
                return out;
            }
            ',' if depth == 0 => {
                fields.push(std::mem::take(&mut line));
                continue;
            }
            _ => {}
        }
        line.push(c);
    }
    decl.to_string()
}

/// The TypeScript declarations (`src/web/types.d.ts`).
pub fn typescript() -> String {
    let cfg = Config::new().with_large_int("number");
    let codes: Vec<String> = Error::CODES.iter().map(|c| format!("'{c}'")).collect();
    let mut out = format!(
        "// {HEADER}\n\n/** Every code a localrag error can carry. */\nexport type ErrorCode =\n  | {};\n\n\
         /** Every error localrag throws: a JS `Error` with a stable `code`. */\n\
         export interface LocalRagError extends Error {{\n  name: 'LocalRagError';\n  code: ErrorCode;\n}}\n",
        codes.join("\n  | ")
    );
    for d in [
        // Devices and model files.
        decl::<ModelBytes>(&cfg),
        decl::<JsonObject>(&cfg),
        decl::<BackendChoice>(&cfg),
        decl::<CpuBackend>(&cfg),
        decl::<Threads>(&cfg),
        decl::<DeviceOptions>(&cfg),
        decl::<OpenDeviceOptions>(&cfg),
        // The embedder.
        decl::<Pooling>(&cfg),
        decl::<Prompts>(&cfg),
        decl::<Role>(&cfg),
        decl::<EmbedderOptions>(&cfg),
        decl::<EmbedderFileBytes>(&cfg),
        composite::<EmbedderLoad>(&cfg),
        // The knowledge base.
        decl::<KnowledgeBaseOptions>(&cfg),
        composite::<ImportOptions>(&cfg),
        decl::<PageStart>(&cfg),
        decl::<Heading>(&cfg),
        decl::<Structure>(&cfg),
        decl::<DocInput>(&cfg),
        decl::<Stage>(&cfg),
        decl::<Progress>(&cfg),
        decl::<AddOptions>(&cfg),
        decl::<AddReport>(&cfg),
        decl::<RefreshResult>(&cfg),
        decl::<Mode>(&cfg),
        decl::<Filter>(&cfg),
        decl::<SearchOptions>(&cfg),
        decl::<HitScores>(&cfg),
        decl::<Hit>(&cfg),
        decl::<StoredChunk>(&cfg),
        decl::<StoredDocument>(&cfg),
        decl::<DocInfo>(&cfg),
        decl::<SnapshotState>(&cfg),
        decl::<StorageEstimate>(&cfg),
        decl::<Stats>(&cfg),
        // The generator.
        composite::<GeneratorLoad>(&cfg),
        decl::<Message>(&cfg),
        decl::<SamplingParams>(&cfg),
        composite::<GenerateParams>(&cfg),
        composite::<GenerateOptions>(&cfg),
        decl::<FinishReason>(&cfg),
        decl::<Usage>(&cfg),
        decl::<Timings>(&cfg),
        decl::<GenerationResult>(&cfg),
        // Answers.
        composite::<AskOptions>(&cfg),
        decl::<Citation>(&cfg),
        decl::<Support>(&cfg),
        decl::<AnswerSentence>(&cfg),
        decl::<Answer>(&cfg),
    ] {
        out.push('\n');
        out.push_str(&d);
    }
    out
}

/// The JavaScript constants (`src/web/js/contract.js`).
pub fn constants() -> String {
    format!(
        "// {HEADER}\n\n/** Every code a LocalRagError can carry (listed in the README). */\n\
         export const ERROR_CODES = Object.freeze({});\n\n\
         /** The embedder's files: option key, path in a sentence-transformers folder, required. */\n\
         export const EMBEDDER_FILES = Object.freeze({}.map(Object.freeze));\n\n\
         /** `threads`: the most a page may ask for, and the most 'auto' takes. */\n\
         export const MAX_THREADS = {MAX_THREADS};\nexport const AUTO_THREADS_CAP = {AUTO_THREADS_CAP};\n\n\
         /** Lower-case names in the description of a software WebGPU adapter ('auto' passes it over). */\n\
         export const SOFTWARE_ADAPTERS = Object.freeze({});\n",
        json(&Error::CODES),
        json(&FILES),
        json(&SOFTWARE_ADAPTERS),
    )
}

/// Pretty JSON, one element per line.
fn json<T: serde::Serialize + ?Sized>(v: &T) -> String {
    serde_json::to_string_pretty(v).expect("serialisable")
}
