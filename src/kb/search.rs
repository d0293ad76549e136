//! Search: the options, the filter, the hits, and the retrieval pipeline (vector and BM25
//! candidates → reciprocal rank fusion → maximal marginal relevance).

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use ts_rs::TS;

use super::KnowledgeBase;
use super::records::{DocRecord, metadata_of};
use super::store::Store;
use crate::embed::{Embed, MAX_TEXT_BYTES, Role};
use crate::error::{Error, Result};
use crate::options::Options;
use crate::retrieval::{Mode, Scored, Weights, fuse, mmr, top};
use crate::util::JsonObject;

/// Most passages one search returns.
pub const MAX_K: usize = 100;

/// Which passages to keep.
#[derive(Clone, Debug, Default, PartialEq, TS)]
#[ts(rename = "SearchFilter", rename_all = "camelCase")]
pub struct Filter {
    /// Only these documents.
    #[ts(optional)]
    pub doc_ids: Option<Vec<String>>,
    /// Top-level metadata keys that must equal these values.
    #[ts(as = "Option<JsonObject>", optional)]
    pub metadata: Map<String, Value>,
}

impl<'de> Deserialize<'de> for Filter {
    /// Read as a map first, so that every key is seen: a struct read from a JavaScript object
    /// looks up its own fields only, and a misspelt key (`docids`) would widen the search to
    /// every document instead of being refused.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        struct Fields {
            #[serde(default)]
            doc_ids: Option<Vec<String>>,
            #[serde(default)]
            metadata: Map<String, Value>,
        }
        let map = Map::<String, Value>::deserialize(d)?;
        let f: Fields =
            serde_json::from_value(Value::Object(map)).map_err(serde::de::Error::custom)?;
        Ok(Filter {
            doc_ids: f.doc_ids,
            metadata: f.metadata,
        })
    }
}

impl Filter {
    pub fn is_empty(&self) -> bool {
        self.doc_ids.is_none() && self.metadata.is_empty()
    }
}

/// How to search.
#[derive(Clone, Debug, PartialEq, Deserialize, TS)]
#[serde(rename_all = "camelCase", default)]
pub struct SearchOptions {
    /// Passages to return, 1..100 (default 5).
    #[ts(as = "Option<_>", optional)]
    pub k: usize,
    /// Default 'hybrid'.
    #[ts(as = "Option<_>", optional)]
    pub mode: Mode,
    #[ts(as = "Option<_>", optional)]
    pub filter: Filter,
    /// Maximal marginal relevance trade-off, 0..1 (default 0.7; 1 = relevance only).
    #[ts(as = "Option<_>", optional)]
    pub mmr_lambda: f32,
    /// Set false to skip reranking (default true).
    #[ts(as = "Option<_>", optional)]
    pub rerank: bool,
    /// Candidates each retriever hands to fusion. Default `max(50, 4k)`.
    #[serde(skip)]
    #[ts(skip)]
    pub candidates: Option<usize>,
}

impl Default for SearchOptions {
    fn default() -> Self {
        SearchOptions {
            k: 5,
            mode: Mode::Hybrid,
            filter: Filter::default(),
            mmr_lambda: 0.7,
            rerank: true,
            candidates: None,
        }
    }
}

impl SearchOptions {
    /// Checks the ranges.
    pub fn validate(&self) -> Result<()> {
        if self.k == 0 || self.k > MAX_K {
            return Err(Error::Input(format!(
                "k must be between 1 and {MAX_K}, got {}",
                self.k
            )));
        }
        if !(0.0..=1.0).contains(&self.mmr_lambda) {
            return Err(Error::Input(format!(
                "mmrLambda must be between 0 and 1, got {}",
                self.mmr_lambda
            )));
        }
        if let Some(c) = self.candidates
            && (c < self.k || c > 1000)
        {
            return Err(Error::Input(format!(
                "candidates must be between k and 1000, got {c}"
            )));
        }
        Ok(())
    }
}

/// Checks a query: not empty, not huge.
pub(crate) fn check_query(query: &str, what: &str) -> Result<()> {
    if query.trim().is_empty() {
        return Err(Error::Input(format!("{what} is empty")));
    }
    if query.len() > MAX_TEXT_BYTES {
        return Err(Error::Input(format!(
            "{what} is {} bytes; the limit is {MAX_TEXT_BYTES}",
            query.len()
        )));
    }
    Ok(())
}

/// One retrieved passage.
#[derive(Clone, Debug, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct Hit {
    pub doc_id: String,
    pub chunk_id: u64,
    pub text: String,
    /// UTF-16 offsets: `doc.text.slice(start, end) === text`.
    pub start: usize,
    pub end: usize,
    pub title: String,
    pub source: String,
    #[ts(type = "Record<string, unknown>")]
    pub metadata: Value,
    /// First and last page of the passage (documents with pages: PDFs).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub pages: Option<[u32; 2]>,
    /// The headings above the passage, outermost first (empty for a document without headings).
    pub heading_path: Vec<String>,
    pub score: f32,
    pub scores: HitScores,
}

/// The scores that ranked a hit.
#[derive(Clone, Debug, PartialEq, Serialize, TS)]
pub struct HitScores {
    /// Cosine similarity to the query (null when the vector retriever did not find it).
    pub vector: Option<f32>,
    /// BM25 score (null when the lexical retriever did not find it).
    pub lexical: Option<f32>,
    pub fused: f32,
    pub rerank: f32,
}

impl<S: Store, E: Embed> KnowledgeBase<S, E> {
    /// The chunk ids a filter allows (`None`: all).
    fn allowed(&self, filter: &Filter) -> Option<HashSet<u64>> {
        if filter.is_empty() {
            return None;
        }
        let docs: Vec<&DocRecord> = match &filter.doc_ids {
            Some(ids) => ids.iter().filter_map(|id| self.docs.get(id)).collect(),
            None => self.docs.values().collect(),
        };
        Some(
            docs.into_iter()
                .filter(|d| {
                    let meta = self.metadata.get(&d.id);
                    filter
                        .metadata
                        .iter()
                        .all(|(k, v)| meta.and_then(|m| m.get(k)) == Some(v))
                })
                .flat_map(|d| d.chunk_ids.iter().copied())
                .collect(),
        )
    }

    /// The best passages for `query`.
    pub async fn search(&self, query: &str, opts: &SearchOptions) -> Result<Vec<Hit>> {
        check_query(query, "the query")?;
        opts.validate()?;
        let qv = match opts.mode {
            Mode::Lexical => None,
            _ => {
                let v = self.embedder.embed_texts(&[query], Role::Query).await?;
                Some(
                    v.into_iter()
                        .next()
                        .ok_or_else(|| Error::Output("no query vector".into()))?,
                )
            }
        };
        Ok(self.search_with_vector(query, qv.as_deref(), opts))
    }

    /// Search with a query vector already computed (`None` for lexical mode).
    pub fn search_with_vector(
        &self,
        query: &str,
        qv: Option<&[f32]>,
        opts: &SearchOptions,
    ) -> Vec<Hit> {
        let allowed = self.allowed(&opts.filter);
        if allowed.as_ref().is_some_and(|a| a.is_empty()) {
            return Vec::new();
        }
        let n = opts.candidates.unwrap_or((4 * opts.k).max(50));
        let vector_hits = match (opts.mode, qv) {
            (Mode::Lexical, _) | (_, None) => Vec::new(),
            (_, Some(q)) => match &allowed {
                Some(a) => self.index.exact_among(q, a.iter().copied(), n),
                None => self.index.search(q, n),
            },
        };
        let lexical_hits = match opts.mode {
            Mode::Vector => Vec::new(),
            _ => {
                let allow = allowed.as_ref().map(|a| move |id: u64| a.contains(&id));
                self.bm25
                    .search(query, n, allow.as_ref().map(|f| f as &dyn Fn(u64) -> bool))
            }
        };
        let weights = match (opts.mode, lexical_hits.first()) {
            (Mode::Hybrid, Some(&(best, _))) => Weights::measured(
                self.embedder.unknown_share(query),
                self.bm25.coverage(query, best),
            ),
            _ => Weights::EQUAL,
        };
        let fused = fuse(&vector_hits, &lexical_hits, opts.mode, weights);
        let picked: Vec<Scored> = if opts.rerank {
            mmr(fused, opts.k, opts.mmr_lambda, &|id| {
                self.index.vector(id).map(|v| v.0.to_vec())
            })
        } else {
            top(fused, opts.k)
        };
        picked
            .into_iter()
            .filter_map(|s| {
                let c = self.chunks.get(&s.id)?;
                let d = self.docs.get(&c.doc_id)?;
                let at = d.locate(c.start, c.start16, c.end16);
                Some(Hit {
                    doc_id: d.id.clone(),
                    chunk_id: s.id,
                    text: d.text[c.start..c.end].to_string(),
                    start: c.start16,
                    end: c.end16,
                    title: d.title.clone(),
                    source: d.source.clone(),
                    metadata: self
                        .metadata
                        .get(&d.id)
                        .cloned()
                        .unwrap_or_else(|| metadata_of(d)),
                    pages: at.pages,
                    heading_path: at.heading_path,
                    score: s.fused,
                    scores: HitScores {
                        vector: s.vector,
                        lexical: s.lexical,
                        fused: s.fused,
                        rerank: s.rerank,
                    },
                })
            })
            .collect()
    }
}

impl Options for SearchOptions {
    fn validate(&self) -> Result<()> {
        SearchOptions::validate(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filter_refuses_unknown_keys() {
        let ok = serde_json::json!({ "k": 3, "filter": { "docIds": ["a"], "metadata": { "lang": "en" } } });
        let o = SearchOptions::read_from(&ok, "search", &[]).unwrap();
        assert_eq!(o.filter.doc_ids, Some(vec!["a".to_string()]));
        assert_eq!(o.filter.metadata["lang"], "en");
        let misspelt = serde_json::json!({ "filter": { "docids": ["a"] } });
        let e = SearchOptions::read_from(&misspelt, "search", &[]).unwrap_err();
        assert_eq!(e.code(), "E_INPUT");
        assert!(e.to_string().contains("docids"), "{e}");
        let wrong = serde_json::json!({ "filter": { "docIds": "a" } });
        assert_eq!(
            SearchOptions::read_from(&wrong, "search", &[])
                .unwrap_err()
                .code(),
            "E_INPUT"
        );
    }
}
