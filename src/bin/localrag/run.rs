//! The commands: each loads what it needs onto the chosen device, reads stdin and writes JSON
//! lines.

use std::collections::HashSet;
use std::io::{BufRead, BufWriter, Write};
use std::path::Path;

use burn::tensor::Device;
use localrag::Embed;
use localrag::ask::ask;
use localrag::{
    Answer, AskOptions, DocInput, Embedder, EmbedderFileBytes, EmbedderOptions, FinishReason,
    GenerateParams, Generator, Hit, Hooks, KbOptions, KnowledgeBase, KnowledgeBaseOptions,
    MemoryStore, Message, Metrics, Mode, PassageContext, SamplingParams, SearchOptions,
    SupportPassage, evaluate, support_signals, top_k,
};
use serde::Serialize;
use serde_json::Value;

use crate::cli::{Backend, Cli, CliError, Command, Context, ModelArgs, SamplingArgs, SearchArgs};
use crate::input::{Query, SECTION_MARK, parse_query, read_corpus, read_qrels, stdin_lines};

/// Lines embedded per call: bounded memory, output streams as input arrives.
const LINES_PER_CALL: usize = 256;
/// Documents added per call, so that progress shows on stderr.
const DOCS_PER_ADD: usize = 256;

type Kb = KnowledgeBase<MemoryStore, Embedder>;

pub fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Embed { model, batch_size } => embed(&model, batch_size),
        Command::Search(args) => search(&args),
        Command::Eval {
            search,
            qrels,
            all_modes,
        } => eval(&search, &qrels, all_modes),
        Command::Attribution { model, corpus } => attribution(&model, &corpus),
        Command::Generate {
            model,
            raw,
            json,
            backend,
            sampling,
        } => generate(&model, raw, json, backend, &sampling),
        Command::Ask {
            model,
            generator,
            corpus,
            k,
            min_score,
            context,
            sampling,
        } => {
            let opts = AskOptions {
                search: SearchOptions {
                    k,
                    ..Default::default()
                },
                generate: generate_params(&sampling)?,
                min_score,
                context_tokens: context,
                ..AskOptions::default()
            };
            ask_all(&model, &generator, &corpus, &opts)
        }
    }
}

fn failed(e: impl std::fmt::Display) -> CliError {
    CliError::Failed(e.to_string())
}

/// The device of `backend`, reported on stderr for `what` (`embedder`, `generator`).
fn device(backend: Backend, what: &str) -> Result<Device, CliError> {
    let (device, name) = match backend {
        Backend::Cpu => (localrag::cpu_device(), "cpu".to_string()),
        Backend::Wgpu => (localrag::gpu_device()?, "wgpu".to_string()),
        Backend::Auto => match localrag::hardware_gpu_device() {
            Ok(device) => (device, "wgpu".to_string()),
            Err(why) => (localrag::cpu_device(), format!("cpu ({why})")),
        },
    };
    let adapter = match (&name[..], localrag::gpu_adapter_info()) {
        ("wgpu", Some(info)) => format!(": {info}"),
        _ => String::new(),
    };
    eprintln!("{what} on {name}{adapter}");
    Ok(device)
}

fn load_embedder(m: &ModelArgs, options: EmbedderOptions) -> Result<Embedder, CliError> {
    let files = EmbedderFileBytes::read(&m.model_dir)?;
    let device = device(m.backend, "embedder")?;
    Ok(Embedder::load_owned(files, options, &device)?)
}

fn load_generator(path: &Path, backend: Backend) -> Result<Generator, CliError> {
    let bytes = std::fs::read(path)
        .map_err(|e| CliError::Failed(format!("cannot read {}: {e}", path.display())))?;
    let device = device(backend, "generator")?;
    Generator::from_gguf(bytes, &device)
        .map_err(|e| CliError::Failed(format!("{}: {e}", path.display())))
}

fn embed(m: &ModelArgs, batch_size: usize) -> Result<(), CliError> {
    let options = EmbedderOptions {
        batch_size,
        ..Default::default()
    };
    options
        .validate()
        .map_err(|e| CliError::Usage(e.message().to_string()))?;
    let embedder = load_embedder(m, options)?;
    let mut out = BufWriter::new(std::io::stdout().lock());
    let mut pending: Vec<String> = Vec::new();
    let mut flush = |pending: &mut Vec<String>| -> Result<(), CliError> {
        if pending.is_empty() {
            return Ok(());
        }
        for v in pollster::block_on(embedder.embed(pending))? {
            writeln!(out, "{}", serde_json::to_string(&v).map_err(failed)?).map_err(failed)?;
        }
        out.flush().map_err(failed)?;
        pending.clear();
        Ok(())
    };
    for (n, line) in std::io::stdin().lock().lines().enumerate() {
        let line = line.map_err(|e| CliError::Failed(format!("reading stdin: {e}")))?;
        let text: String = serde_json::from_str(&line).map_err(|e| {
            CliError::Failed(format!(
                "stdin line {}: expected a JSON string ({e})",
                n + 1
            ))
        })?;
        pending.push(text);
        if pending.len() == LINES_PER_CALL {
            flush(&mut pending)?;
        }
    }
    flush(&mut pending)
}

/// The knowledge base of a search or eval command: its corpus, chunking and context flags.
fn build_for(args: &SearchArgs) -> Result<Kb, CliError> {
    build(
        &args.model,
        &args.corpus,
        (args.max_tokens, args.overlap),
        args.context,
    )
}

/// Loads the embedder and indexes the corpus in memory.
fn build(
    m: &ModelArgs,
    corpus: &Path,
    chunking: (Option<usize>, Option<usize>),
    context: Context,
) -> Result<Kb, CliError> {
    let docs = read_corpus(corpus)?;
    let embedder = load_embedder(m, EmbedderOptions::default())?;
    // The page's defaults for this model (chunks follow its length), then the flags.
    let resolved = KnowledgeBaseOptions {
        chunk_tokens: chunking.0,
        chunk_overlap: chunking.1,
        ..Default::default()
    }
    .resolve(embedder.max_seq_length(), embedder.passage_tokens())
    .map_err(|e| CliError::Usage(e.message().to_string()))?;
    let opts = KbOptions {
        chunk: resolved.chunk,
        context: match context {
            Context::None => PassageContext::None,
            Context::Headings => PassageContext::Headings,
            Context::Title => PassageContext::TitleAndHeadings,
        },
        ..Default::default()
    };
    let mut kb = pollster::block_on(KnowledgeBase::open(MemoryStore::new(), embedder, opts))?;
    let total = docs.len();
    let (mut done, mut chunks) = (0, 0);
    let mut docs = docs.into_iter().peekable();
    while docs.peek().is_some() {
        let (lines, batch): (Vec<usize>, Vec<DocInput>) = docs.by_ref().take(DOCS_PER_ADD).unzip();
        let n = batch.len();
        let report = pollster::block_on(kb.add(batch)).map_err(|e| {
            CliError::Failed(format!(
                "{} lines {}-{}: {e}",
                corpus.display(),
                lines[0],
                lines[n - 1]
            ))
        })?;
        done += n;
        chunks += report.chunks;
        eprintln!("indexed {done}/{total} documents");
    }
    eprintln!("{chunks} chunks");
    Ok(kb)
}

fn search_options(args: &SearchArgs, k: usize) -> SearchOptions {
    SearchOptions {
        k,
        mode: args.mode,
        rerank: !args.no_mmr,
        ..Default::default()
    }
}

fn run_query(kb: &Kb, n: usize, q: &Query, opts: &SearchOptions) -> Result<Vec<Hit>, CliError> {
    pollster::block_on(kb.search(&q.text, opts))
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

fn search(args: &SearchArgs) -> Result<(), CliError> {
    let kb = build_for(args)?;
    eprintln!("mode {}", args.mode.name());
    let opts = search_options(args, args.k);
    let mut out = BufWriter::new(std::io::stdout().lock());
    for line in stdin_lines() {
        let (n, line) = line?;
        let q = parse_query(n, &line)?;
        let hits = run_query(&kb, n, &q, &opts)?;
        let hits = hits
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

fn eval(args: &SearchArgs, qrels: &Path, all_modes: bool) -> Result<(), CliError> {
    let qrels = read_qrels(qrels)?;
    let mut queries = Vec::new();
    let mut seen = HashSet::new();
    for line in stdin_lines() {
        let (n, line) = line?;
        let q = parse_query(n, &line)?;
        if !seen.insert(q.key.clone()) {
            return Err(CliError::Failed(format!(
                "stdin line {n}: qid {:?} appears twice",
                q.key
            )));
        }
        queries.push((n, q));
    }
    let kb = build_for(args)?;
    // Metrics are taken at 10: retrieve at least that many.
    let k = args.k.max(10);
    let modes = if all_modes {
        vec![Mode::Vector, Mode::Lexical, Mode::Hybrid]
    } else {
        vec![args.mode]
    };
    for mode in modes {
        let opts = SearchOptions {
            mode,
            ..search_options(args, k)
        };
        let mut runs = Vec::with_capacity(queries.len());
        for (n, q) in &queries {
            let hits = run_query(&kb, *n, q, &opts)?;
            let judged = qrels.get(&q.key);
            runs.push((
                q.key.clone(),
                hits.iter().map(|h| judged_unit(h, judged)).collect(),
            ));
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
            mode: mode.name(),
            k,
            metrics: &metrics,
        })
        .map_err(failed)?;
        println!("{line}");
    }
    Ok(())
}

#[derive(serde::Deserialize)]
struct AttributionCase {
    passages: Vec<String>,
    sentences: Vec<(String, Option<String>)>,
}

#[derive(Serialize)]
struct AttributionLine<'a> {
    case: usize,
    sentence: &'a str,
    label: Option<&'a str>,
    passages: &'a [String],
    signals: &'a [(f32, f32)],
}

fn attribution(m: &ModelArgs, corpus: &Path) -> Result<(), CliError> {
    let docs: std::collections::HashMap<String, String> = read_corpus(corpus)?
        .into_iter()
        .filter_map(|(_, d)| Some((d.id?, d.text)))
        .collect();
    let embedder = load_embedder(m, EmbedderOptions::default())?;
    for line in stdin_lines() {
        let (n, line) = line?;
        let bad = |why: String| CliError::Failed(format!("stdin line {n}: {why}"));
        let case: AttributionCase =
            serde_json::from_str(&line).map_err(|e| bad(format!("not a case ({e})")))?;
        let texts = case
            .passages
            .iter()
            .map(|id| {
                docs.get(id)
                    .map(String::as_str)
                    .ok_or_else(|| bad(format!("passage {id:?} is not in the corpus")))
            })
            .collect::<Result<Vec<&str>, CliError>>()?;
        let vectors = pollster::block_on(embedder.embed_texts(&texts, localrag::Role::Passage))?;
        let passages: Vec<SupportPassage> = texts
            .iter()
            .zip(&vectors)
            .map(|(t, v)| SupportPassage { text: t, vector: v })
            .collect();
        let sentences: Vec<&str> = case.sentences.iter().map(|(s, _)| s.as_str()).collect();
        let signals = pollster::block_on(support_signals(&embedder, &sentences, &passages))?;
        for ((sentence, label), signals) in case.sentences.iter().zip(&signals) {
            let line = serde_json::to_string(&AttributionLine {
                case: n,
                sentence,
                label: label.as_deref(),
                passages: &case.passages,
                signals,
            })
            .map_err(failed)?;
            println!("{line}");
        }
    }
    Ok(())
}

/// What a hit counts as for a query's judgements: its document, or where the query's judgements
/// name sections of that document, the judged section it is in (its heading path equal to the
/// judged one or below it), else its own heading path.
fn judged_unit(hit: &Hit, judged: Option<&std::collections::HashMap<String, u32>>) -> String {
    let prefix = format!("{}{SECTION_MARK}", hit.doc_id);
    let sections: Vec<&str> = judged
        .into_iter()
        .flat_map(|j| j.keys())
        .filter_map(|k| k.strip_prefix(&prefix))
        .collect();
    if sections.is_empty() {
        return hit.doc_id.clone();
    }
    let path = hit.heading_path.join(" › ");
    let within = |s: &&&str| path == **s || path.starts_with(&format!("{s} › "));
    match sections.iter().find(within) {
        Some(s) => format!("{prefix}{s}"),
        None => format!("{prefix}{path}"),
    }
}

/// The sampling flags as generation parameters (out-of-range values: a usage error).
fn generate_params(s: &SamplingArgs) -> Result<GenerateParams, CliError> {
    let d = GenerateParams::default();
    let ds = SamplingParams::default();
    let params = GenerateParams {
        max_tokens: s.max_tokens.unwrap_or(d.max_tokens),
        sampling: SamplingParams {
            temperature: s.temperature.unwrap_or(ds.temperature),
            top_k: s.top_k.unwrap_or(ds.top_k),
            top_p: s.top_p.unwrap_or(ds.top_p),
            repetition_penalty: s.repetition_penalty.unwrap_or(ds.repetition_penalty),
            seed: s.seed.unwrap_or(ds.seed),
            ..ds
        },
        stop: s.stop.clone(),
        ..d
    };
    params
        .validate()
        .map_err(|e| CliError::Usage(e.message().to_string()))?;
    Ok(params)
}

/// Streams generated text to stdout.
struct Print(bool);

impl Hooks for Print {
    fn token(&mut self, delta: &str) {
        if self.0 {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(delta.as_bytes());
            let _ = out.flush();
        }
    }
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

fn generate(
    model: &Path,
    raw: bool,
    json: bool,
    backend: Backend,
    sampling: &SamplingArgs,
) -> Result<(), CliError> {
    let params = generate_params(sampling)?;
    let mut prompt = String::new();
    std::io::Read::read_to_string(&mut std::io::stdin().lock(), &mut prompt)
        .map_err(|e| CliError::Failed(format!("reading stdin: {e}")))?;
    let generator = load_generator(model, backend)?;
    let ids = if raw {
        generator.tokenizer().encode(&prompt)?
    } else {
        generator.chat_ids(&[Message::new("user", prompt.trim_end_matches('\n'))])?
    };
    let mut g = generator.start(ids, params)?;
    pollster::block_on(g.run(&mut Print(!json)))?;
    let mut out = std::io::stdout().lock();
    if json {
        let line = serde_json::to_string(&GenerateLine {
            prompt_ids: g.prompt_ids(),
            ids: g.generated_ids(),
            text: g.text(),
            finish_reason: g.finish_reason(),
            top5: g.first_logits().map(|l| top_k(l, 5)).unwrap_or_default(),
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

fn ask_all(
    m: &ModelArgs,
    generator: &Path,
    corpus: &Path,
    opts: &AskOptions,
) -> Result<(), CliError> {
    opts.validate()
        .map_err(|e| CliError::Usage(e.message().to_string()))?;
    let generator = load_generator(generator, m.backend)?;
    let kb = build(m, corpus, (None, None), Context::Title)?;
    let mut out = BufWriter::new(std::io::stdout().lock());
    for line in stdin_lines() {
        let (n, question) = line?;
        let answer = pollster::block_on(ask(&kb, &generator, &question, opts, &mut ()))
            .map_err(|e| CliError::Failed(format!("stdin line {n}: {e}")))?;
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
