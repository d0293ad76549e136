//! Retrieval quality metrics over judged queries, at the document level: a query's ranked
//! passages become its ranked documents (first occurrence counts), compared with graded
//! relevance judgements (qrels; relevance > 0 is relevant).

use std::collections::{HashMap, HashSet};

use serde::Serialize;

/// Metrics averaged over the queries that have judgements.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Metrics {
    pub queries: usize,
    #[serde(rename = "mrr@10")]
    pub mrr10: f64,
    #[serde(rename = "recall@1")]
    pub recall1: f64,
    #[serde(rename = "recall@10")]
    pub recall10: f64,
    #[serde(rename = "ndcg@10")]
    pub ndcg10: f64,
}

/// Documents in rank order, each once.
pub fn dedup_docs<'a>(ranked: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let mut seen = HashSet::new();
    ranked.into_iter().filter(|d| seen.insert(*d)).collect()
}

/// Reciprocal rank of the first relevant document within the first `k`.
pub fn mrr_at(ranked: &[&str], rel: &HashMap<String, u32>, k: usize) -> f64 {
    ranked
        .iter()
        .take(k)
        .position(|d| rel.get(*d).is_some_and(|&r| r > 0))
        .map_or(0.0, |i| 1.0 / (i + 1) as f64)
}

/// Share of the relevant documents found in the first `k`.
pub fn recall_at(ranked: &[&str], rel: &HashMap<String, u32>, k: usize) -> f64 {
    let relevant = rel.values().filter(|&&r| r > 0).count();
    if relevant == 0 {
        return 0.0;
    }
    let found = ranked
        .iter()
        .take(k)
        .filter(|d| rel.get(**d).is_some_and(|&r| r > 0))
        .count();
    found as f64 / relevant as f64
}

/// Normalised discounted cumulative gain with gains `2^rel - 1`.
pub fn ndcg_at(ranked: &[&str], rel: &HashMap<String, u32>, k: usize) -> f64 {
    let gain = |r: u32| (2f64.powi(r as i32)) - 1.0;
    let disc = |i: usize| 1.0 / ((i + 2) as f64).log2();
    let dcg: f64 = ranked
        .iter()
        .take(k)
        .enumerate()
        .map(|(i, d)| gain(*rel.get(*d).unwrap_or(&0)) * disc(i))
        .sum();
    let mut ideal: Vec<u32> = rel.values().copied().filter(|&r| r > 0).collect();
    ideal.sort_unstable_by(|a, b| b.cmp(a));
    let idcg: f64 = ideal
        .iter()
        .take(k)
        .enumerate()
        .map(|(i, &r)| gain(r) * disc(i))
        .sum();
    if idcg == 0.0 { 0.0 } else { dcg / idcg }
}

/// Averages the metrics over `runs` (qid → ranked doc ids) for queries present in `qrels`.
pub fn evaluate(
    runs: &[(String, Vec<String>)],
    qrels: &HashMap<String, HashMap<String, u32>>,
) -> Metrics {
    let mut m = Metrics::default();
    for (qid, docs) in runs {
        let Some(rel) = qrels.get(qid) else { continue };
        if !rel.values().any(|&r| r > 0) {
            continue;
        }
        let ranked = dedup_docs(docs.iter().map(String::as_str));
        m.queries += 1;
        m.mrr10 += mrr_at(&ranked, rel, 10);
        m.recall1 += recall_at(&ranked, rel, 1);
        m.recall10 += recall_at(&ranked, rel, 10);
        m.ndcg10 += ndcg_at(&ranked, rel, 10);
    }
    if m.queries > 0 {
        let n = m.queries as f64;
        m.mrr10 /= n;
        m.recall1 /= n;
        m.recall10 /= n;
        m.ndcg10 /= n;
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(pairs: &[(&str, u32)]) -> HashMap<String, u32> {
        pairs.iter().map(|(d, r)| (d.to_string(), *r)).collect()
    }

    #[test]
    fn metrics_on_known_cases() {
        let r = rel(&[("a", 1), ("b", 2)]);
        let ranked = ["x", "b", "y", "a"];
        assert_eq!(mrr_at(&ranked, &r, 10), 0.5);
        assert_eq!(recall_at(&ranked, &r, 1), 0.0);
        assert_eq!(recall_at(&ranked, &r, 10), 1.0);
        assert_eq!(recall_at(&ranked, &r, 2), 0.5);
        let dcg = 3.0 / 3f64.log2() + 1.0 / 5f64.log2();
        let idcg = 3.0 + 1.0 / 3f64.log2();
        assert!((ndcg_at(&ranked, &r, 10) - dcg / idcg).abs() < 1e-12);
        assert_eq!(ndcg_at(&["b", "a"], &r, 10), 1.0);
        assert_eq!(mrr_at(&["x"; 12], &r, 10), 0.0);
    }

    #[test]
    fn evaluate_averages_and_dedups() {
        let mut qrels = HashMap::new();
        qrels.insert("q1".to_string(), rel(&[("a", 1)]));
        qrels.insert("q2".to_string(), rel(&[("b", 1)]));
        let runs = vec![
            ("q1".to_string(), vec!["a".into(), "a".into()]),
            ("q2".to_string(), vec!["a".into(), "a".into(), "b".into()]),
            ("q3".to_string(), vec!["c".into()]),
        ];
        let m = evaluate(&runs, &qrels);
        assert_eq!(m.queries, 2);
        // q2: the duplicate "a" collapses, so b is at rank 2.
        assert!((m.mrr10 - 0.75).abs() < 1e-12);
        assert!((m.recall1 - 0.5).abs() < 1e-12);
        assert_eq!(m.recall10, 1.0);
    }
}
