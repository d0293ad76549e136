//! The analyzer of lexical search, and the script test the chunker shares.
//!
//! Latin (and other spaced scripts): words of letters and digits, compatibility-decomposed,
//! accents dropped, lower-cased (`Café` = `cafe`, `Straße` = `strasse`, `ＡＢＣ` = `abc`).
//! CJK (Han, kana, Hangul): overlapping character bigrams, a lone character as itself, so Chinese
//! and Japanese text is searchable without a word segmenter, whatever the embedding model reads.

/// Longer words are cut to this many chars (base64 blobs, hashes).
const MAX_TERM_CHARS: usize = 40;

/// Whether `c` is written without spaces between words: Han, kana and Hangul.
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF   // Hiragana, Katakana
        | 0x31F0..=0x31FF // Katakana phonetic extensions
        | 0x3400..=0x4DBF // CJK Extension A
        | 0x4E00..=0x9FFF // CJK Unified Ideographs
        | 0xAC00..=0xD7AF // Hangul syllables
        | 0xF900..=0xFAFF // CJK Compatibility Ideographs
        | 0x20000..=0x2FA1F)
}

fn fold_into(c: char, out: &mut String) {
    match c {
        'ß' | 'ẞ' => out.push_str("ss"),
        'æ' | 'Æ' => out.push_str("ae"),
        'œ' | 'Œ' => out.push_str("oe"),
        'ø' | 'Ø' => out.push('o'),
        'đ' | 'Đ' | 'ð' | 'Ð' => out.push('d'),
        'ł' | 'Ł' => out.push('l'),
        'þ' | 'Þ' => out.push_str("th"),
        'ı' => out.push('i'),
        _ => {
            unicode_normalization::char::decompose_compatible(c, |d| {
                if !unicode_normalization::char::is_combining_mark(d) {
                    out.extend(d.to_lowercase());
                }
            });
        }
    }
}

/// English function words, dropped from queries and documents (Lucene's English stop set): they
/// match nearly every chunk, and in reciprocal rank fusion even a weak lexical match counts.
const STOPWORDS: [&str; 33] = [
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it",
    "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these",
    "they", "this", "to", "was", "will", "with",
];

/// The terms of `text`, in order, repeated as they occur.
pub fn analyze(text: &str) -> Vec<String> {
    let mut terms = analyze_all(text);
    terms.retain(|t| !STOPWORDS.contains(&t.as_str()));
    terms
}

fn analyze_all(text: &str) -> Vec<String> {
    let mut terms = Vec::new();
    let mut word = String::new();
    let mut word_chars = 0usize;
    let mut cjk_prev: Option<char> = None;
    let mut cjk_run = 0usize;
    let flush_word = |word: &mut String, n: &mut usize, terms: &mut Vec<String>| {
        if !word.is_empty() {
            terms.push(std::mem::take(word));
        }
        *n = 0;
    };
    let flush_cjk = |prev: &mut Option<char>, run: &mut usize, terms: &mut Vec<String>| {
        if *run == 1
            && let Some(p) = *prev
        {
            terms.push(p.to_string());
        }
        *prev = None;
        *run = 0;
    };
    for c in text.chars() {
        if is_cjk(c) {
            flush_word(&mut word, &mut word_chars, &mut terms);
            if let Some(p) = cjk_prev {
                let mut t = String::with_capacity(8);
                t.push(p);
                t.push(c);
                terms.push(t);
            }
            cjk_prev = Some(c);
            cjk_run += 1;
        } else if c.is_alphanumeric() {
            flush_cjk(&mut cjk_prev, &mut cjk_run, &mut terms);
            if word_chars < MAX_TERM_CHARS {
                fold_into(c, &mut word);
                word_chars += 1;
            }
        } else if unicode_normalization::char::is_combining_mark(c) {
            // A combining accent written separately: folded away, the word goes on.
        } else {
            flush_word(&mut word, &mut word_chars, &mut terms);
            flush_cjk(&mut cjk_prev, &mut cjk_run, &mut terms);
        }
    }
    flush_word(&mut word, &mut word_chars, &mut terms);
    flush_cjk(&mut cjk_prev, &mut cjk_run, &mut terms);
    terms.retain(|t| !t.is_empty());
    terms
}
