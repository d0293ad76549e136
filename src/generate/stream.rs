//! From token bytes to the text a caller sees: UTF-8 that never splits a character, cut at the
//! first stop string, with a tail held back while it could still become one.

/// Turns a stream of token bytes into text deltas that never split a UTF-8 character: bytes of an
/// unfinished character wait for the next token; bytes that can never be valid become U+FFFD.
#[derive(Default)]
pub struct Utf8Stream {
    pending: Vec<u8>,
}

impl Utf8Stream {
    pub fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let mut out = String::new();
        loop {
            match std::str::from_utf8(&self.pending) {
                Ok(s) => {
                    out.push_str(s);
                    self.pending.clear();
                    return out;
                }
                Err(e) => {
                    let good = e.valid_up_to();
                    out.push_str(std::str::from_utf8(&self.pending[..good]).expect("validated"));
                    match e.error_len() {
                        Some(bad) => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            self.pending.drain(..good + bad);
                        }
                        None => {
                            self.pending.drain(..good);
                            return out;
                        }
                    }
                }
            }
        }
    }

    /// Whatever is left at the end (an unfinished character becomes U+FFFD).
    pub fn finish(&mut self) -> String {
        let s = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        s
    }
}

/// The text of a generation as it streams: deltas are final (never half a character, never the
/// start of a stop string that may still complete).
#[derive(Default)]
pub(crate) struct TextStream {
    utf8: Utf8Stream,
    stop: Vec<String>,
    /// Everything decoded so far (up to a stop string once one is found).
    text: String,
    /// How much of `text` has been handed out.
    emitted: usize,
}

impl TextStream {
    pub fn new(stop: Vec<String>) -> Self {
        TextStream {
            stop,
            ..Default::default()
        }
    }

    /// Adds a token's bytes; returns the new final text and whether a stop string ended it.
    pub fn push(&mut self, bytes: &[u8]) -> (String, bool) {
        let piece = self.utf8.push(bytes);
        self.text.push_str(&piece);
        if self.cut_at_stop() {
            return (self.take(), true);
        }
        // Hold back a tail that could still become a stop string.
        let hold = self
            .stop
            .iter()
            .map(|s| longest_prefix_suffix(&self.text[self.emitted..], s))
            .max()
            .unwrap_or(0);
        let upto = self.text.len() - hold;
        let delta = self.text[self.emitted..upto].to_string();
        self.emitted = upto;
        (delta, false)
    }

    /// The end: whatever is left (an unfinished character becomes U+FFFD).
    pub fn finish(&mut self) -> String {
        let rest = self.utf8.finish();
        self.text.push_str(&rest);
        self.cut_at_stop();
        self.take()
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    fn take(&mut self) -> String {
        let delta = self.text[self.emitted..].to_string();
        self.emitted = self.text.len();
        delta
    }

    /// Truncates `text` at the first stop string, if one is there now.
    fn cut_at_stop(&mut self) -> bool {
        let from = self.emitted;
        let hit = self
            .stop
            .iter()
            .filter_map(|s| self.text[from..].find(s.as_str()).map(|i| from + i))
            .min();
        match hit {
            Some(at) => {
                self.text.truncate(at);
                true
            }
            None => false,
        }
    }
}

/// Length of the longest suffix of `text` that is a proper prefix of `stop` (at a char boundary).
fn longest_prefix_suffix(text: &str, stop: &str) -> usize {
    let max = text.len().min(stop.len().saturating_sub(1));
    (1..=max)
        .rev()
        .find(|&n| {
            text.is_char_boundary(text.len() - n)
                && stop.is_char_boundary(n)
                && text.ends_with(&stop[..n])
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_stream_never_splits_a_character() {
        let text = "aé中😀b";
        let bytes = text.as_bytes();
        let mut s = Utf8Stream::default();
        let mut out = String::new();
        for b in bytes {
            let d = s.push(&[*b]);
            assert!(d.chars().all(|c| c != char::REPLACEMENT_CHARACTER));
            out.push_str(&d);
        }
        out.push_str(&s.finish());
        assert_eq!(out, text);
        // An invalid byte becomes one replacement character, the rest is kept.
        let mut s = Utf8Stream::default();
        assert_eq!(s.push(&[b'x', 0xff, b'y']), "x\u{fffd}y");
        // An unfinished character at the end is flushed as a replacement.
        assert_eq!(s.push(&[0xe4, 0xb8]), "");
        assert_eq!(s.finish(), "\u{fffd}");
    }

    #[test]
    fn prefix_suffix_overlap() {
        assert_eq!(longest_prefix_suffix("hello <|", "<|im_end|>"), 2);
        assert_eq!(longest_prefix_suffix("hello", "<|im_end|>"), 0);
        assert_eq!(longest_prefix_suffix("ab", "ab"), 0);
        assert_eq!(longest_prefix_suffix("xa", "ab"), 1);
        assert_eq!(longest_prefix_suffix("é", "éa"), 2);
    }

    #[test]
    fn stop_strings_cut_and_hold_back() {
        let mut s = TextStream::new(vec!["END".into()]);
        assert_eq!(s.push(b"one E"), ("one ".into(), false));
        assert_eq!(s.push(b"N"), (String::new(), false));
        assert_eq!(s.push(b"Dtwo"), (String::new(), true));
        assert_eq!(s.text(), "one ");
        let mut s = TextStream::new(vec!["END".into()]);
        s.push(b"EN");
        assert_eq!(s.finish(), "EN");
    }
}
