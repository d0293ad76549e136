//! Chunking with the real tokenizer: every chunk is within the budget when tokenized on its own,
//! and its UTF-16 offsets slice exactly its text out of the document, for a varied corpus.

use crate::common;

use localrag::EmbedderFileBytes as ModelDir;
use localrag::{ChunkOptions, chunk_text};
use localrag::{Embedder, EmbedderOptions};

fn corpus() -> Vec<String> {
    let mut docs: Vec<String> = common::golden()
        .cases
        .into_iter()
        .map(|c| c.text)
        .filter(|t| !t.trim().is_empty())
        .collect();
    docs.push("北京大学是中国著名的高等学府。它位于北京市海淀区，历史悠久！東京タワーは観光名所です。서울은 한국의 수도입니다。".repeat(12));
    docs.push("汉字".repeat(600));
    docs.push(
        "Family: 👨‍👩‍👧‍👦 and flags 🇫🇷🇯🇵. Music 𝄞 and math 𝔸𝔹ℂ.\r\nTabs\tand   spaces.  ".repeat(30),
    );
    docs.push("fn main() {\n    let url = \"https://example.com/a/very/long/path?with=query&and=more#frag\";\n}\n".repeat(40));
    docs.push(format!("https://example.org/{}", "abcdefghij/".repeat(400)));
    docs.push("Before a NUL\0 byte. Control \u{7} bell. Zero\u{200b}width joiner.".repeat(20));
    docs.push(
        (0..800)
            .map(|i| format!("Sentence number {i} talks about topic {}. ", i % 17))
            .collect(),
    );
    docs.push(
        (0..60)
            .map(|i| format!("Paragraph {i}. Crème brûlée, naïve façade, Straße.\n\n"))
            .collect(),
    );
    docs.push("x".repeat(20_000));
    docs.extend(common::real_texts(300).chunks(30).map(|c| c.join(" ")));
    docs
}

#[test]
fn chunks_fit_and_offsets_slice_exactly() {
    let dir = ModelDir::read_dir(&common::model_dir()).expect("model files (make assets)");
    let embedder = Embedder::load(
        dir.files(),
        EmbedderOptions::default(),
        &localrag::cpu_device(),
    )
    .unwrap();
    let mut total = 0;
    for opts in [
        ChunkOptions::default(),
        ChunkOptions {
            max_tokens: 32,
            overlap: 8,
        },
        ChunkOptions {
            max_tokens: 254,
            overlap: 0,
        },
    ] {
        for doc in corpus() {
            let chunks = chunk_text(&doc, &embedder, &opts).unwrap();
            assert!(!chunks.is_empty());
            let utf16: Vec<u16> = doc.encode_utf16().collect();
            let mut covered_to = 0;
            for c in &chunks {
                // The model reads the whole chunk: its own token count (plus [CLS]/[SEP]) fits.
                let ids = embedder.tokenize(&[c.text(&doc)]).unwrap();
                assert!(
                    ids[0].len() - 2 == c.tokens && c.tokens <= opts.max_tokens,
                    "{} tokens > {}",
                    c.tokens,
                    opts.max_tokens
                );
                assert!(ids[0].len() <= embedder.max_seq_length());
                // doc.text.slice(start, end) === chunk.text
                assert_eq!(
                    String::from_utf16(&utf16[c.start16..c.end16]).unwrap(),
                    c.text(&doc)
                );
                // No text is skipped between chunks.
                assert!(
                    doc[covered_to.min(c.start)..c.start].trim().is_empty()
                        || c.start <= covered_to,
                    "gap before {c:?}"
                );
                covered_to = covered_to.max(c.end);
            }
            assert!(
                doc[covered_to..].trim().is_empty(),
                "text left after the last chunk"
            );
            total += chunks.len();
        }
    }
    assert!(total > 300, "{total} chunks");
}

/// multilingual-e5-small reads 512 tokens, its passage prompt included: the knowledge base's
/// default chunks (400 tokens) and the largest allowed ones fit whole after the prompt, for
/// Chinese, Japanese and mixed text, split at CJK sentence ends where there are any.
#[test]
fn chunks_fit_a_512_token_model_after_its_passage_prompt() {
    use localrag::{KnowledgeBaseOptions, Role};
    let dir = ModelDir::read_dir(
        &std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("www/models/multilingual-e5-small"),
    )
    .expect("e5 folder (make assets)");
    let e5 =
        Embedder::load_owned(dir, EmbedderOptions::default(), &localrag::cpu_device()).unwrap();
    assert_eq!(e5.max_seq_length(), 512);
    // "passage: " is 3 tokens, <s> and </s> 2.
    assert_eq!(e5.passage_tokens(), 507);
    let default = KnowledgeBaseOptions::default()
        .resolve(e5.max_seq_length(), e5.passage_tokens())
        .unwrap()
        .chunk;
    assert_eq!(default.max_tokens, 400);
    // The Chinese evaluation documents run together without paragraph breaks: chunks must end
    // at sentence ends (。！？) to stay whole.
    let chinese: String = std::fs::read_to_string(
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/eval-zh/corpus.jsonl"),
    )
    .unwrap()
    .lines()
    .map(|l| {
        serde_json::from_str::<serde_json::Value>(l).unwrap()["text"]
            .as_str()
            .unwrap()
            .to_string()
    })
    .collect();
    let docs: Vec<String> = corpus().into_iter().chain([chinese.clone()]).collect();
    let mut cjk_ends = 0;
    for opts in [
        default,
        ChunkOptions {
            max_tokens: 507,
            overlap: 0,
        },
    ] {
        for doc in &docs {
            for c in chunk_text(doc, &e5, &opts).unwrap() {
                let prompted = format!("{}{}", e5.prompts().of(Role::Passage), c.text(doc));
                let untruncated = e5.token_spans(&prompted).unwrap().len() + 2;
                assert!(
                    untruncated <= 512,
                    "{untruncated} tokens for {:?}",
                    c.text(doc)
                );
                assert!(c.tokens <= opts.max_tokens);
                if *doc == chinese {
                    assert!(
                        c.end == doc.len() || c.text(doc).ends_with(['。', '！', '？']),
                        "a Chinese chunk ends mid-sentence: {:?}",
                        c.text(doc)
                    );
                    cjk_ends += 1;
                }
            }
        }
    }
    assert!(cjk_ends > 10, "{cjk_ends} chunks end at a CJK sentence end");
}
