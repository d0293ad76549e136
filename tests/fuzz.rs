//! The fuzzing run of `make test`: every decoder that reads bytes from outside gets real files,
//! damaged — bits flipped, bytes set to boundary values, length fields overwritten, pieces cut,
//! repeated or dropped — and must answer with `Ok` or a typed `Error`: never a panic, never a
//! hang, and never an allocation far beyond what the input justifies (a counting allocator
//! measures each call's peak, so a length read from the file and trusted before it is checked
//! shows up here even when the allocation happens to succeed).
//!
//! Targets: GGUF (parse, the generator's config, tokenizer and chat template, the whole
//! generator load), the embedder's files (its GGUF, `config.json`, `tokenizer.json`), the export
//! file (checksum kept and fixed up, so that the body's decoding is reached), and the stored
//! records a knowledge base opens (documents, chunks, manifest, index snapshot).
//!
//! Seeded and deterministic: a failure names its target, case and seed, and reruns the same.
//! `LOCALRAG_FUZZ_SCALE` multiplies the cases (1 in `make test`; `make fuzz` runs longer and its
//! figures go to BENCHMARKS.md); `LOCALRAG_FUZZ_SEED` changes the seed.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use localrag::{
    DocInput, EmbedderFiles, EmbedderOptions, Generator, Gguf, KbOptions, KnowledgeBase,
    MemoryStore, Op, SearchOptions, Space, Store, cpu_device,
};

mod common;
use common::hash::{HashEmbedder, small_index_options};

// ---------------------------------------------------------------------------------------------
// Peak memory of one call.

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = CURRENT.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                let grow = new_size - layout.size();
                let now = CURRENT.fetch_add(grow, Ordering::Relaxed) + grow;
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                CURRENT.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f` and returns how many bytes above the starting level it had allocated at its peak.
fn peak_of(f: impl FnOnce()) -> usize {
    let base = CURRENT.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    f();
    PEAK.load(Ordering::Relaxed).saturating_sub(base)
}

// ---------------------------------------------------------------------------------------------
// Damaging bytes.

/// xorshift64*: small, seeded, the same everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const INTERESTING_32: [u32; 8] = [0, 1, 0x7f, 0xff, 0xffff, 0x7fff_ffff, 0x8000_0000, u32::MAX];
const INTERESTING_64: [u64; 5] = [0, 1, 1 << 32, i64::MAX as u64, u64::MAX];

/// One to four damages of `bytes` within `region` (a range of offsets; the rest is kept).
fn mutate(rng: &mut Rng, seed: &[u8], region: usize) -> Vec<u8> {
    let mut b = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        let limit = region.min(b.len()).max(1);
        let at = rng.below(limit);
        match rng.below(9) {
            0 => {
                if let Some(x) = b.get_mut(at) {
                    *x ^= 1 << rng.below(8);
                }
            }
            1 => {
                if let Some(x) = b.get_mut(at) {
                    *x = [0, 0xff, 0x7f, 0x80][rng.below(4)];
                }
            }
            2 => {
                if let Some(x) = b.get_mut(at) {
                    *x = rng.next() as u8;
                }
            }
            3 if at + 4 <= b.len() => {
                let v = INTERESTING_32[rng.below(INTERESTING_32.len())];
                b[at..at + 4].copy_from_slice(&v.to_le_bytes());
            }
            4 if at + 8 <= b.len() => {
                let v = INTERESTING_64[rng.below(INTERESTING_64.len())];
                b[at..at + 8].copy_from_slice(&v.to_le_bytes());
            }
            5 => b.truncate(at),
            6 => {
                // Repeat a piece.
                let len = 1 + rng.below(64.min(b.len() - at.min(b.len())).max(1));
                let end = (at + len).min(b.len());
                let piece = b[at..end].to_vec();
                let to = rng.below(limit);
                b.splice(to..to, piece);
            }
            7 => {
                // Drop a piece.
                let end = (at + 1 + rng.below(64)).min(b.len());
                b.drain(at..end);
            }
            _ => {
                // Swap two bytes.
                let other = rng.below(limit);
                if at < b.len() && other < b.len() {
                    b.swap(at, other);
                }
            }
        }
    }
    b
}

// ---------------------------------------------------------------------------------------------
// The run.

/// A call may take at most this long (the seeds themselves load in well under a second).
const SLOW: Duration = Duration::from_secs(10);

fn scale() -> usize {
    std::env::var("LOCALRAG_FUZZ_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
}

fn seed() -> u64 {
    std::env::var("LOCALRAG_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x10ca_15ee_d000_0001)
}

struct Report {
    target: &'static str,
    cases: usize,
    accepted: usize,
    worst_peak: usize,
    slowest: Duration,
}

/// Runs `cases` damaged copies of `seed_bytes` through `call`, which returns whether the input
/// was accepted. Each call must return (a panic fails the test with the case), within [`SLOW`],
/// having allocated at most `budget(len)` bytes at its peak.
fn run(
    target: &'static str,
    seed_bytes: &[u8],
    region: usize,
    cases: usize,
    budget: impl Fn(usize) -> usize,
    mut call: impl FnMut(&[u8]) -> bool,
) -> Report {
    let mut rng = Rng(seed() ^ fxhash(target.as_bytes()) | 1);
    let mut report = Report {
        target,
        cases,
        accepted: 0,
        worst_peak: 0,
        slowest: Duration::ZERO,
    };
    for case in 0..cases {
        let input = mutate(&mut rng, seed_bytes, region);
        let start = Instant::now();
        let mut accepted = false;
        let peak = peak_of(|| {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| call(&input)));
            match r {
                Ok(a) => accepted = a,
                Err(e) => {
                    let msg = e
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                    let path = save_case(target, case, &input);
                    panic!(
                        "{target}: case {case} (seed {}) panicked: {msg}; input saved to {}",
                        seed(),
                        path.display()
                    );
                }
            }
        });
        let took = start.elapsed();
        assert!(
            took < SLOW,
            "{target}: case {case} (seed {}) took {took:?}; input saved to {}",
            seed(),
            save_case(target, case, &input).display()
        );
        let allowed = budget(input.len());
        assert!(
            peak <= allowed,
            "{target}: case {case} (seed {}) allocated {peak} bytes at its peak for a {}-byte input (at most {allowed}); input saved to {}",
            seed(),
            input.len(),
            save_case(target, case, &input).display()
        );
        report.accepted += accepted as usize;
        report.worst_peak = report.worst_peak.max(peak);
        report.slowest = report.slowest.max(took);
    }
    report
}

fn fxhash(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf2_9ce4_8422_2325, |h, &x| {
        (h ^ x as u64).wrapping_mul(0x100_0000_01b3)
    })
}

fn save_case(target: &str, case: usize, input: &[u8]) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("fuzz-failures");
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(format!("{target}-{case}.bin"));
    let _ = std::fs::write(&path, input);
    path
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (make assets test-models fetches the seed files)",
            path.display()
        )
    })
}

const MB: usize = 1 << 20;

// ---------------------------------------------------------------------------------------------
// Targets.

fn gguf_and_generator(cases: usize) -> Vec<Report> {
    let tiny = root().join(".cache/test-models/tiny");
    let mut out = Vec::new();
    for name in ["llama3", "qwen2"] {
        let seed_bytes = read(&tiny.join(format!("{name}.gguf")));
        // The parse alone, over the whole file (the metadata and tensor table are at the start:
        // most damage lands there).
        out.push(run(
            "gguf-parse",
            &seed_bytes,
            64 * 1024,
            cases * 4,
            |_| 16 * MB,
            |b| {
                let Ok(g) = Gguf::parse(b) else { return false };
                for t in &g.tensors {
                    let _ = g.tensor_bytes(t);
                }
                let _ = localrag::config_of(&g);
                let _ = localrag::ChatTokenizer::from_gguf(&g);
                true
            },
        ));
        // The whole generator (config, tokenizer, chat template, weights kept in their blocks),
        // and a few tokens from it when it loads.
        let device = cpu_device();
        out.push(run(
            "generator-load",
            &seed_bytes,
            seed_bytes.len(),
            cases,
            |len| 64 * MB + 8 * len,
            |b| match Generator::from_gguf(b.to_vec(), &device) {
                Ok(g) => {
                    // A few tokens, greedily: the loaded weights are used, whatever they hold.
                    if let Ok(ids) = g.prompt_ids(localrag::Prompt::Raw("Hi there".into()))
                        && let Ok(mut run) = g.start(
                            ids,
                            localrag::GenerateParams {
                                max_tokens: 2,
                                ..Default::default()
                            },
                        )
                    {
                        while let Ok(Some(_)) = pollster::block_on(run.next()) {}
                    }
                    true
                }
                Err(_) => false,
            },
        ));
    }
    out
}

fn embedder_files(cases: usize) -> Vec<Report> {
    let minilm = root().join("www/models/all-MiniLM-L6-v2");
    let config = read(&minilm.join("config.json"));
    let tokenizer = read(&minilm.join("tokenizer.json"));
    let gguf = read(&root().join("www/models/all-MiniLM-L6-v2-Q8_0.gguf"));
    let device = cpu_device();
    let options = || EmbedderOptions {
        max_seq_length: Some(32),
        ..Default::default()
    };
    let embed_one = |e: &localrag::Embedder| {
        let _ = pollster::block_on(e.embed(&["a damaged file"]));
    };
    let mut out = Vec::new();
    // The quantized model's GGUF: its config and vocabulary are in the metadata at the start.
    out.push(run(
        "embedder-gguf",
        &gguf,
        512 * 1024,
        cases,
        |len| 64 * MB + 4 * len,
        |b| {
            let files = EmbedderFiles {
                model: b,
                config: &[],
                tokenizer: &[],
                pooling: None,
                sentence_config: None,
                st_config: None,
            };
            match localrag::Embedder::load(files, options(), &device) {
                Ok(e) => {
                    embed_one(&e);
                    true
                }
                Err(_) => false,
            }
        },
    ));
    // config.json and tokenizer.json beside the GGUF's weights would be ignored, so they are
    // parsed as a safetensors model reads them: through the checks the loader runs first.
    out.push(run(
        "bert-config-json",
        &config,
        config.len(),
        cases * 4,
        |_| 4 * MB,
        |b| localrag::BertConfig::from_json(b).is_ok(),
    ));
    out.push(run(
        "tokenizer-json",
        &tokenizer,
        tokenizer.len(),
        cases,
        |len| 64 * MB + 16 * len,
        |b| match localrag::TextTokenizer::from_json(b, 32) {
            Ok(t) => {
                let _ = t.encode("a damaged tokenizer ünïcode 漢字");
                true
            }
            Err(_) => false,
        },
    ));
    out
}

fn small_index() -> KbOptions {
    small_index_options(8, 4)
}

/// A knowledge base of 24 documents (an HNSW base with its snapshot, and a few in the mutable
/// segment) in a memory store.
fn seeded_store(e: &HashEmbedder) -> MemoryStore {
    let store = MemoryStore::new();
    pollster::block_on(async {
        let mut kb = KnowledgeBase::open(store.clone(), e, small_index())
            .await
            .unwrap();
        let topics = [
            "volcano lava",
            "piano sonata",
            "tomato basil",
            "rocket orbit",
        ];
        let docs: Vec<DocInput> = (0..24)
            .map(|i| DocInput {
                id: Some(format!("doc-{i}")),
                title: Some(format!("Title {i}")),
                text: format!("{} number {i}. ", topics[i % 4]).repeat(1 + i % 3),
                metadata: Some(serde_json::json!({ "n": i, "tag": topics[i % 4] })),
                ..Default::default()
            })
            .collect();
        kb.add(docs[..20].to_vec()).await.unwrap();
        kb.compact().await.unwrap();
        kb.add(docs[20..].to_vec()).await.unwrap();
    });
    store
}

fn export_and_records(cases: usize) -> Vec<Report> {
    let e = HashEmbedder::new();
    let store = seeded_store(&e);
    let export = pollster::block_on(async {
        KnowledgeBase::open(store.clone(), &e, small_index())
            .await
            .unwrap()
            .export()
            .await
            .unwrap()
    });
    let use_kb = |kb: &KnowledgeBase<MemoryStore, &HashEmbedder>| {
        let _ = kb.list();
        let _ = kb.stats();
        let _ = pollster::block_on(kb.search("volcano piano", &SearchOptions::default()));
    };
    let mut out = Vec::new();
    // The file as given: header, length and checksum checked first.
    out.push(run(
        "export-file",
        &export,
        export.len(),
        cases * 2,
        |len| 16 * MB + 16 * len,
        |b| match pollster::block_on(KnowledgeBase::import(
            MemoryStore::new(),
            &e,
            small_index(),
            b,
            false,
        )) {
            Ok(kb) => {
                use_kb(&kb);
                true
            }
            Err(_) => false,
        },
    ));
    // The body damaged under a correct length and checksum: the records' decoding is reached.
    out.push(run(
        "export-body",
        &export,
        export.len(),
        cases * 2,
        |len| 16 * MB + 16 * len,
        |b| {
            let fixed = fix_export(b);
            match pollster::block_on(KnowledgeBase::import(
                MemoryStore::new(),
                &e,
                small_index(),
                &fixed,
                false,
            )) {
                Ok(kb) => {
                    use_kb(&kb);
                    true
                }
                Err(_) => false,
            }
        },
    ));
    // One stored record damaged: opening must refuse the store or open what is whole.
    let contents = pollster::block_on(store.load()).unwrap();
    let records: Vec<(Space, String, Vec<u8>)> = contents
        .records()
        .map(|(s, k, v)| (s, k.to_string(), v.to_vec()))
        .collect();
    for (label, space) in [
        ("record-meta", Space::Meta),
        ("record-doc", Space::Docs),
        ("record-chunk", Space::Chunks),
    ] {
        let mut rng = Rng(seed() ^ fxhash(label.as_bytes()) | 1);
        let of_space: Vec<usize> = (0..records.len())
            .filter(|&i| records[i].0 == space)
            .collect();
        assert!(!of_space.is_empty(), "{label}: no seed records");
        let mut reports = Vec::new();
        for _ in 0..cases {
            let pick = of_space[rng.below(of_space.len())];
            let (_, key, bytes) = &records[pick];
            let damaged_store = || {
                let s = MemoryStore::new();
                let ops: Vec<Op> = records
                    .iter()
                    .map(|(sp, k, v)| Op::Put(*sp, k.clone(), v.clone()))
                    .collect();
                pollster::block_on(s.write(ops)).unwrap();
                s
            };
            reports.push(run(
                label,
                bytes,
                bytes.len(),
                1,
                |len| 16 * MB + 64 * len,
                |b| {
                    let s = damaged_store();
                    pollster::block_on(s.write(vec![Op::Put(space, key.clone(), b.to_vec())]))
                        .unwrap();
                    match pollster::block_on(KnowledgeBase::open(s, &e, small_index())) {
                        Ok(kb) => {
                            use_kb(&kb);
                            true
                        }
                        Err(_) => false,
                    }
                },
            ));
        }
        out.push(Report {
            target: label,
            cases: reports.len(),
            accepted: reports.iter().map(|r| r.accepted).sum(),
            worst_peak: reports.iter().map(|r| r.worst_peak).max().unwrap_or(0),
            slowest: reports.iter().map(|r| r.slowest).max().unwrap_or_default(),
        });
    }
    out
}

/// An export file whose length field and checksum match its (damaged) body.
fn fix_export(b: &[u8]) -> Vec<u8> {
    if b.len() < 24 {
        return b.to_vec();
    }
    let mut out = b.to_vec();
    let body_len = out.len() - 24;
    out[12..20].copy_from_slice(&(body_len as u64).to_le_bytes());
    let crc = crc32(&out[20..20 + body_len]);
    let n = out.len();
    out[n - 4..].copy_from_slice(&crc.to_le_bytes());
    out
}

/// CRC-32 (IEEE), bit by bit: the export's checksum, computed independently of the crate.
fn crc32(b: &[u8]) -> u32 {
    let mut c = !0u32;
    for &x in b {
        c ^= x as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0xedb8_8320
            } else {
                c >> 1
            };
        }
    }
    !c
}

/// The tests of this binary read the one allocation counter: they run one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn damaged_inputs_give_typed_errors_within_time_and_memory_bounds() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let cases = 100 * scale();
    let started = Instant::now();
    let mut reports = Vec::new();
    reports.extend(gguf_and_generator(cases));
    reports.extend(embedder_files(cases));
    reports.extend(export_and_records(cases));
    let total: usize = reports.iter().map(|r| r.cases).sum();
    for r in &reports {
        println!(
            "fuzz {:<18} {:>6} cases {:>6} accepted  peak {:>8.1} MB  slowest {:>6.0} ms",
            r.target,
            r.cases,
            r.accepted,
            r.worst_peak as f64 / MB as f64,
            r.slowest.as_secs_f64() * 1e3
        );
    }
    println!(
        "fuzz: {total} cases, 0 panics, 0 over {SLOW:?}, seed {}, {:.1} s",
        seed(),
        started.elapsed().as_secs_f64()
    );
    // Every target reached past its first check at least sometimes: damage that is always
    // refused at the door tests nothing behind it.
    for r in &reports {
        assert!(
            r.accepted > 0 || r.target.starts_with("export-file"),
            "{}: nothing accepted",
            r.target
        );
    }
}

/// A long session in the core (the browser's is tests/e2e/soak.test.mjs): 10 000 add/remove
/// cycles on a knowledge base of constant size with an HNSW base (so removals leave tombstones
/// and compactions run), each document with a word no other has. What is allocated after the
/// first thousand cycles must not grow with the cycles: a map, vocabulary or index that kept
/// something of a removed document would grow by at least its bytes per cycle.
#[test]
fn a_long_session_holds_constant_memory() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let e = HashEmbedder::new();
    pollster::block_on(async {
        let store = MemoryStore::new();
        let mut kb = KnowledgeBase::open(store.clone(), &e, small_index_options(16, 8))
            .await
            .unwrap();
        let doc = |id: String, text: String| DocInput {
            id: Some(id),
            text,
            ..Default::default()
        };
        let base: Vec<DocInput> = (0..20)
            .map(|i| {
                doc(
                    format!("base-{i}"),
                    format!("Base document {i} about harbour {i}."),
                )
            })
            .collect();
        kb.add(base).await.unwrap();
        let mut levels = Vec::new();
        for i in 0..10_000usize {
            let text = format!("Session note {i} records the word zq{i:x}x and a lantern.");
            kb.add(vec![doc(format!("s{i}"), text)]).await.unwrap();
            // Now and then a base document goes and comes back: the HNSW base loses members.
            if i % 7 == 0 {
                let id = format!("base-{}", i % 20);
                kb.remove(std::slice::from_ref(&id)).await.unwrap();
                kb.add(vec![doc(id, format!("Base document again {i}."))])
                    .await
                    .unwrap();
            }
            if i > 0 {
                kb.remove(&[format!("s{}", i - 1)]).await.unwrap();
            }
            if (i + 1) % 1000 == 0 {
                assert_eq!(kb.count(), 21);
                levels.push(CURRENT.load(Ordering::Relaxed));
            }
        }
        let stats = kb.stats();
        let growth = levels[9] as i64 - levels[0] as i64;
        println!(
            "long session: 10 000 cycles; allocated after 1 000: {} bytes, after 10 000: {} \
             ({growth:+} bytes); vocabulary {}, base {}, mutable {}, tombstones {}",
            levels[0],
            levels[9],
            stats.vocabulary,
            stats.base_segment,
            stats.mutable_segment,
            stats.tombstones
        );
        // 9 000 cycles: even 16 bytes kept per cycle would be 144 000.
        assert!(
            growth < 64 * 1024,
            "allocated memory grew by {growth} bytes over 9 000 cycles: {levels:?}"
        );
    });
}
