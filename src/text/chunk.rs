//! Splitting documents into chunks the embedder reads whole.
//!
//! A chunk holds at most `max_tokens` tokens of the embedder's own tokenizer, so the model never
//! truncates one silently. Splits prefer the coarsest natural boundary that fits: paragraphs, then
//! lines, then sentences (Latin and CJK terminators), then clauses, then words, and only then
//! token boundaries (for long unbroken runs: CJK without punctuation, code, URLs). Small pieces
//! are packed greedily back together up to the budget, and consecutive chunks may share up to
//! `overlap` tokens of whole pieces.
//!
//! Every chunk is an exact slice of the document: its offsets are given in bytes (for Rust) and
//! in UTF-16 code units (for JavaScript's `String.prototype.slice`).

use super::analyze::is_cjk;
use super::utf16::utf16_offsets;
use crate::error::{Error, Result};

/// Measures text the way the embedder does.
pub trait TokenSpans {
    /// Byte spans of the tokens of `text`, in order, without special tokens or truncation.
    fn token_spans(&self, text: &str) -> Result<Vec<(usize, usize)>>;
}

/// How to chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkOptions {
    /// Most tokens per chunk (special tokens not counted). Default 200: MiniLM reads 256 with
    /// `[CLS]`/`[SEP]`, which leaves room.
    pub max_tokens: usize,
    /// Tokens of whole pieces a chunk may repeat from the end of the previous one. Default 24.
    pub overlap: usize,
}

impl Default for ChunkOptions {
    fn default() -> Self {
        ChunkOptions {
            max_tokens: 200,
            overlap: 24,
        }
    }
}

impl ChunkOptions {
    /// Checks the options against the tokens a passage may fill (the model's length less its
    /// special tokens and passage prompt).
    pub fn check(&self, passage_tokens: usize) -> Result<()> {
        let limit = passage_tokens;
        if self.max_tokens < 8 || self.max_tokens > limit {
            return Err(Error::Input(format!(
                "chunk maxTokens {} must be between 8 and {limit} (the tokens the model reads of a passage, after its special tokens and prompt)",
                self.max_tokens
            )));
        }
        if self.overlap >= self.max_tokens / 2 {
            return Err(Error::Input(format!(
                "chunk overlap {} must be less than half of maxTokens {}",
                self.overlap, self.max_tokens
            )));
        }
        Ok(())
    }
}

/// One chunk of a document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkSpan {
    /// Byte offsets into the document.
    pub start: usize,
    pub end: usize,
    /// UTF-16 code unit offsets into the document (JavaScript string indices).
    pub start16: usize,
    pub end16: usize,
    /// Tokens of the chunk when tokenized on its own.
    pub tokens: usize,
}

impl ChunkSpan {
    /// The chunk's text.
    pub fn text<'a>(&self, doc: &'a str) -> &'a str {
        &doc[self.start..self.end]
    }
}

/// Splits `text` into chunks of at most `opts.max_tokens` tokens of `tok`.
pub fn chunk_text(text: &str, tok: &dyn TokenSpans, opts: &ChunkOptions) -> Result<Vec<ChunkSpan>> {
    if opts.max_tokens < 8 {
        return Err(Error::Input("chunk maxTokens must be at least 8".into()));
    }
    let spans = tok.token_spans(text)?;
    let starts: Vec<usize> = spans.iter().map(|s| s.0).collect();
    let counter = Counter { starts: &starts };
    // Pieces: cover the text, each within the budget (by the document's own tokenization).
    let mut pieces = Vec::new();
    split(
        text,
        0,
        text.len(),
        Level::Paragraph,
        &counter,
        opts.max_tokens,
        &mut pieces,
    );
    let mut ranges = pack(text, &pieces, &counter, tok, opts)?;
    // Tokenizing a slice alone can differ a little from the document's tokens (a word cut at a
    // token boundary). Re-check each chunk alone; halve the rare one that grew past the budget.
    let mut out = Vec::with_capacity(ranges.len());
    let mut guard = 0;
    while let Some((a, b)) = ranges.pop() {
        let (a, b) = trim(text, a, b);
        if a >= b {
            continue;
        }
        let n = tok.token_spans(&text[a..b])?.len();
        if n <= opts.max_tokens || guard > 10_000 {
            out.push((a, b, n));
            continue;
        }
        guard += 1;
        let mid = counter.midpoint(text, a, b);
        ranges.push((mid, b));
        ranges.push((a, mid));
    }
    out.sort_unstable();
    let mut bounds: Vec<usize> = out.iter().flat_map(|c| [c.0, c.1]).collect();
    bounds.sort_unstable();
    bounds.dedup();
    let map = utf16_offsets(text, &bounds);
    let at = |b: usize| map[bounds.binary_search(&b).expect("bound recorded")];
    Ok(out
        .into_iter()
        .map(|(a, b, n)| ChunkSpan {
            start: a,
            end: b,
            start16: at(a),
            end16: at(b),
            tokens: n,
        })
        .collect())
}

struct Counter<'a> {
    starts: &'a [usize],
}

impl Counter<'_> {
    /// Tokens that start inside `[a, b)`.
    fn count(&self, a: usize, b: usize) -> usize {
        let lo = self.starts.partition_point(|&s| s < a);
        let hi = self.starts.partition_point(|&s| s < b);
        hi - lo
    }

    /// A char boundary near the middle of `[a, b)` by tokens (by bytes when there are none).
    fn midpoint(&self, text: &str, a: usize, b: usize) -> usize {
        let lo = self.starts.partition_point(|&s| s < a);
        let hi = self.starts.partition_point(|&s| s < b);
        let mut m = if hi - lo >= 2 {
            self.starts[lo + (hi - lo) / 2]
        } else {
            a + (b - a) / 2
        };
        while !text.is_char_boundary(m) {
            m += 1;
        }
        if m <= a || m >= b {
            // Cannot split further by tokens: split by chars.
            m = a + (b - a) / 2;
            while !text.is_char_boundary(m) {
                m += 1;
            }
        }
        m.clamp(a + 1, b.saturating_sub(1).max(a + 1))
    }
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Level {
    Paragraph,
    Line,
    Sentence,
    Clause,
    Word,
    Token,
}

impl Level {
    fn finer(self) -> Level {
        match self {
            Level::Paragraph => Level::Line,
            Level::Line => Level::Sentence,
            Level::Sentence => Level::Clause,
            Level::Clause => Level::Word,
            Level::Word | Level::Token => Level::Token,
        }
    }
}

fn split(
    text: &str,
    a: usize,
    b: usize,
    level: Level,
    counter: &Counter<'_>,
    max: usize,
    out: &mut Vec<(usize, usize)>,
) {
    if a >= b {
        return;
    }
    if counter.count(a, b) <= max {
        out.push((a, b));
        return;
    }
    if level == Level::Token {
        // Groups of tokens, cut at token starts. A little under budget: a slice that starts
        // inside a word may tokenize into a few more pieces on its own.
        let group = max.saturating_sub(max / 16).max(1);
        let lo = counter.starts.partition_point(|&s| s < a);
        let hi = counter.starts.partition_point(|&s| s < b);
        let mut cut = a;
        let mut i = lo + group;
        while i < hi {
            let s = counter.starts[i];
            if s > cut && text.is_char_boundary(s) {
                out.push((cut, s));
                cut = s;
            }
            i += group;
        }
        out.push((cut, b));
        return;
    }
    let cuts = boundaries(text, a, b, level);
    if cuts.is_empty() {
        split(text, a, b, level.finer(), counter, max, out);
        return;
    }
    let mut from = a;
    for c in cuts.into_iter().chain(std::iter::once(b)) {
        if c > from {
            split(text, from, c, level.finer(), counter, max, out);
            from = c;
        }
    }
}

/// Cut positions strictly inside `(a, b)` for a level.
fn boundaries(text: &str, a: usize, b: usize, level: Level) -> Vec<usize> {
    let s = &text[a..b];
    let mut cuts = Vec::new();
    let chars: Vec<(usize, char)> = s.char_indices().collect();
    let n = chars.len();
    let pos = |i: usize| if i < n { a + chars[i].0 } else { b };
    match level {
        Level::Paragraph => {
            // After a run of whitespace holding two or more line breaks.
            let mut i = 0;
            while i < n {
                if chars[i].1 == '\n' {
                    let mut j = i;
                    let mut breaks = 0;
                    while j < n && chars[j].1.is_whitespace() {
                        if chars[j].1 == '\n' {
                            breaks += 1;
                        }
                        j += 1;
                    }
                    if breaks >= 2 && j < n {
                        cuts.push(pos(j));
                    }
                    i = j.max(i + 1);
                } else {
                    i += 1;
                }
            }
        }
        Level::Line => {
            for i in 0..n {
                if chars[i].1 == '\n' && i + 1 < n {
                    cuts.push(pos(i + 1));
                }
            }
        }
        Level::Sentence | Level::Clause => {
            let (latin, cjk): (&[char], &[char]) = if level == Level::Sentence {
                (&['.', '!', '?', '…'], &['。', '！', '？', '．'])
            } else {
                (&[',', ';', ':'], &['，', '、', '；', '：'])
            };
            let closers = ['"', '\'', ')', ']', '»', '”', '’', '」', '』', '）'];
            let mut i = 0;
            while i < n {
                let c = chars[i].1;
                if cjk.contains(&c) {
                    let mut j = i + 1;
                    while j < n && closers.contains(&chars[j].1) {
                        j += 1;
                    }
                    if j < n {
                        cuts.push(pos(j));
                    }
                    i = j;
                    continue;
                }
                if latin.contains(&c) {
                    let mut j = i + 1;
                    while j < n && (latin.contains(&chars[j].1) || closers.contains(&chars[j].1)) {
                        j += 1;
                    }
                    // Only before whitespace: "3.14", "e.g.x" and URLs stay whole.
                    if j < n && chars[j].1.is_whitespace() {
                        let mut k = j;
                        while k < n && chars[k].1.is_whitespace() {
                            k += 1;
                        }
                        if k < n {
                            cuts.push(pos(k));
                        }
                        i = k;
                        continue;
                    }
                    i = j;
                    continue;
                }
                i += 1;
            }
        }
        Level::Word => {
            // Before each run of whitespace, and between CJK characters and other scripts.
            for i in 1..n {
                let (p, c) = (chars[i - 1].1, chars[i].1);
                if (c.is_whitespace() && !p.is_whitespace())
                    || (is_cjk(p) != is_cjk(c) && !c.is_whitespace() && !p.is_whitespace())
                {
                    cuts.push(pos(i));
                }
            }
        }
        Level::Token => {}
    }
    cuts.retain(|&c| c > a && c < b);
    cuts.dedup();
    cuts
}

/// Packs consecutive pieces into chunks within the budget, with overlap of whole pieces.
fn pack(
    text: &str,
    pieces: &[(usize, usize)],
    counter: &Counter<'_>,
    tok: &dyn TokenSpans,
    opts: &ChunkOptions,
) -> Result<Vec<(usize, usize)>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < pieces.len() {
        let start = pieces[i].0;
        let mut j = i;
        while j + 1 < pieces.len() && counter.count(start, pieces[j + 1].1) <= opts.max_tokens {
            j += 1;
        }
        // Alone, a chunk can take a token more than inside the document (SentencePiece marks
        // the start of a text with `▁`, often a token of its own before CJK): give back whole
        // trailing pieces until it fits alone, so that chunks still end at natural boundaries.
        while j > i {
            let (a, b) = trim(text, start, pieces[j].1);
            if a >= b || tok.token_spans(&text[a..b])?.len() <= opts.max_tokens {
                break;
            }
            j -= 1;
        }
        out.push((start, pieces[j].1));
        if j + 1 >= pieces.len() {
            break;
        }
        // Next chunk: back up over whole trailing pieces worth at most `overlap` tokens, but
        // always move forward.
        let mut k = j + 1;
        while k > i + 1 && counter.count(pieces[k - 1].0, pieces[j].1) <= opts.overlap {
            k -= 1;
        }
        // Skip overlap made only of whitespace-ish pieces.
        if k <= j && counter.count(pieces[k].0, pieces[j].1) == 0 {
            k = j + 1;
        }
        i = k;
    }
    Ok(out)
}

fn trim(text: &str, a: usize, b: usize) -> (usize, usize) {
    let s = &text[a..b];
    let lead = s.len() - s.trim_start().len();
    let trail = s.len() - s.trim_end().len();
    if lead + trail >= s.len() {
        return (a, a);
    }
    (a + lead, b - trail)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::text::utf16_len;

    /// A stand-in tokenizer for tests: words, single punctuation marks, single CJK characters,
    /// and long words cut every 6 chars (like word pieces).
    pub struct TestTok;

    impl TokenSpans for TestTok {
        fn token_spans(&self, text: &str) -> Result<Vec<(usize, usize)>> {
            let mut out = Vec::new();
            let mut word: Option<usize> = None;
            let flush = |from: Option<usize>, to: usize, out: &mut Vec<(usize, usize)>| {
                if let Some(s) = from {
                    let mut at = s;
                    for (n, (i, _)) in text[s..to].char_indices().enumerate() {
                        if n > 0 && n % 6 == 0 {
                            out.push((at, s + i));
                            at = s + i;
                        }
                    }
                    out.push((at, to));
                }
            };
            for (i, c) in text.char_indices() {
                if c.is_alphanumeric() && !is_cjk(c) {
                    word.get_or_insert(i);
                } else {
                    flush(word.take(), i, &mut out);
                    if !c.is_whitespace() {
                        out.push((i, i + c.len_utf8()));
                    }
                }
            }
            flush(word.take(), text.len(), &mut out);
            Ok(out)
        }
    }

    /// Chunks of at most `max_tokens` tokens without overlap.
    fn tight(max_tokens: usize) -> ChunkOptions {
        ChunkOptions {
            max_tokens,
            overlap: 0,
        }
    }

    fn check(text: &str, opts: ChunkOptions) -> Vec<ChunkSpan> {
        let chunks = chunk_text(text, &TestTok, &opts).unwrap();
        let utf16: Vec<u16> = text.encode_utf16().collect();
        for c in &chunks {
            assert!(c.tokens <= opts.max_tokens, "chunk over budget: {c:?}");
            let slice = String::from_utf16(&utf16[c.start16..c.end16]).unwrap();
            assert_eq!(
                slice,
                c.text(text),
                "UTF-16 offsets disagree with byte offsets"
            );
            assert!(!c.text(text).trim().is_empty());
        }
        // Chunks are in order and together cover every token of the text.
        for w in chunks.windows(2) {
            assert!(w[0].start < w[1].start && w[0].end <= w[1].end, "{w:?}");
            assert!(
                w[1].start <= w[0].end || text[w[0].end..w[1].start].trim().is_empty(),
                "gap with text between chunks"
            );
        }
        chunks
    }

    #[test]
    fn short_text_is_one_chunk() {
        let c = check("  Hello world.  ", ChunkOptions::default());
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].text("  Hello world.  "), "Hello world.");
        assert_eq!((c[0].start16, c[0].end16), (2, 14));
    }

    #[test]
    fn empty_and_blank_text_have_no_chunks() {
        assert!(check("", ChunkOptions::default()).is_empty());
        assert!(check(" \n\t ", ChunkOptions::default()).is_empty());
    }

    #[test]
    fn paragraphs_are_kept_whole_when_they_fit() {
        let p1 = "First paragraph about cats. Cats sleep a lot.";
        let p2 = "Second paragraph about dogs. Dogs bark.";
        let text = format!("{p1}\n\n{p2}");
        let c = check(&text, tight(14));
        let texts: Vec<&str> = c.iter().map(|c| c.text(&text)).collect();
        assert_eq!(texts, vec![p1, p2]);
    }

    #[test]
    fn long_paragraph_splits_at_sentences() {
        let text = "One two three four five. Six seven eight nine ten. Eleven twelve thirteen fourteen fifteen.";
        let c = check(text, tight(13));
        let texts: Vec<&str> = c.iter().map(|c| c.text(text)).collect();
        assert_eq!(
            texts,
            vec![
                "One two three four five. Six seven eight nine ten.",
                "Eleven twelve thirteen fourteen fifteen."
            ]
        );
    }

    #[test]
    fn overlap_repeats_whole_sentences() {
        let text = "Aa bb. Cc dd. Ee ff. Gg hh. Ii jj. Kk ll.";
        let c = check(
            text,
            ChunkOptions {
                max_tokens: 9,
                overlap: 3,
            },
        );
        assert!(c.len() >= 3);
        for w in c.windows(2) {
            assert!(w[1].start < w[0].end, "expected overlap: {w:?}");
            // The overlap starts at a sentence.
            assert!(text[w[1].start..].chars().next().unwrap().is_uppercase());
        }
    }

    #[test]
    fn cjk_without_spaces_is_split_at_sentences_then_characters() {
        let text = "今天天气很好。我们去公园散步吧！明天可能会下雨，所以要带伞。".repeat(3);
        let c = check(&text, tight(16));
        assert!(c.len() > 3);
        assert!(
            c.iter()
                .all(|c| c.text(&text).ends_with(['。', '！', '，']))
        );
        let run = "汉".repeat(100);
        let c = check(&run, tight(16));
        assert_eq!(c.iter().map(|c| c.end16 - c.start16).sum::<usize>(), 100);
    }

    #[test]
    fn long_unbroken_lines_are_split_by_tokens() {
        let url = format!("https://example.com/{}", "segment/".repeat(200));
        let c = check(&url, tight(32));
        assert!(c.len() > 5);
        let joined: String = c.iter().map(|c| c.text(&url)).collect();
        assert_eq!(joined, url);
        let word = "x".repeat(5000);
        let c = check(&word, tight(32));
        assert_eq!(c.iter().map(|c| c.end - c.start).sum::<usize>(), 5000);
    }

    #[test]
    fn utf16_offsets_count_surrogate_pairs() {
        let text = "😀 emoji first. 𝄞 music. Ünïcödé and 中文。";
        let c = check(text, tight(8));
        assert!(c.len() >= 2);
        assert_eq!(utf16_len("😀"), 2);
        assert_eq!(utf16_offsets("a😀b", &[0, 1, 5, 6]), vec![0, 1, 3, 4]);
    }

    #[test]
    fn options_are_checked() {
        // 254: what MiniLM (256 tokens with [CLS] and [SEP]) reads of a passage.
        assert!(ChunkOptions::default().check(254).is_ok());
        assert!(
            ChunkOptions {
                max_tokens: 255,
                overlap: 0
            }
            .check(254)
            .is_err()
        );
        assert!(
            ChunkOptions {
                max_tokens: 4,
                overlap: 0
            }
            .check(256)
            .is_err()
        );
        assert!(
            ChunkOptions {
                max_tokens: 100,
                overlap: 50
            }
            .check(256)
            .is_err()
        );
    }
}
