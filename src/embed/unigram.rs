//! A compact Unigram (SentencePiece) tokenizer read from a `tokenizer.json` of the XLM-R family
//! (multilingual-e5, XLM-R, mBART…).
//!
//! The `tokenizers` crate holds such a vocabulary in a trie of hash maps: measured here, loading
//! multilingual-e5-small's 250 002 pieces takes 295 MB, four times the model's weights — a
//! browser tab cannot afford it. This one keeps the pieces in one byte string with an
//! open-addressing hash table of ids (about 8 MB for the same vocabulary) and runs the same
//! steps:
//!
//! 1. normalisation: SentencePiece's precompiled char map (longest match at each position, as
//!    SentencePiece's normalizer does), then runs of spaces collapsed, in the file's order;
//! 2. Metaspace: spaces become `▁`, a `▁` is prepended, words split before each `▁`;
//! 3. Viterbi over each word: the segmentation of highest total score; a character no piece
//!    covers is `<unk>` (score: the lowest piece score − 10), and runs of `<unk>` are fused
//!    into one, as SentencePiece and `tokenizers` do;
//! 4. the post-processor's special tokens around the text (`<s> … </s>`).
//!
//! Only the steps above are accepted: any other normalizer or pre-tokenizer in the file is an
//! error naming it, rather than a silent difference.

use base64::Engine as _;
use serde::Deserialize;
use serde::de::{self, SeqAccess, Visitor};
use serde_json::Value;

use crate::error::{Error, Result};

const SPACE: char = '\u{2581}';
/// Score below the lowest piece given to an unknown character (SentencePiece's `kUnkPenalty`).
const UNK_PENALTY: f64 = 10.0;

fn err(msg: impl std::fmt::Display) -> Error {
    Error::Tokenizer(format!("tokenizer.json: {msg}"))
}

/// SentencePiece's precompiled char map: a darts-clone double array of UTF-8 keys whose values
/// are offsets of NUL-terminated replacements.
struct CharsMap {
    units: Vec<u32>,
    strings: Vec<u8>,
}

impl CharsMap {
    fn parse(blob: &[u8]) -> Result<Self> {
        let bad = || err("precompiled_charsmap is malformed");
        let size = u32::from_le_bytes(blob.get(..4).ok_or_else(bad)?.try_into().unwrap()) as usize;
        let trie = blob.get(4..4 + size).ok_or_else(bad)?;
        if size % 4 != 0 || size == 0 {
            return Err(bad());
        }
        let units = trie
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        Ok(CharsMap {
            units,
            strings: blob[4 + size..].to_vec(),
        })
    }

    /// The longest key that starts `s`: its length in bytes and its replacement.
    fn longest(&self, s: &[u8]) -> Option<(usize, &str)> {
        let offset = |u: u32| ((u >> 10) << ((u & (1 << 9)) >> 6)) as usize;
        let mut pos = offset(*self.units.first()?);
        let mut best = None;
        for (i, &c) in s.iter().enumerate() {
            if c == 0 {
                break;
            }
            pos ^= c as usize;
            let Some(&unit) = self.units.get(pos) else {
                break;
            };
            if unit & ((1 << 31) | 0xFF) != c as u32 {
                break;
            }
            pos ^= offset(unit);
            if (unit >> 8) & 1 == 1 {
                let value = (*self.units.get(pos)? & 0x7FFF_FFFF) as usize;
                best = Some((i + 1, value));
            }
        }
        let (len, at) = best?;
        let tail = self.strings.get(at..)?;
        let end = tail.iter().position(|&b| b == 0).unwrap_or(tail.len());
        std::str::from_utf8(&tail[..end]).ok().map(|r| (len, r))
    }
}

/// The pieces and their scores, read straight from the JSON array into one byte string.
#[derive(Default)]
struct Vocab {
    blob: Vec<u8>,
    offsets: Vec<u32>,
    scores: Vec<f32>,
}

impl<'de> Deserialize<'de> for Vocab {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Vocab;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an array of [piece, score] pairs")
            }
            fn visit_seq<A: SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<Vocab, A::Error> {
                let mut v = Vocab {
                    offsets: vec![0],
                    ..Default::default()
                };
                while let Some((piece, score)) =
                    seq.next_element::<(std::borrow::Cow<'de, str>, f64)>()?
                {
                    v.blob.extend_from_slice(piece.as_bytes());
                    let end = u32::try_from(v.blob.len())
                        .map_err(|_| de::Error::custom("vocabulary larger than 4 GiB"))?;
                    v.offsets.push(end);
                    v.scores.push(score as f32);
                }
                Ok(v)
            }
        }
        d.deserialize_seq(V)
    }
}

#[derive(Deserialize)]
struct RawModel {
    unk_id: Option<usize>,
    vocab: Vocab,
    #[serde(default)]
    byte_fallback: bool,
}

#[derive(Deserialize)]
struct RawFile {
    normalizer: Option<Value>,
    pre_tokenizer: Option<Value>,
    post_processor: Option<Value>,
    model: RawModel,
}

/// One normalisation step, in the file's order.
enum Step {
    CharsMap(CharsMap),
    CollapseSpaces,
}

/// A character of the normalised text and the byte range of the original it came from.
type Traced = (char, u32, u32);

/// The compact Unigram tokenizer.
pub struct Unigram {
    vocab: Vocab,
    /// Open addressing: id + 1 per slot, 0 when empty.
    table: Vec<u32>,
    unk: u32,
    unk_score: f64,
    max_piece_bytes: usize,
    steps: Vec<Step>,
    prepend: bool,
    split: bool,
    prefix: Vec<u32>,
    suffix: Vec<u32>,
}

fn hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

impl Unigram {
    /// Whether a `tokenizer.json` holds a Unigram model (cheap: the rest is skipped unread).
    pub fn is_unigram(json: &[u8]) -> bool {
        #[derive(Deserialize)]
        struct Probe {
            model: ProbeModel,
        }
        #[derive(Deserialize)]
        struct ProbeModel {
            #[serde(rename = "type")]
            kind: Option<String>,
        }
        serde_json::from_slice::<Probe>(json)
            .ok()
            .and_then(|p| p.model.kind)
            .is_some_and(|k| k == "Unigram")
    }

    /// Reads a Unigram `tokenizer.json`.
    pub fn from_json(json: &[u8]) -> Result<Self> {
        let raw: RawFile =
            serde_json::from_slice(json).map_err(|e| err(format!("not valid: {e}")))?;
        let vocab = raw.model.vocab;
        let n = vocab.scores.len();
        if n == 0 {
            return Err(err("the Unigram vocabulary is empty"));
        }
        if raw.model.byte_fallback {
            return Err(err("byte_fallback Unigram models are not supported"));
        }
        let unk = raw
            .model
            .unk_id
            .filter(|&u| u < n)
            .ok_or_else(|| err("the Unigram model needs an unk_id inside its vocabulary"))?
            as u32;
        let min = vocab.scores.iter().fold(f32::INFINITY, |m, &s| m.min(s)) as f64;
        let slots = (2 * n).next_power_of_two();
        let mut table = vec![0u32; slots];
        let mut max_piece_bytes = 0;
        for id in 0..n as u32 {
            let piece = piece_of(&vocab, id);
            max_piece_bytes = max_piece_bytes.max(piece.len());
            // A repeated piece keeps its first id, as a map from pieces would.
            if let Err(empty) = probe(&table, &vocab, piece) {
                table[empty] = id + 1;
            }
        }
        let steps = match raw.normalizer {
            None | Some(Value::Null) => Vec::new(),
            Some(v) => normalizer_steps(&v)?,
        };
        let (prepend, split) = metaspace(raw.pre_tokenizer.as_ref())?;
        let t = Unigram {
            vocab,
            table,
            unk,
            unk_score: min - UNK_PENALTY,
            max_piece_bytes,
            steps,
            prepend,
            split,
            prefix: Vec::new(),
            suffix: Vec::new(),
        };
        let (prefix, suffix) = specials(raw.post_processor.as_ref(), &t)?;
        Ok(Unigram {
            prefix,
            suffix,
            ..t
        })
    }

    /// Pieces in the vocabulary.
    pub fn vocab_size(&self) -> usize {
        self.vocab.scores.len()
    }

    /// The id of `<unk>`.
    pub fn unk_id(&self) -> u32 {
        self.unk
    }

    /// Special tokens added around a text.
    pub fn added_tokens(&self) -> usize {
        self.prefix.len() + self.suffix.len()
    }

    /// The id of a piece.
    pub fn id(&self, piece: &str) -> Option<u32> {
        self.id_bytes(piece.as_bytes())
    }

    fn normalize(&self, text: &str) -> Vec<Traced> {
        let mut chars: Vec<Traced> = text
            .char_indices()
            .map(|(i, c)| (c, i as u32, (i + c.len_utf8()) as u32))
            .collect();
        for step in &self.steps {
            chars = match step {
                Step::CharsMap(map) => {
                    let mut out = Vec::with_capacity(chars.len());
                    let mut buf = [0u8; 4];
                    let mut i = 0;
                    while i < chars.len() {
                        // The longest key starting here, over the following characters' bytes.
                        let mut key = Vec::new();
                        let mut ends = Vec::new();
                        for &(c, _, _) in chars[i..].iter().take(8) {
                            key.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                            ends.push(key.len());
                        }
                        match map.longest(&key).and_then(|(len, r)| {
                            ends.iter().position(|&e| e == len).map(|k| (k + 1, r))
                        }) {
                            Some((taken, replacement)) => {
                                let (start, end) = (chars[i].1, chars[i + taken - 1].2);
                                out.extend(replacement.chars().map(|c| (c, start, end)));
                                i += taken;
                            }
                            None => {
                                out.push(chars[i]);
                                i += 1;
                            }
                        }
                    }
                    out
                }
                Step::CollapseSpaces => {
                    let mut out: Vec<Traced> = Vec::with_capacity(chars.len());
                    for t in chars {
                        if t.0 == ' ' && out.last().is_some_and(|p| p.0 == ' ') {
                            // The run's one space covers the whole run.
                            out.last_mut().unwrap().2 = t.2;
                            continue;
                        }
                        out.push(t);
                    }
                    out
                }
            };
        }
        chars
    }

    /// Token ids of `text` and each token's byte range in `text`, without special tokens.
    pub fn encode_spans(&self, text: &str) -> (Vec<u32>, Vec<(usize, usize)>) {
        let mut chars: Vec<Traced> = self
            .normalize(text)
            .into_iter()
            .map(|(c, s, e)| (if c == ' ' { SPACE } else { c }, s, e))
            .collect();
        if chars.is_empty() {
            return (Vec::new(), Vec::new());
        }
        if self.prepend && chars[0].0 != SPACE {
            chars.insert(0, (SPACE, chars[0].1, chars[0].1));
        }
        let mut ids = Vec::new();
        let mut spans = Vec::new();
        let mut start = 0;
        for i in 1..=chars.len() {
            if i == chars.len() || (self.split && chars[i].0 == SPACE) {
                self.viterbi(&chars[start..i], &mut ids, &mut spans);
                start = i;
            }
        }
        (ids, spans)
    }

    /// Token ids of `text` with the special tokens, the content cut to `max_len` in all.
    pub fn encode(&self, text: &str, max_len: usize) -> Vec<u32> {
        let (mut ids, _) = self.encode_spans(text);
        ids.truncate(max_len.saturating_sub(self.added_tokens()));
        let mut out = self.prefix.clone();
        out.extend(ids);
        out.extend(&self.suffix);
        out
    }

    /// The best segmentation of one word into pieces, appended to `ids` and `spans`.
    fn viterbi(&self, word: &[Traced], ids: &mut Vec<u32>, spans: &mut Vec<(usize, usize)>) {
        let mut bytes = Vec::with_capacity(word.len() * 3);
        let mut at = Vec::with_capacity(word.len() + 1);
        let mut buf = [0u8; 4];
        for &(c, _, _) in word {
            at.push(bytes.len());
            bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
        at.push(bytes.len());
        let n = word.len();
        // best[i]: score of the best segmentation of the first i characters; from[i]: where
        // its last piece starts and which it is (None: <unk>).
        let mut best = vec![f64::NEG_INFINITY; n + 1];
        let mut from: Vec<(usize, Option<u32>)> = vec![(0, None); n + 1];
        best[0] = 0.0;
        for i in 0..n {
            if best[i] == f64::NEG_INFINITY {
                continue;
            }
            let mut single = false;
            for e in i + 1..=n {
                let piece = &bytes[at[i]..at[e]];
                if piece.len() > self.max_piece_bytes {
                    break;
                }
                if let Some(id) = self.id_bytes(piece) {
                    if id == self.unk {
                        continue;
                    }
                    single |= e == i + 1;
                    let score = best[i] + self.vocab.scores[id as usize] as f64;
                    if score > best[e] {
                        best[e] = score;
                        from[e] = (i, Some(id));
                    }
                }
            }
            if !single {
                let score = best[i] + self.unk_score;
                if score > best[i + 1] {
                    best[i + 1] = score;
                    from[i + 1] = (i, None);
                }
            }
        }
        let mut path = Vec::new();
        let mut e = n;
        while e > 0 {
            let (s, id) = from[e];
            path.push((s, e, id.unwrap_or(self.unk)));
            e = s;
        }
        for (s, e, id) in path.into_iter().rev() {
            let span = (word[s].1 as usize, word[e - 1].2 as usize);
            if id == self.unk && ids.last() == Some(&self.unk) {
                // A run of unknown characters is one <unk>.
                if let Some(last) = spans.last_mut() {
                    last.1 = span.1;
                }
                continue;
            }
            ids.push(id);
            spans.push(span);
        }
    }

    fn id_bytes(&self, piece: &[u8]) -> Option<u32> {
        probe(&self.table, &self.vocab, piece).ok()
    }
}

/// Looks `piece` up in the open-addressing table (a power of two of slots holding id + 1, 0
/// when empty): `Ok(id)` where it is, `Err(slot)` the empty slot where it would go.
fn probe(table: &[u32], vocab: &Vocab, piece: &[u8]) -> std::result::Result<u32, usize> {
    let mask = table.len() - 1;
    let mut at = hash(piece) as usize & mask;
    loop {
        match table[at] {
            0 => return Err(at),
            id if piece_of(vocab, id - 1) == piece => return Ok(id - 1),
            _ => at = (at + 1) & mask,
        }
    }
}

fn piece_of(v: &Vocab, id: u32) -> &[u8] {
    &v.blob[v.offsets[id as usize] as usize..v.offsets[id as usize + 1] as usize]
}

fn kind_of(v: &Value) -> &str {
    v.get("type").and_then(Value::as_str).unwrap_or("?")
}

fn normalizer_steps(v: &Value) -> Result<Vec<Step>> {
    match kind_of(v) {
        "Sequence" => {
            let list = v
                .get("normalizers")
                .and_then(Value::as_array)
                .ok_or_else(|| err("normalizer Sequence without a list"))?;
            let mut steps = Vec::new();
            for n in list {
                steps.extend(normalizer_steps(n)?);
            }
            Ok(steps)
        }
        "Precompiled" => {
            let b64 = v
                .get("precompiled_charsmap")
                .and_then(Value::as_str)
                .ok_or_else(|| err("Precompiled normalizer without a char map"))?;
            if b64.is_empty() {
                return Ok(Vec::new());
            }
            let blob = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|e| err(format!("precompiled_charsmap is not base64: {e}")))?;
            Ok(vec![Step::CharsMap(CharsMap::parse(&blob)?)])
        }
        "Replace"
            if v.pointer("/pattern/Regex").and_then(Value::as_str) == Some(" {2,}")
                && v.get("content").and_then(Value::as_str) == Some(" ") =>
        {
            Ok(vec![Step::CollapseSpaces])
        }
        other => Err(err(format!(
            "normalizer `{other}` ({v}) is not supported by the Unigram tokenizer \
             (supported: Precompiled, Replace of \" {{2,}}\" by \" \", Sequence of these)"
        ))),
    }
}

/// (prepend `▁`, split words at `▁`) from a Metaspace pre-tokenizer.
fn metaspace(v: Option<&Value>) -> Result<(bool, bool)> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Err(err("a Unigram model needs a Metaspace pre-tokenizer"));
    };
    if kind_of(v) != "Metaspace" {
        return Err(err(format!(
            "pre-tokenizer `{}` is not supported by the Unigram tokenizer (supported: Metaspace)",
            kind_of(v)
        )));
    }
    if v.get("replacement")
        .and_then(Value::as_str)
        .is_some_and(|r| r != "\u{2581}")
    {
        return Err(err("Metaspace replacement other than `▁` is not supported"));
    }
    let prepend = match v.get("prepend_scheme").and_then(Value::as_str) {
        Some("always") | Some("first") => true,
        Some("never") => false,
        Some(other) => {
            return Err(err(format!(
                "Metaspace prepend_scheme `{other}` is unknown"
            )));
        }
        None => v
            .get("add_prefix_space")
            .and_then(Value::as_bool)
            .unwrap_or(true),
    };
    let split = v.get("split").and_then(Value::as_bool).unwrap_or(true);
    Ok((prepend, split))
}

/// The special tokens a post-processor puts before and after a single text.
fn specials(v: Option<&Value>, t: &Unigram) -> Result<(Vec<u32>, Vec<u32>)> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok((Vec::new(), Vec::new()));
    };
    let lookup = |name: &str| -> Result<u32> {
        t.id(name)
            .ok_or_else(|| err(format!("special token `{name}` is not in the vocabulary")))
    };
    match kind_of(v) {
        "TemplateProcessing" => {
            let single = v
                .get("single")
                .and_then(Value::as_array)
                .ok_or_else(|| err("TemplateProcessing without a `single` template"))?;
            let (mut before, mut after, mut seen) = (Vec::new(), Vec::new(), false);
            for piece in single {
                if piece.get("Sequence").is_some() {
                    seen = true;
                    continue;
                }
                let id = piece
                    .pointer("/SpecialToken/id")
                    .and_then(Value::as_str)
                    .ok_or_else(|| err(format!("unexpected template piece {piece}")))?;
                let ids: Vec<u32> = match v.pointer(&format!(
                    "/special_tokens/{}",
                    id.replace('~', "~0").replace('/', "~1")
                )) {
                    Some(s) => s
                        .get("ids")
                        .and_then(Value::as_array)
                        .map(|a| {
                            a.iter()
                                .filter_map(|x| x.as_u64())
                                .map(|x| x as u32)
                                .collect()
                        })
                        .unwrap_or_default(),
                    None => vec![lookup(id)?],
                };
                if seen {
                    after.extend(ids)
                } else {
                    before.extend(ids)
                }
            }
            Ok((before, after))
        }
        "RobertaProcessing" | "BertProcessing" => {
            let id = |key: &str| -> Result<u32> {
                v.get(key)
                    .and_then(|p| p.get(1))
                    .and_then(Value::as_u64)
                    .map(|x| x as u32)
                    .ok_or_else(|| err(format!("post-processor without `{key}`")))
            };
            Ok((vec![id("cls")?], vec![id("sep")?]))
        }
        other => Err(err(format!(
            "post-processor `{other}` is not supported by the Unigram tokenizer"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny file: pieces with scores, a char map folding `Ａ` (U+FF21) to `A` and `ﬁ` to `fi`.
    fn tiny() -> Unigram {
        // Darts-clone units for the keys "\u{FF21}" (EF BC A1) and "\u{FB01}" (EF AC 81), built
        // by the same procedure as scripts/convert_e5.py (checked by the lookups below).
        let charsmap = build_charsmap(&[("\u{FF21}", "A"), ("\u{FB01}", "fi")]);
        let b64 = base64::engine::general_purpose::STANDARD.encode(charsmap);
        let vocab = serde_json::json!([
            ["<s>", 0.0],
            ["<pad>", 0.0],
            ["</s>", 0.0],
            ["<unk>", 0.0],
            ["\u{2581}", -2.0],
            ["\u{2581}A", -3.0],
            ["fi", -2.5],
            ["\u{2581}fi", -4.0],
            ["sh", -3.0],
            ["f", -5.0],
            ["i", -5.0],
            ["s", -5.0],
            ["h", -5.0],
            ["\u{2581}fish", -6.0],
            ["A", -5.0]
        ]);
        let file = serde_json::json!({
            "normalizer": {"type": "Sequence", "normalizers": [
                {"type": "Precompiled", "precompiled_charsmap": b64},
                {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "}]},
            "pre_tokenizer": {"type": "Metaspace", "replacement": "\u{2581}",
                              "prepend_scheme": "always", "split": true},
            "post_processor": {"type": "TemplateProcessing",
                "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                           {"Sequence": {"id": "A", "type_id": 0}},
                           {"SpecialToken": {"id": "</s>", "type_id": 0}}],
                "special_tokens": {"<s>": {"id": "<s>", "ids": [0], "tokens": ["<s>"]},
                                   "</s>": {"id": "</s>", "ids": [2], "tokens": ["</s>"]}}},
            "model": {"type": "Unigram", "unk_id": 3, "vocab": vocab, "byte_fallback": false}
        });
        Unigram::from_json(file.to_string().as_bytes()).unwrap()
    }

    /// A darts-clone double array for a few keys (first-fit, unique bases).
    fn build_charsmap(pairs: &[(&str, &str)]) -> Vec<u8> {
        use std::collections::BTreeMap;
        #[derive(Default)]
        struct Node(BTreeMap<u8, Node>, Option<u32>);
        let mut root = Node::default();
        let mut strings = Vec::new();
        for (k, v) in pairs {
            let mut n = &mut root;
            for &b in k.as_bytes() {
                n = n.0.entry(b).or_default();
            }
            n.1 = Some(strings.len() as u32);
            strings.extend_from_slice(v.as_bytes());
            strings.push(0);
        }
        let mut units = vec![0u32; 4096];
        let mut used = vec![false; 4096];
        used[0] = true;
        let mut bases = std::collections::HashSet::new();
        let mut queue = vec![(&root, 0usize)];
        while let Some((node, pos)) = queue.pop() {
            let mut labels: Vec<u8> = node.0.keys().copied().collect();
            if node.1.is_some() {
                labels.insert(0, 0);
            }
            let base = (1..4000)
                .find(|b| !bases.contains(b) && labels.iter().all(|&c| !used[b ^ c as usize]))
                .unwrap();
            bases.insert(base);
            units[pos] |= ((pos ^ base) as u32) << 10;
            for &c in &labels {
                let child = base ^ c as usize;
                used[child] = true;
                if c == 0 {
                    units[child] = (1 << 31) | node.1.unwrap();
                } else {
                    let sub = &node.0[&c];
                    units[child] = c as u32 | if sub.1.is_some() { 1 << 8 } else { 0 };
                    queue.push((sub, child));
                }
            }
        }
        let mut out = ((units.len() * 4) as u32).to_le_bytes().to_vec();
        for u in units {
            out.extend(u.to_le_bytes());
        }
        out.extend(strings);
        out
    }

    #[test]
    fn segments_by_score_with_normalisation_and_specials() {
        let t = tiny();
        // "fish": ▁fish (-6) beats ▁fi + sh (-7) and ▁ + fi + sh.
        assert_eq!(t.encode("fish", 512), vec![0, 13, 2]);
        // The ligature is folded to "fi", fullwidth Ａ to A; double spaces collapse.
        let (ids, spans) = t.encode_spans("\u{FB01}sh  \u{FF21}");
        assert_eq!(ids, vec![13, 5]);
        assert_eq!(spans, vec![(0, 5), (5, 10)]);
        // Unknown characters: one <unk> per run, spanning it.
        let (ids, spans) = t.encode_spans("fi\u{4E2D}\u{6587}");
        assert_eq!(ids, vec![7, 3]);
        assert_eq!(spans, vec![(0, 2), (2, 8)]);
        assert_eq!(t.encode("", 512), vec![0, 2]);
        // Truncation keeps room for the special tokens.
        assert_eq!(t.encode("fish fish fish", 3), vec![0, 13, 2]);
    }

    #[test]
    fn refuses_what_it_does_not_implement() {
        let file = serde_json::json!({
            "normalizer": {"type": "NFKC"},
            "pre_tokenizer": {"type": "Metaspace"},
            "model": {"type": "Unigram", "unk_id": 0, "vocab": [["<unk>", 0.0]]}
        });
        let e = Unigram::from_json(file.to_string().as_bytes())
            .err()
            .unwrap();
        assert_eq!(e.code(), "E_TOKENIZER");
        assert!(e.message().contains("NFKC"), "{e}");
        assert!(Unigram::is_unigram(file.to_string().as_bytes()));
        assert!(!Unigram::is_unigram(
            br#"{"model":{"type":"WordPiece","vocab":{}}}"#
        ));
    }
}
