//! `localrag` command line: the same core as the browser package, for scripts and evaluation.
//! `localrag --help` (and `localrag COMMAND --help`) lists the commands and their options.

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
mod input;
#[cfg(not(target_arch = "wasm32"))]
mod run;

#[cfg(not(target_arch = "wasm32"))]
pub use cli::*;

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    use clap::{CommandFactory, Parser};
    let args = cli::Cli::parse();
    if let Err(e) = run::run(args) {
        match e {
            // Checked after parsing (value ranges clap cannot express): exit 2 with the usage.
            cli::CliError::Usage(m) => cli::Cli::command()
                .error(clap::error::ErrorKind::ValueValidation, m)
                .exit(),
            cli::CliError::Failed(m) => {
                eprintln!("localrag: {m}");
                std::process::exit(1);
            }
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod cli {
    use std::path::PathBuf;

    use clap::{Args, Parser, Subcommand, ValueEnum};
    use localrag::{MAX_K, Mode};

    /// Why a command failed: bad usage (exit 2) or a failure while running (exit 1).
    pub enum CliError {
        Usage(String),
        Failed(String),
    }

    impl From<localrag::Error> for CliError {
        fn from(e: localrag::Error) -> Self {
            CliError::Failed(e.to_string())
        }
    }

    /// Private retrieval-augmented generation: the core of the localrag browser package, run
    /// natively.
    #[derive(Parser)]
    #[command(name = "localrag", version)]
    pub struct Cli {
        #[command(subcommand)]
        pub command: Command,
    }

    #[derive(Subcommand)]
    pub enum Command {
        /// Reads one JSON string per stdin line and writes one JSON array of floats per line.
        Embed {
            #[command(flatten)]
            model: ModelArgs,
            /// Texts per forward pass.
            #[arg(long, default_value_t = 16)]
            batch_size: usize,
        },
        /// Indexes a corpus in memory, then answers each stdin query `{"qid","text"}` with one
        /// line `{"qid","hits":[{"doc_id","chunk_id","score"}]}`.
        Search(SearchArgs),
        /// Runs the stdin queries (k at least 10) and prints one JSON line of metrics against
        /// the relevance judgements.
        Eval {
            #[command(flatten)]
            search: SearchArgs,
            /// JSON lines `{"qid","doc_id","relevance"}` (relevance 1 when absent).
            #[arg(long)]
            qrels: PathBuf,
            /// Scores vector, lexical and hybrid search over one index (one line each) instead
            /// of --mode alone.
            #[arg(long)]
            all_modes: bool,
        },
        /// Measures attribution: reads labelled cases `{"question","passages":[doc ids],
        /// "sentences":[[text, supporting doc id or null]]}` on stdin (passage texts from
        /// --corpus) and writes one line per sentence
        /// `{"case","sentence","label","passages","signals":[[cosine, lexical] per passage]}`.
        Attribution {
            #[command(flatten)]
            model: ModelArgs,
            /// JSON lines `{"id","title","text"}`: the passages the cases name.
            #[arg(long)]
            corpus: PathBuf,
        },
        /// Reads a prompt on stdin and streams the answer (a user message in the model's chat
        /// template unless --raw); with --json prints one line
        /// `{"prompt_ids","ids","text","finish_reason","top5"}`.
        Generate {
            /// The GGUF file.
            #[arg(long)]
            model: PathBuf,
            /// The prompt as it is (special tokens recognised), not as a user message.
            #[arg(long)]
            raw: bool,
            /// One JSON line instead of streamed text.
            #[arg(long)]
            json: bool,
            #[arg(long, value_enum, default_value_t = Backend::Cpu)]
            backend: Backend,
            #[command(flatten)]
            sampling: SamplingArgs,
        },
        /// Indexes the corpus like search, then answers each stdin line (a question) with one
        /// JSON line `{"question","answer","citations","passages",…}`.
        Ask {
            #[command(flatten)]
            model: ModelArgs,
            /// The generator's GGUF file.
            #[arg(long)]
            generator: PathBuf,
            /// JSON lines `{"id","title","text"}` (optional "source", "metadata", "structure").
            #[arg(long)]
            corpus: PathBuf,
            /// Passages retrieved.
            #[arg(long, default_value_t = 5, value_parser = k_value)]
            k: usize,
            /// Least cosine similarity between question and passage.
            #[arg(long, default_value_t = 0.25, allow_negative_numbers = true)]
            min_score: f32,
            /// Tokens the prompt and the answer share.
            #[arg(long, default_value_t = 2048)]
            context: usize,
            #[command(flatten)]
            sampling: SamplingArgs,
        },
    }

    /// Where a model runs. `auto` takes the GPU unless its adapter is a software
    /// implementation (lavapipe, llvmpipe, SwiftShader), which is slower than the CPU backend.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
    pub enum Backend {
        Cpu,
        #[value(alias = "gpu")]
        Wgpu,
        Auto,
    }

    /// What the embedder and BM25 read besides a chunk's text.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
    pub enum Context {
        /// The chunk's text only.
        None,
        /// The heading path above the chunk, then its text.
        Headings,
        /// The document's title and the heading path, then the text.
        Title,
    }

    /// The embedder and the device every model of the command runs on.
    #[derive(Args)]
    pub struct ModelArgs {
        /// A sentence-transformers model folder, or a `bert` GGUF file.
        #[arg(long)]
        pub model_dir: PathBuf,
        #[arg(long, value_enum, default_value_t = Backend::Cpu)]
        pub backend: Backend,
    }

    fn k_value(s: &str) -> Result<usize, String> {
        match s.parse::<usize>() {
            Ok(k) if (1..=MAX_K).contains(&k) => Ok(k),
            _ => Err(format!("must be a number from 1 to {MAX_K}")),
        }
    }

    #[derive(Args)]
    pub struct SearchArgs {
        #[command(flatten)]
        pub model: ModelArgs,
        /// JSON lines `{"id","title","text"}` (optional "source", "metadata", "structure").
        #[arg(long)]
        pub corpus: PathBuf,
        #[arg(long, default_value = "hybrid")]
        pub mode: Mode,
        /// Hits per query.
        #[arg(long, default_value_t = 10, value_parser = k_value)]
        pub k: usize,
        /// Most tokens per chunk.
        #[arg(long)]
        pub max_tokens: Option<usize>,
        /// Tokens repeated between consecutive chunks.
        #[arg(long)]
        pub overlap: Option<usize>,
        /// No maximal-marginal-relevance reranking.
        #[arg(long)]
        pub no_mmr: bool,
        /// What the embedder and BM25 read besides a chunk's text (the package's default:
        /// title).
        #[arg(long, value_enum, default_value_t = Context::Title)]
        pub context: Context,
    }

    /// The sampling options of `generate` and `ask` (defaults: 256 tokens, greedy).
    #[derive(Args)]
    pub struct SamplingArgs {
        /// Tokens to generate at most.
        #[arg(long)]
        pub max_tokens: Option<usize>,
        /// 0 is greedy.
        #[arg(long, allow_negative_numbers = true)]
        pub temperature: Option<f32>,
        #[arg(long)]
        pub top_k: Option<usize>,
        #[arg(long, allow_negative_numbers = true)]
        pub top_p: Option<f32>,
        #[arg(long, allow_negative_numbers = true)]
        pub repetition_penalty: Option<f32>,
        #[arg(long)]
        pub seed: Option<u64>,
        /// A string that ends the answer (repeatable).
        #[arg(long)]
        pub stop: Vec<String>,
    }
}
