//! Offsets as JavaScript counts them: UTF-16 code units.

/// Converts sorted byte offsets (on char boundaries) to UTF-16 offsets in one pass.
pub fn utf16_offsets(text: &str, sorted_bytes: &[usize]) -> Vec<usize> {
    let mut out = Vec::with_capacity(sorted_bytes.len());
    let mut u16pos = 0;
    let mut next = 0;
    for (b, ch) in text.char_indices() {
        while next < sorted_bytes.len() && sorted_bytes[next] <= b {
            out.push(u16pos);
            next += 1;
        }
        u16pos += ch.len_utf16();
    }
    while next < sorted_bytes.len() {
        out.push(u16pos);
        next += 1;
    }
    out
}

/// Length of `text` in UTF-16 code units.
pub fn utf16_len(text: &str) -> usize {
    text.chars().map(char::len_utf16).sum()
}
