//! `localrag` command line: the same core as the browser package, for scripts and evaluation.
//!
//! ```text
//! localrag embed  --model-dir DIR [--backend cpu|wgpu] [--batch-size N]
//! localrag search --model-dir DIR --corpus FILE [--mode vector|lexical|hybrid] [--k N]
//!                 [--backend cpu|wgpu] [--max-tokens N] [--overlap N] [--no-mmr]
//! localrag eval   (the options of search) --qrels FILE
//! localrag generate --model FILE.gguf [--raw] [--max-tokens N] [--temperature T] [--top-k K]
//!                   [--top-p P] [--repetition-penalty R] [--seed S] [--stop S]…
//!                   [--backend cpu|wgpu] [--json]
//! localrag ask    --model-dir DIR --generator FILE.gguf --corpus FILE [--k N] [--max-tokens N]
//!                 [--min-score S] [--context N] [--backend cpu|wgpu]
//! ```
//! `embed` reads one JSON string per line on stdin and writes one JSON array of floats per line.
//! `search` indexes the corpus (JSON lines `{"id","title","text"}`, optional `source`,
//! `metadata`) in memory, then answers each stdin line `{"qid","text"}` with one line
//! `{"qid","hits":[{"doc_id","chunk_id","score"}]}`. `eval` does the same for every query and
//! prints one line of metrics against the relevance judgements (`{"qid","doc_id","relevance"}`).

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    if let Err(e) = cli::run(std::env::args().skip(1).collect()) {
        eprintln!("localrag: {e}");
        std::process::exit(match e {
            cli::CliError::Usage(_) => 2,
            cli::CliError::Failed(_) => 1,
        });
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod cli {
    use std::collections::{HashMap, HashSet};
    use std::io::{BufRead, BufWriter, Write};
    use std::path::{Path, PathBuf};

    use localrag::chat::Message;
    use localrag::chunk::ChunkOptions;
    use localrag::device::{cpu_device, gpu_device};
    use localrag::eval::{Metrics, evaluate};
    use localrag::fs::ModelDir;
    use localrag::generator::FinishReason;
    use localrag::kb::{
        DocInput, KbOptions, KnowledgeBase, MAX_DOC_BYTES, MAX_ID_BYTES, MAX_K, SearchOptions,
    };
    use localrag::rag::{self, Answer, AskOptions};
    use localrag::sample::{SamplingParams, top_k};
    use localrag::store::MemoryStore;
    use localrag::{Embedder, EmbedderOptions, GenerateParams, Generator, Mode};
    use serde::Serialize;
    use serde_json::Value;

    pub enum CliError {
        Usage(String),
        Failed(String),
    }

    impl std::fmt::Display for CliError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            match self {
                CliError::Usage(m) => write!(f, "{m}\n\n{USAGE}"),
                CliError::Failed(m) => write!(f, "{m}"),
            }
        }
    }

    impl From<localrag::Error> for CliError {
        fn from(e: localrag::Error) -> Self {
            CliError::Failed(e.to_string())
        }
    }

    const USAGE: &str = "usage:
  localrag embed --model-dir DIR [--backend cpu|wgpu] [--batch-size N]
      reads one JSON string per line on stdin, writes one JSON array of floats per line
  localrag search --model-dir DIR --corpus FILE [--mode vector|lexical|hybrid] [--k N]
                  [--backend cpu|wgpu] [--max-tokens N] [--overlap N] [--no-mmr]
      indexes FILE (JSON lines {\"id\",\"title\",\"text\"}, optional \"source\", \"metadata\")
      in memory, reads queries {\"qid\",\"text\"} one per line on stdin and writes
      {\"qid\",\"hits\":[{\"doc_id\",\"chunk_id\",\"score\"}]} per query (defaults: hybrid, k 10)
  localrag eval (the options of search) --qrels FILE
      runs the stdin queries (k at least 10) and prints one JSON line of metrics against FILE
      (JSON lines {\"qid\",\"doc_id\",\"relevance\"}, relevance 1 when absent)
  localrag generate --model FILE.gguf [--raw] [--max-tokens N] [--temperature T] [--top-k K]
                    [--top-p P] [--repetition-penalty R] [--seed S] [--stop S]...
                    [--backend cpu|wgpu] [--json]
      reads a prompt on stdin; applies the model's chat template (a user message) unless --raw;
      streams the answer to stdout, or with --json prints one line
      {\"prompt_ids\",\"ids\",\"text\",\"finish_reason\",\"top5\"} (defaults: 256 tokens, greedy)
  localrag ask --model-dir DIR --generator FILE.gguf --corpus FILE [--k N] [--max-tokens N]
               [--min-score S] [--context N] [--backend cpu|wgpu]
      indexes FILE like search, then answers each stdin line (a question) with one JSON line
      {\"question\",\"answer\",\"citations\":[{\"n\",\"docId\",\"chunkId\",\"start\",\"end\",...}],...}";

    /// Lines embedded per call: bounded memory, output streams as input arrives.
    const LINES_PER_CALL: usize = 256;

    pub fn run(args: Vec<String>) -> Result<(), CliError> {
        let mut it = args.into_iter();
        match it.next().as_deref() {
            Some("embed") => embed(it.collect()),
            Some("search") => search(it.collect()),
            Some("eval") => eval(it.collect()),
            Some("generate") => generate(it.collect()),
            Some("ask") => ask(it.collect()),
            Some("-h" | "--help") => {
                println!("{USAGE}");
                Ok(())
            }
            Some(other) => Err(CliError::Usage(format!("unknown command `{other}`"))),
            None => Err(CliError::Usage("missing command".into())),
        }
    }

    fn embed(args: Vec<String>) -> Result<(), CliError> {
        let mut model_dir: Option<PathBuf> = None;
        let mut backend = "cpu".to_string();
        let mut options = EmbedderOptions::default();
        let mut it = args.into_iter();
        while let Some(flag) = it.next() {
            let mut value = || {
                it.next()
                    .ok_or_else(|| CliError::Usage(format!("{flag} needs a value")))
            };
            match flag.as_str() {
                "--model-dir" => model_dir = Some(PathBuf::from(value()?)),
                "--backend" => backend = value()?,
                "--batch-size" => {
                    let v = value()?;
                    options.batch_size = v.parse().map_err(|_| {
                        CliError::Usage(format!("--batch-size `{v}` is not a number"))
                    })?;
                }
                other => return Err(CliError::Usage(format!("unknown flag `{other}`"))),
            }
        }
        let model_dir =
            model_dir.ok_or_else(|| CliError::Usage("--model-dir is required".into()))?;
        check_backend(&backend)?;
        let embedder = load_embedder(&model_dir, &backend, options)?;

        let stdin = std::io::stdin().lock();
        let mut out = BufWriter::new(std::io::stdout().lock());
        let mut pending: Vec<String> = Vec::new();
        let flush = |pending: &mut Vec<String>, out: &mut BufWriter<_>| -> Result<(), CliError> {
            if pending.is_empty() {
                return Ok(());
            }
            let vectors = pollster::block_on(embedder.embed(pending))?;
            for v in vectors {
                let line =
                    serde_json::to_string(&v).map_err(|e| CliError::Failed(e.to_string()))?;
                writeln!(out, "{line}").map_err(|e| CliError::Failed(e.to_string()))?;
            }
            out.flush().map_err(|e| CliError::Failed(e.to_string()))?;
            pending.clear();
            Ok(())
        };
        for (n, line) in stdin.lines().enumerate() {
            let line = line.map_err(|e| CliError::Failed(format!("reading stdin: {e}")))?;
            let text: String = serde_json::from_str(&line).map_err(|e| {
                CliError::Failed(format!(
                    "stdin line {}: expected a JSON string ({e})",
                    n + 1
                ))
            })?;
            pending.push(text);
            if pending.len() == LINES_PER_CALL {
                flush(&mut pending, &mut out)?;
            }
        }
        flush(&mut pending, &mut out)
    }

    fn check_backend(backend: &str) -> Result<(), CliError> {
        match backend {
            "cpu" | "wgpu" | "gpu" => Ok(()),
            other => Err(CliError::Usage(format!(
                "--backend `{other}` is not one of cpu, wgpu"
            ))),
        }
    }

    fn load_embedder(
        model_dir: &Path,
        backend: &str,
        options: EmbedderOptions,
    ) -> Result<Embedder, CliError> {
        let device = match backend {
            "wgpu" | "gpu" => gpu_device()?,
            _ => cpu_device(),
        };
        let files = ModelDir::read(model_dir)?;
        Ok(Embedder::load(files.files(), options, &device)?)
    }

    /// The options `search` and `eval` share (`eval` adds `--qrels`).
    struct SearchArgs {
        model_dir: PathBuf,
        corpus: PathBuf,
        qrels: Option<PathBuf>,
        mode: Mode,
        k: usize,
        backend: String,
        chunk: ChunkOptions,
        mmr: bool,
    }

    fn parse_search_args(args: Vec<String>, want_qrels: bool) -> Result<SearchArgs, CliError> {
        let mut model_dir: Option<PathBuf> = None;
        let mut corpus: Option<PathBuf> = None;
        let mut qrels: Option<PathBuf> = None;
        let mut mode = Mode::Hybrid;
        let mut k = 10usize;
        let mut backend = "cpu".to_string();
        let mut chunk = ChunkOptions::default();
        let mut mmr = true;
        let number = |flag: &str, v: String| -> Result<usize, CliError> {
            v.parse()
                .map_err(|_| CliError::Usage(format!("{flag} `{v}` is not a number")))
        };
        let mut it = args.into_iter();
        while let Some(flag) = it.next() {
            let mut value = || {
                it.next()
                    .ok_or_else(|| CliError::Usage(format!("{flag} needs a value")))
            };
            match flag.as_str() {
                "--model-dir" => model_dir = Some(PathBuf::from(value()?)),
                "--corpus" => corpus = Some(PathBuf::from(value()?)),
                "--qrels" if want_qrels => qrels = Some(PathBuf::from(value()?)),
                "--mode" => {
                    let v = value()?;
                    mode = Mode::parse(&v).ok_or_else(|| {
                        CliError::Usage(format!(
                            "--mode `{v}` is not one of vector, lexical, hybrid"
                        ))
                    })?;
                }
                "--k" => {
                    k = number("--k", value()?)?;
                    if k == 0 || k > MAX_K {
                        return Err(CliError::Usage(format!(
                            "--k must be between 1 and {MAX_K}, got {k}"
                        )));
                    }
                }
                "--backend" => backend = value()?,
                "--max-tokens" => chunk.max_tokens = number("--max-tokens", value()?)?,
                "--overlap" => chunk.overlap = number("--overlap", value()?)?,
                "--no-mmr" => mmr = false,
                other => return Err(CliError::Usage(format!("unknown flag `{other}`"))),
            }
        }
        check_backend(&backend)?;
        let model_dir =
            model_dir.ok_or_else(|| CliError::Usage("--model-dir is required".into()))?;
        let corpus = corpus.ok_or_else(|| CliError::Usage("--corpus is required".into()))?;
        if want_qrels && qrels.is_none() {
            return Err(CliError::Usage("--qrels is required".into()));
        }
        Ok(SearchArgs {
            model_dir,
            corpus,
            qrels,
            mode,
            k,
            backend,
            chunk,
            mmr,
        })
    }

    fn failed(e: impl std::fmt::Display) -> CliError {
        CliError::Failed(e.to_string())
    }

    /// Non-blank lines of a file, numbered from 1.
    fn read_lines(path: &Path, what: &str) -> Result<Vec<(usize, String)>, CliError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| CliError::Failed(format!("cannot read {what} {}: {e}", path.display())))?;
        Ok(text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(n, l)| (n + 1, l.to_string()))
            .collect())
    }

    /// An id given as a JSON string or number.
    fn id_text(v: Option<&Value>) -> Option<String> {
        match v? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    /// The corpus documents with their line numbers, checked as the knowledge base would.
    fn read_corpus(path: &Path) -> Result<Vec<(usize, DocInput)>, CliError> {
        let mut docs = Vec::new();
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (n, line) in read_lines(path, "corpus")? {
            let bad = |why: String| CliError::Failed(format!("{} line {n}: {why}", path.display()));
            let mut v: Value =
                serde_json::from_str(&line).map_err(|e| bad(format!("not JSON ({e})")))?;
            // Numeric ids are accepted and read as text.
            if let Some(id) = v
                .get("id")
                .filter(|id| id.is_number())
                .and_then(|id| id_text(Some(id)))
            {
                v["id"] = Value::String(id);
            }
            let doc: DocInput = serde_json::from_value(v).map_err(|e| {
                bad(format!(
                    "expected {{\"id\",\"title\",\"text\"}} with optional \"source\", \"metadata\" ({e})"
                ))
            })?;
            if doc.text.trim().is_empty() {
                return Err(bad("\"text\" is empty".into()));
            }
            if doc.text.len() > MAX_DOC_BYTES {
                return Err(bad(format!(
                    "\"text\" is {} bytes; the limit is {MAX_DOC_BYTES}",
                    doc.text.len()
                )));
            }
            if doc
                .metadata
                .as_ref()
                .is_some_and(|m| !m.is_object() && !m.is_null())
            {
                return Err(bad("\"metadata\" must be a JSON object".into()));
            }
            if let Some(id) = &doc.id {
                if id.is_empty() || id.len() > MAX_ID_BYTES {
                    return Err(bad(format!("\"id\" must be 1 to {MAX_ID_BYTES} bytes")));
                }
                if let Some(first) = seen.insert(id.clone(), n) {
                    return Err(bad(format!(
                        "document id {id:?} already used on line {first}"
                    )));
                }
            }
            docs.push((n, doc));
        }
        if docs.is_empty() {
            return Err(CliError::Failed(format!(
                "{}: the corpus has no documents",
                path.display()
            )));
        }
        Ok(docs)
    }

    type Qrels = HashMap<String, HashMap<String, u32>>;

    fn read_qrels(path: &Path) -> Result<Qrels, CliError> {
        let mut qrels: Qrels = HashMap::new();
        for (n, line) in read_lines(path, "qrels")? {
            let bad = |why: &str| CliError::Failed(format!("{} line {n}: {why}", path.display()));
            let v: Value =
                serde_json::from_str(&line).map_err(|e| bad(&format!("not JSON ({e})")))?;
            let qid =
                id_text(v.get("qid")).ok_or_else(|| bad("\"qid\" must be a string or a number"))?;
            let doc = id_text(v.get("doc_id"))
                .ok_or_else(|| bad("\"doc_id\" must be a string or a number"))?;
            let rel = match v.get("relevance") {
                None | Some(Value::Null) => 1,
                Some(r) => r
                    .as_u64()
                    .and_then(|r| u32::try_from(r).ok())
                    .ok_or_else(|| bad("\"relevance\" must be an integer >= 0"))?,
            };
            qrels.entry(qid).or_default().insert(doc, rel);
        }
        Ok(qrels)
    }

    /// One stdin query: its id as given (echoed back) and as text (matched against qrels).
    struct Query {
        qid: Value,
        key: String,
        text: String,
    }

    fn parse_query(n: usize, line: &str) -> Result<Query, CliError> {
        let bad = |why: String| CliError::Failed(format!("stdin line {n}: {why}"));
        let v: Value = serde_json::from_str(line).map_err(|e| bad(format!("not JSON ({e})")))?;
        let key = id_text(v.get("qid")).ok_or_else(|| {
            bad("expected {\"qid\",\"text\"}: \"qid\" must be a string or a number".into())
        })?;
        let text = v
            .get("text")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("expected {\"qid\",\"text\"}: \"text\" must be a string".into()))?
            .to_string();
        Ok(Query {
            qid: v["qid"].clone(),
            key,
            text,
        })
    }

    /// Documents added per call, so that progress shows on stderr.
    const DOCS_PER_ADD: usize = 256;

    /// Loads the model and indexes the corpus in memory.
    fn build(
        args: &SearchArgs,
        docs: Vec<(usize, DocInput)>,
    ) -> Result<(Embedder, KnowledgeBase<MemoryStore>), CliError> {
        let embedder = load_embedder(&args.model_dir, &args.backend, EmbedderOptions::default())?;
        let opts = KbOptions {
            chunk: args.chunk,
            ..Default::default()
        };
        let mut kb = pollster::block_on(KnowledgeBase::open(MemoryStore::new(), &embedder, opts))?;
        let total = docs.len();
        let mut done = 0;
        let mut chunks = 0;
        let mut docs = docs.into_iter().peekable();
        while docs.peek().is_some() {
            let (lines, batch): (Vec<usize>, Vec<DocInput>) =
                docs.by_ref().take(DOCS_PER_ADD).unzip();
            let n = batch.len();
            let report = pollster::block_on(kb.add(&embedder, batch, None)).map_err(|e| {
                CliError::Failed(format!(
                    "{} lines {}-{}: {e}",
                    args.corpus.display(),
                    lines[0],
                    lines[n - 1]
                ))
            })?;
            done += n;
            chunks += report.chunks;
            eprintln!("indexed {done}/{total} documents");
        }
        eprintln!("{chunks} chunks, mode {}", args.mode.name());
        Ok((embedder, kb))
    }

    fn search_options(args: &SearchArgs, k: usize) -> SearchOptions {
        SearchOptions {
            k,
            mode: args.mode,
            mmr_lambda: if args.mmr { Some(0.7) } else { None },
            ..Default::default()
        }
    }

    fn run_query(
        embedder: &Embedder,
        kb: &KnowledgeBase<MemoryStore>,
        n: usize,
        q: &Query,
        opts: &SearchOptions,
    ) -> Result<Vec<localrag::Hit>, CliError> {
        pollster::block_on(kb.search(embedder, &q.text, opts))
            .map_err(|e| CliError::Failed(format!("stdin line {n} (qid {}): {e}", q.key)))
    }

    #[derive(Serialize)]
    struct QueryLine<'a> {
        qid: &'a Value,
        hits: Vec<HitLine<'a>>,
    }

    #[derive(Serialize)]
    struct HitLine<'a> {
        doc_id: &'a str,
        chunk_id: u64,
        score: f32,
    }

    fn search(args: Vec<String>) -> Result<(), CliError> {
        let args = parse_search_args(args, false)?;
        let docs = read_corpus(&args.corpus)?;
        let (embedder, kb) = build(&args, docs)?;
        let opts = search_options(&args, args.k);
        let mut out = BufWriter::new(std::io::stdout().lock());
        for (n, line) in std::io::stdin().lock().lines().enumerate() {
            let line = line.map_err(|e| CliError::Failed(format!("reading stdin: {e}")))?;
            if line.trim().is_empty() {
                continue;
            }
            let q = parse_query(n + 1, &line)?;
            let hits = run_query(&embedder, &kb, n + 1, &q, &opts)?;
            let hits: Vec<HitLine> = hits
                .iter()
                .map(|h| HitLine {
                    doc_id: &h.doc_id,
                    chunk_id: h.chunk_id,
                    score: h.score,
                })
                .collect();
            let line = serde_json::to_string(&QueryLine { qid: &q.qid, hits }).map_err(failed)?;
            writeln!(out, "{line}").map_err(failed)?;
            out.flush().map_err(failed)?;
        }
        Ok(())
    }

    #[derive(Serialize)]
    struct EvalLine<'a> {
        mode: &'a str,
        k: usize,
        #[serde(flatten)]
        metrics: &'a Metrics,
    }

    fn eval(args: Vec<String>) -> Result<(), CliError> {
        let args = parse_search_args(args, true)?;
        let qrels = read_qrels(args.qrels.as_deref().expect("checked by the parser"))?;
        let docs = read_corpus(&args.corpus)?;
        let mut queries = Vec::new();
        let mut seen = HashSet::new();
        for (n, line) in std::io::stdin().lock().lines().enumerate() {
            let line = line.map_err(|e| CliError::Failed(format!("reading stdin: {e}")))?;
            if line.trim().is_empty() {
                continue;
            }
            let q = parse_query(n + 1, &line)?;
            if !seen.insert(q.key.clone()) {
                return Err(CliError::Failed(format!(
                    "stdin line {}: qid {:?} appears twice",
                    n + 1,
                    q.key
                )));
            }
            queries.push((n + 1, q));
        }
        let (embedder, kb) = build(&args, docs)?;
        // Metrics are taken at 10: retrieve at least that many.
        let k = args.k.max(10);
        let opts = search_options(&args, k);
        let mut runs = Vec::with_capacity(queries.len());
        for (n, q) in &queries {
            let hits = run_query(&embedder, &kb, *n, q, &opts)?;
            runs.push((q.key.clone(), hits.into_iter().map(|h| h.doc_id).collect()));
        }
        let metrics = evaluate(&runs, &qrels);
        let unjudged = queries.len() - metrics.queries;
        if unjudged > 0 {
            eprintln!(
                "{unjudged} of {} queries have no relevant document in the qrels and are not counted",
                queries.len()
            );
        }
        let line = serde_json::to_string(&EvalLine {
            mode: args.mode.name(),
            k,
            metrics: &metrics,
        })
        .map_err(failed)?;
        println!("{line}");
        Ok(())
    }

    /// Flags of the form `--name value` (or bare switches), parsed once for the newer commands.
    struct Flags {
        values: Vec<(String, String)>,
        switches: Vec<String>,
    }

    impl Flags {
        fn parse(
            args: Vec<String>,
            with_value: &[&str],
            switches: &[&str],
        ) -> Result<Self, CliError> {
            let mut f = Flags {
                values: Vec::new(),
                switches: Vec::new(),
            };
            let mut it = args.into_iter();
            while let Some(flag) = it.next() {
                if with_value.contains(&flag.as_str()) {
                    let v = it
                        .next()
                        .ok_or_else(|| CliError::Usage(format!("{flag} needs a value")))?;
                    f.values.push((flag, v));
                } else if switches.contains(&flag.as_str()) {
                    f.switches.push(flag);
                } else {
                    return Err(CliError::Usage(format!("unknown flag `{flag}`")));
                }
            }
            Ok(f)
        }

        fn get(&self, name: &str) -> Option<&str> {
            self.values
                .iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        }

        fn all(&self, name: &str) -> Vec<String> {
            self.values
                .iter()
                .filter(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .collect()
        }

        fn required(&self, name: &str) -> Result<&str, CliError> {
            self.get(name)
                .ok_or_else(|| CliError::Usage(format!("{name} is required")))
        }

        fn number<T: std::str::FromStr>(&self, name: &str, default: T) -> Result<T, CliError> {
            match self.get(name) {
                None => Ok(default),
                Some(v) => v
                    .parse()
                    .map_err(|_| CliError::Usage(format!("{name} `{v}` is not a number"))),
            }
        }

        fn has(&self, name: &str) -> bool {
            self.switches.iter().any(|s| s == name)
        }
    }

    fn device_for(backend: &str) -> Result<burn::tensor::Device, CliError> {
        check_backend(backend)?;
        Ok(match backend {
            "wgpu" => gpu_device()?,
            _ => cpu_device(),
        })
    }

    fn load_generator(path: &Path, backend: &str) -> Result<Generator, CliError> {
        let bytes = std::fs::read(path)
            .map_err(|e| CliError::Failed(format!("cannot read {}: {e}", path.display())))?;
        let device = device_for(backend)?;
        Generator::from_gguf(&bytes, &device)
            .map_err(|e| CliError::Failed(format!("{}: {e}", path.display())))
    }

    const SAMPLING_FLAGS: [&str; 7] = [
        "--max-tokens",
        "--temperature",
        "--top-k",
        "--top-p",
        "--repetition-penalty",
        "--seed",
        "--stop",
    ];

    fn generate_params(f: &Flags, default_max: usize) -> Result<GenerateParams, CliError> {
        let d = SamplingParams::default();
        let params = GenerateParams {
            max_tokens: f.number("--max-tokens", default_max)?,
            sampling: SamplingParams {
                temperature: f.number("--temperature", d.temperature)?,
                top_k: f.number("--top-k", d.top_k)?,
                top_p: f.number("--top-p", d.top_p)?,
                repetition_penalty: f.number("--repetition-penalty", d.repetition_penalty)?,
                repeat_last_n: d.repeat_last_n,
                seed: f.number("--seed", d.seed)?,
            },
            stop: f.all("--stop"),
            context_tokens: None,
            ignore_eos: false,
        };
        params
            .sampling
            .validate()
            .map_err(|e| CliError::Usage(e.message().to_string()))?;
        Ok(params)
    }

    #[derive(Serialize)]
    struct GenerateLine<'a> {
        prompt_ids: &'a [u32],
        ids: &'a [u32],
        text: &'a str,
        finish_reason: Option<FinishReason>,
        /// The five most likely tokens at the first generated position: `[id, logit]`.
        top5: Vec<(u32, f32)>,
    }

    fn generate(args: Vec<String>) -> Result<(), CliError> {
        let mut with_value = vec!["--model", "--backend"];
        with_value.extend(SAMPLING_FLAGS);
        let f = Flags::parse(args, &with_value, &["--raw", "--json"])?;
        let model = PathBuf::from(f.required("--model")?);
        let backend = f.get("--backend").unwrap_or("cpu").to_string();
        let params = generate_params(&f, 256)?;
        let mut prompt = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin().lock(), &mut prompt)
            .map_err(|e| CliError::Failed(format!("reading stdin: {e}")))?;
        let generator = load_generator(&model, &backend)?;
        let ids = if f.has("--raw") {
            generator.tokenizer().encode(&prompt)?
        } else {
            generator.chat_ids(&[Message::new("user", prompt.trim_end_matches('\n'))])?
        };
        let mut g = generator.start(ids, params)?;
        let json = f.has("--json");
        let mut out = std::io::stdout().lock();
        pollster::block_on(g.run(|delta| {
            if !json {
                let _ = out.write_all(delta.as_bytes());
                let _ = out.flush();
            }
        }))?;
        if json {
            let top5 = g.first_logits().map(|l| top_k(l, 5)).unwrap_or_default();
            let line = serde_json::to_string(&GenerateLine {
                prompt_ids: g.prompt_ids(),
                ids: g.generated_ids(),
                text: g.text(),
                finish_reason: g.finish_reason(),
                top5,
            })
            .map_err(failed)?;
            writeln!(out, "{line}").map_err(failed)?;
        } else {
            writeln!(out).map_err(failed)?;
        }
        Ok(())
    }

    #[derive(Serialize)]
    struct AskLine<'a> {
        question: &'a str,
        #[serde(flatten)]
        answer: &'a Answer,
    }

    fn ask(args: Vec<String>) -> Result<(), CliError> {
        let mut with_value = vec![
            "--model-dir",
            "--generator",
            "--corpus",
            "--k",
            "--min-score",
            "--context",
            "--backend",
        ];
        with_value.extend(SAMPLING_FLAGS);
        let f = Flags::parse(args, &with_value, &[])?;
        let defaults = AskOptions::default();
        let opts = AskOptions {
            k: f.number("--k", defaults.k)?,
            max_tokens: f.number("--max-tokens", defaults.max_tokens)?,
            context_tokens: f.number("--context", defaults.context_tokens)?,
            min_score: f.number("--min-score", defaults.min_score)?,
        };
        if opts.k == 0 || opts.k > MAX_K {
            return Err(CliError::Usage(format!(
                "--k must be between 1 and {MAX_K}"
            )));
        }
        let params = generate_params(&f, opts.max_tokens)?;
        let search_args = SearchArgs {
            model_dir: PathBuf::from(f.required("--model-dir")?),
            corpus: PathBuf::from(f.required("--corpus")?),
            qrels: None,
            mode: Mode::Hybrid,
            k: opts.k,
            backend: f.get("--backend").unwrap_or("cpu").to_string(),
            chunk: ChunkOptions::default(),
            mmr: true,
        };
        let generator =
            load_generator(Path::new(f.required("--generator")?), &search_args.backend)?;
        let docs = read_corpus(&search_args.corpus)?;
        let (embedder, kb) = build(&search_args, docs)?;
        let search = search_options(&search_args, opts.k);
        let context = opts.context_tokens.min(generator.context_length());
        let mut out = BufWriter::new(std::io::stdout().lock());
        for (n, line) in std::io::stdin().lock().lines().enumerate() {
            let question = line.map_err(|e| CliError::Failed(format!("reading stdin: {e}")))?;
            if question.trim().is_empty() {
                continue;
            }
            let fail = |e: localrag::Error| CliError::Failed(format!("stdin line {}: {e}", n + 1));
            let hits =
                pollster::block_on(kb.search(&embedder, &question, &search)).map_err(fail)?;
            let hits = rag::relevant(&hits, opts.min_score);
            let answer = if hits.is_empty() {
                rag::no_answer()
            } else {
                let prompt = rag::build_prompt(
                    generator.tokenizer(),
                    &question,
                    &hits,
                    params.max_tokens,
                    context,
                )
                .map_err(fail)?;
                let mut g = generator
                    .start(
                        prompt.ids.clone(),
                        GenerateParams {
                            context_tokens: Some(context),
                            ..params.clone()
                        },
                    )
                    .map_err(fail)?;
                pollster::block_on(g.run(|_| {})).map_err(fail)?;
                rag::answer(&prompt, &g)
            };
            let line = serde_json::to_string(&AskLine {
                question: &question,
                answer: &answer,
            })
            .map_err(failed)?;
            writeln!(out, "{line}").map_err(failed)?;
            out.flush().map_err(failed)?;
        }
        Ok(())
    }
}
