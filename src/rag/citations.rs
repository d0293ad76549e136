//! Citations: `[n]`, `[n, m]` and `[n][m]` in an answer, mapped back to the passages the prompt
//! numbered.

use serde::Serialize;
use ts_rs::TS;

use crate::kb::Hit;

/// A passage given to the model (and, when the answer cites it, a citation).
#[derive(Clone, Debug, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct Citation {
    /// The passage's number in the prompt (`[n]` in the answer).
    pub n: usize,
    pub doc_id: String,
    pub chunk_id: u64,
    pub title: String,
    /// UTF-16 offsets of the passage in its document.
    pub start: usize,
    pub end: usize,
    pub text: String,
    /// First and last page of the passage (documents with pages).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub pages: Option<[u32; 2]>,
    /// The headings above the passage, outermost first.
    pub heading_path: Vec<String>,
}

/// Passage `n` (numbered from 1) as a citation.
pub fn citation(n: usize, h: &Hit) -> Citation {
    Citation {
        n,
        doc_id: h.doc_id.clone(),
        chunk_id: h.chunk_id,
        title: h.title.clone(),
        start: h.start,
        end: h.end,
        text: h.text.clone(),
        pages: h.pages,
        heading_path: h.heading_path.clone(),
    }
}

/// Every number cited in `text`, in order of appearance (repeats kept): `[1]`, `[1, 2]`,
/// `[1,2,3]`, `[1][2]`. Brackets holding anything else (`[a]`, `[1.5]`) are not citations.
pub fn cited_numbers(text: &str) -> Vec<usize> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        let Some(close) = after.find(']') else { break };
        let inner = &after[..close];
        let parts: Vec<&str> = inner.split(',').map(str::trim).collect();
        let numbers: Option<Vec<usize>> = parts
            .iter()
            .map(|p| {
                (!p.is_empty() && p.len() <= 6 && p.bytes().all(|b| b.is_ascii_digit()))
                    .then(|| p.parse().ok())
                    .flatten()
            })
            .collect();
        match numbers {
            Some(ns) => {
                out.extend(ns);
                rest = &after[close + 1..];
            }
            // Not a citation: look again from just after this `[` (it may contain another).
            None => rest = after,
        }
    }
    out
}

/// Maps cited numbers to passages: `(citations in order of first appearance, invalid numbers)`.
pub fn parse_citations(text: &str, passages: &[Hit]) -> (Vec<Citation>, Vec<usize>) {
    let mut cites: Vec<Citation> = Vec::new();
    let mut invalid = Vec::new();
    for n in cited_numbers(text) {
        if n >= 1 && n <= passages.len() {
            if !cites.iter().any(|c| c.n == n) {
                cites.push(citation(n, &passages[n - 1]));
            }
        } else if !invalid.contains(&n) {
            invalid.push(n);
        }
    }
    (cites, invalid)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::kb::HitScores;

    pub(crate) fn hit(doc: &str, text: &str, vector: Option<f32>) -> Hit {
        Hit {
            doc_id: doc.into(),
            chunk_id: 7,
            text: text.into(),
            start: 3,
            end: 3 + text.encode_utf16().count(),
            title: format!("title {doc}"),
            source: String::new(),
            metadata: serde_json::Value::Null,
            pages: None,
            heading_path: Vec::new(),
            score: 1.0,
            scores: HitScores {
                vector,
                lexical: None,
                fused: 0.0,
                rerank: 0.0,
            },
        }
    }

    #[test]
    fn reads_every_citation_form() {
        assert_eq!(
            cited_numbers("a [1] b [2, 3] c [4][5] [x] [1.5] [ 6 ]"),
            vec![1, 2, 3, 4, 5, 6]
        );
        assert_eq!(cited_numbers("[[2]] [] [,] [12345678] ["), vec![2]);
        assert_eq!(cited_numbers("no citations"), Vec::<usize>::new());
    }

    #[test]
    fn maps_citations_and_reports_invalid_ones() {
        let passages = vec![hit("a", "alpha", Some(0.9)), hit("b", "beta", Some(0.8))];
        let (c, bad) = parse_citations("B is beta [2]. A [1][2]. Wrong [3] [0] [3].", &passages);
        assert_eq!(c.iter().map(|c| c.n).collect::<Vec<_>>(), vec![2, 1]);
        assert_eq!(c[0].doc_id, "b");
        assert_eq!(c[0].text, "beta");
        assert_eq!((c[0].start, c[0].end), (3, 7));
        assert_eq!(bad, vec![3, 0]);
    }
}
