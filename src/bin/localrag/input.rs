//! The CLI's inputs: JSON lines of documents, queries and relevance judgements, each error
//! naming its file and line.

use std::collections::HashMap;
use std::path::Path;

use localrag::DocInput;
use serde_json::Value;

use crate::CliError;

/// Non-blank lines of a file, numbered from 1.
fn read_lines(path: &Path, what: &str) -> Result<Vec<(usize, String)>, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::Failed(format!("cannot read {what} {}: {e}", path.display())))?;
    Ok(text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, l)| (n + 1, l.to_string()))
        .collect())
}

/// An id given as a JSON string or number.
fn id_text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The corpus documents (`{"id","title","text"}` with optional `"source"`, `"metadata"`) with
/// their line numbers, checked by the knowledge base's own rules; ids unique in the file.
pub fn read_corpus(path: &Path) -> Result<Vec<(usize, DocInput)>, CliError> {
    let mut docs = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (n, line) in read_lines(path, "corpus")? {
        let bad = |why: String| CliError::Failed(format!("{} line {n}: {why}", path.display()));
        let mut v: Value =
            serde_json::from_str(&line).map_err(|e| bad(format!("not JSON ({e})")))?;
        // Numeric ids are accepted and read as text.
        if let Some(id) = v
            .get("id")
            .filter(|id| id.is_number())
            .and_then(|id| id_text(Some(id)))
        {
            v["id"] = Value::String(id);
        }
        let doc: DocInput = serde_json::from_value(v).map_err(|e| {
            bad(format!(
                "expected {{\"id\",\"title\",\"text\"}} with optional \"source\", \"metadata\" ({e})"
            ))
        })?;
        doc.validate(docs.len())
            .map_err(|e| bad(e.message().to_string()))?;
        if let Some(id) = &doc.id
            && let Some(first) = seen.insert(id.clone(), n)
        {
            return Err(bad(format!(
                "document id {id:?} already used on line {first}"
            )));
        }
        docs.push((n, doc));
    }
    if docs.is_empty() {
        return Err(CliError::Failed(format!(
            "{}: the corpus has no documents",
            path.display()
        )));
    }
    Ok(docs)
}

/// Relevance by query id and document id.
pub type Qrels = HashMap<String, HashMap<String, u32>>;

/// Joins a document id and a heading path into the unit a section judgement names.
pub const SECTION_MARK: &str = "#";

/// Judgements `{"qid","doc_id","relevance"}` (relevance 1 when absent). With `"section"` (a
/// heading path joined by " › ") the judgement is of that section of the document: its key is
/// `doc_id#section`.
pub fn read_qrels(path: &Path) -> Result<Qrels, CliError> {
    let mut qrels: Qrels = HashMap::new();
    for (n, line) in read_lines(path, "qrels")? {
        let bad = |why: &str| CliError::Failed(format!("{} line {n}: {why}", path.display()));
        let v: Value = serde_json::from_str(&line).map_err(|e| bad(&format!("not JSON ({e})")))?;
        let qid =
            id_text(v.get("qid")).ok_or_else(|| bad("\"qid\" must be a string or a number"))?;
        let doc = id_text(v.get("doc_id"))
            .ok_or_else(|| bad("\"doc_id\" must be a string or a number"))?;
        let rel = match v.get("relevance") {
            None | Some(Value::Null) => 1,
            Some(r) => r
                .as_u64()
                .and_then(|r| u32::try_from(r).ok())
                .ok_or_else(|| bad("\"relevance\" must be an integer >= 0"))?,
        };
        let key = match v.get("section") {
            None | Some(Value::Null) => doc,
            Some(Value::String(section)) if !section.trim().is_empty() => {
                format!("{doc}{SECTION_MARK}{section}")
            }
            Some(_) => {
                return Err(bad(
                    "\"section\" must be a heading path (a non-empty string)",
                ));
            }
        };
        qrels.entry(qid).or_default().insert(key, rel);
    }
    Ok(qrels)
}

/// One stdin query: its id as given (echoed back) and as text (matched against qrels).
pub struct Query {
    pub qid: Value,
    pub key: String,
    pub text: String,
}

/// Parses stdin line `n`: `{"qid","text"}`.
pub fn parse_query(n: usize, line: &str) -> Result<Query, CliError> {
    let bad = |why: String| CliError::Failed(format!("stdin line {n}: {why}"));
    let v: Value = serde_json::from_str(line).map_err(|e| bad(format!("not JSON ({e})")))?;
    let key = id_text(v.get("qid")).ok_or_else(|| {
        bad("expected {\"qid\",\"text\"}: \"qid\" must be a string or a number".into())
    })?;
    let text = v
        .get("text")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("expected {\"qid\",\"text\"}: \"text\" must be a string".into()))?
        .to_string();
    Ok(Query {
        qid: v["qid"].clone(),
        key,
        text,
    })
}

/// The non-blank lines of stdin, numbered from 1.
pub fn stdin_lines() -> impl Iterator<Item = Result<(usize, String), CliError>> {
    use std::io::BufRead;
    std::io::stdin()
        .lock()
        .lines()
        .enumerate()
        .map(|(n, l)| {
            l.map(|l| (n + 1, l))
                .map_err(|e| CliError::Failed(format!("reading stdin: {e}")))
        })
        .filter(|r| r.as_ref().map_or(true, |(_, l)| !l.trim().is_empty()))
}
