//! `localrag` command line: the same core as the browser package, for scripts and evaluation.
//!
//! ```text
//! localrag embed --model-dir DIR [--backend cpu|wgpu] [--batch-size N]
//! ```
//! `embed` reads one JSON string per line on stdin and writes one JSON array of floats per line.

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
    use std::io::{BufRead, BufWriter, Write};
    use std::path::PathBuf;

    use localrag::device::{cpu_device, gpu_device};
    use localrag::fs::ModelDir;
    use localrag::{Embedder, EmbedderOptions};

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

    const USAGE: &str =
        "usage: localrag embed --model-dir DIR [--backend cpu|wgpu] [--batch-size N]
  reads one JSON string per line on stdin, writes one JSON array of floats per line";

    /// Lines embedded per call: bounded memory, output streams as input arrives.
    const LINES_PER_CALL: usize = 256;

    pub fn run(args: Vec<String>) -> Result<(), CliError> {
        let mut it = args.into_iter();
        match it.next().as_deref() {
            Some("embed") => embed(it.collect()),
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
        let device = match backend.as_str() {
            "cpu" => cpu_device(),
            "wgpu" | "gpu" => gpu_device()?,
            other => {
                return Err(CliError::Usage(format!(
                    "--backend `{other}` is not one of cpu, wgpu"
                )));
            }
        };
        let files = ModelDir::read(&model_dir)?;
        let embedder = Embedder::load(files.files(), options, &device)?;

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
}
