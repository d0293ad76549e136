//! Turning ranked candidate lists into the final passages: reciprocal rank fusion, then
//! maximal marginal relevance so that the top passages are not copies of one paragraph.

use std::collections::HashMap;

use crate::util::dot;

/// The `k` of reciprocal rank fusion: score = sum over lists of 1 / (RRF_K + rank), rank from 1.
pub const RRF_K: f32 = 60.0;

/// Which retrievers run.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize, ts_rs::TS,
)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Embedding similarity only.
    Vector,
    /// BM25 only (no query embedding: works before the model is warm).
    Lexical,
    /// Both, fused by reciprocal rank.
    #[default]
    Hybrid,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Vector => "vector",
            Mode::Lexical => "lexical",
            Mode::Hybrid => "hybrid",
        }
    }
}

impl std::str::FromStr for Mode {
    type Err = String;

    fn from_str(s: &str) -> Result<Mode, String> {
        [Mode::Vector, Mode::Lexical, Mode::Hybrid]
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| format!("`{s}` is not one of vector, lexical, hybrid"))
    }
}

/// A candidate with the scores that produced it.
#[derive(Clone, Debug, PartialEq)]
pub struct Scored {
    pub id: u64,
    /// Cosine to the query, when the vector retriever returned it.
    pub vector: Option<f32>,
    /// BM25 score, when the lexical retriever returned it.
    pub lexical: Option<f32>,
    /// The score after fusion (RRF in hybrid mode; the single retriever's score otherwise).
    pub fused: f32,
    /// The MMR score at the moment it was picked (equal to the normalised fused score without
    /// reranking).
    pub rerank: f32,
}

/// How much each list counts in hybrid fusion.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Weights {
    pub vector: f32,
    pub lexical: f32,
}

impl Weights {
    /// Plain reciprocal rank fusion.
    pub const EQUAL: Weights = Weights {
        vector: 1.0,
        lexical: 1.0,
    };

    /// Weights from what was measured for one query, so that fusion does not bury the better
    /// list under the other:
    ///
    /// - `unknown_share`: the share of the query's tokens the embedder does not know (`[UNK]`).
    ///   An embedder that cannot read the query ranks by noise; its weight falls linearly to 0
    ///   at half the tokens unknown (all-MiniLM-L6-v2 on Chinese: 70 % unknown).
    /// - `lexical_coverage`: the idf-weighted share of the query's terms that the best lexical
    ///   passage contains. A paraphrase or a query in another language than the documents
    ///   matches few terms, and the lexical list then ranks by chance words; its weight is the
    ///   square of the share.
    ///
    /// Measured on the evaluation sets (README, "Retrieval quality"). When neither list can be
    /// trusted, both count equally. A weight never drops below [`Weights::FLOOR`]: the other
    /// list's passages come first, and this one's still fill the remaining places, in its order.
    pub fn measured(unknown_share: f32, lexical_coverage: f32) -> Weights {
        let vector = (1.0 - 2.0 * unknown_share).clamp(0.0, 1.0);
        let lexical = lexical_coverage.clamp(0.0, 1.0).powi(2);
        if vector + lexical < 1e-3 {
            Weights::EQUAL
        } else {
            Weights {
                vector: vector.max(Self::FLOOR),
                lexical: lexical.max(Self::FLOOR),
            }
        }
    }

    /// The least weight a list gets.
    pub const FLOOR: f32 = 1e-3;
}

/// Fuses ranked lists (each best first). In hybrid mode by reciprocal rank, each list's terms
/// multiplied by its weight; with one list the scores pass through. Ties break by id, so
/// results are deterministic.
pub fn fuse(
    vector: &[(u64, f32)],
    lexical: &[(u64, f32)],
    mode: Mode,
    weights: Weights,
) -> Vec<Scored> {
    let mut by_id: HashMap<u64, Scored> = HashMap::new();
    for (list, is_vector) in [(vector, true), (lexical, false)] {
        let weight = if is_vector {
            weights.vector
        } else {
            weights.lexical
        };
        for (rank, &(id, s)) in list.iter().enumerate() {
            let e = by_id.entry(id).or_insert(Scored {
                id,
                vector: None,
                lexical: None,
                fused: 0.0,
                rerank: 0.0,
            });
            if is_vector {
                e.vector = Some(s);
            } else {
                e.lexical = Some(s);
            }
            e.fused += match mode {
                Mode::Hybrid => weight / (RRF_K + rank as f32 + 1.0),
                _ => s,
            };
        }
    }
    let mut out: Vec<Scored> = by_id.into_values().collect();
    out.sort_by(|a, b| b.fused.total_cmp(&a.fused).then(a.id.cmp(&b.id)));
    out
}

/// Maximal marginal relevance: repeatedly picks the candidate maximising
/// `lambda * relevance - (1 - lambda) * max cosine to the already picked`, where relevance is
/// the fused score min-max normalised over the candidates (best 1, worst 0): fused scores of
/// reciprocal rank fusion are tightly packed, and without spreading them the redundancy term
/// would decide alone. `lambda = 1` keeps the fused order.
pub fn mmr(
    cands: Vec<Scored>,
    k: usize,
    lambda: f32,
    vector_of: &dyn Fn(u64) -> Option<Vec<f32>>,
) -> Vec<Scored> {
    if cands.is_empty() || k == 0 {
        return Vec::new();
    }
    let (lo, hi) = cands
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), c| {
            (lo.min(c.fused), hi.max(c.fused))
        });
    let rel = |s: f32| if hi > lo { (s - lo) / (hi - lo) } else { 1.0 };
    let vecs: Vec<Option<Vec<f32>>> = cands.iter().map(|c| vector_of(c.id)).collect();
    let mut picked: Vec<usize> = Vec::with_capacity(k);
    let mut max_sim = vec![f32::NEG_INFINITY; cands.len()];
    let mut taken = vec![false; cands.len()];
    let mut out = Vec::with_capacity(k.min(cands.len()));
    while out.len() < k.min(cands.len()) {
        let mut best: Option<(usize, f32)> = None;
        for i in 0..cands.len() {
            if taken[i] {
                continue;
            }
            let redundancy = if picked.is_empty() {
                0.0
            } else {
                max_sim[i].max(0.0)
            };
            let score = lambda * rel(cands[i].fused) - (1.0 - lambda) * redundancy;
            if best.is_none_or(|(_, b)| score > b) {
                best = Some((i, score));
            }
        }
        let (i, score) = best.expect("a candidate is left");
        taken[i] = true;
        picked.push(i);
        if let Some(vi) = &vecs[i] {
            for j in 0..cands.len() {
                if !taken[j]
                    && let Some(vj) = &vecs[j]
                {
                    max_sim[j] = max_sim[j].max(dot(vi, vj));
                }
            }
        }
        let mut c = cands[i].clone();
        c.rerank = score;
        out.push(c);
    }
    out
}

/// Without reranking: the first `k`, with `rerank` set to the normalised fused score.
pub fn top(cands: Vec<Scored>, k: usize) -> Vec<Scored> {
    mmr(cands, k, 1.0, &|_| None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rrf_follows_the_formula() {
        let v = [(1, 0.9), (2, 0.8), (3, 0.7)];
        let l = [(3, 12.0), (4, 5.0)];
        let f = fuse(&v, &l, Mode::Hybrid, Weights::EQUAL);
        let s = |id: u64| f.iter().find(|c| c.id == id).unwrap().fused;
        assert!((s(1) - 1.0 / 61.0).abs() < 1e-7);
        assert!((s(3) - (1.0 / 63.0 + 1.0 / 61.0)).abs() < 1e-7);
        assert!((s(4) - 1.0 / 62.0).abs() < 1e-7);
        // In both lists beats first in one.
        assert_eq!(f[0].id, 3);
        // 2 and 4 are both second in one list: a tie, broken by id.
        assert_eq!(f.iter().map(|c| c.id).collect::<Vec<_>>(), [3, 1, 2, 4]);
        let c3 = f.iter().find(|c| c.id == 3).unwrap();
        assert_eq!((c3.vector, c3.lexical), (Some(0.7), Some(12.0)));
    }

    #[test]
    fn weights_follow_what_was_measured() {
        // A query the embedder reads fully, matched completely by the best lexical passage.
        assert_eq!(Weights::measured(0.0, 1.0), Weights::EQUAL);
        // Half its tokens unknown: the vector list only fills places after the lexical hits.
        assert_eq!(Weights::measured(0.5, 1.0).vector, Weights::FLOOR);
        assert!((Weights::measured(0.25, 0.5).vector - 0.5).abs() < 1e-6);
        assert!((Weights::measured(0.25, 0.5).lexical - 0.25).abs() < 1e-6);
        // Neither can be trusted: plain fusion.
        assert_eq!(Weights::measured(0.9, 0.0), Weights::EQUAL);
        // A weighted list's terms scale with its weight; the order follows.
        let v = [(1, 0.9), (2, 0.8)];
        let l = [(2, 12.0), (3, 5.0)];
        let f = fuse(&v, &l, Mode::Hybrid, Weights::measured(0.6, 1.0));
        assert_eq!(f.iter().map(|c| c.id).collect::<Vec<_>>(), [2, 3, 1]);
        assert!(f[2].fused > 0.0 && f[2].fused < 1e-4);
    }

    #[test]
    fn single_mode_keeps_scores() {
        let f = fuse(&[(7, 0.5), (8, 0.25)], &[], Mode::Vector, Weights::EQUAL);
        assert_eq!(
            f.iter().map(|c| (c.id, c.fused)).collect::<Vec<_>>(),
            [(7, 0.5), (8, 0.25)]
        );
        let f = fuse(&[], &[(9, 3.0), (1, 3.0)], Mode::Lexical, Weights::EQUAL);
        assert_eq!(
            f.iter().map(|c| c.id).collect::<Vec<_>>(),
            [1, 9],
            "ties break by id"
        );
    }

    #[test]
    fn mmr_spreads_out_near_duplicates() {
        // Candidates 1, 2, 3 are the same passage; 4 is different and a little less relevant;
        // 5 is the weakest of the pool.
        let dup = vec![1.0, 0.0];
        let other = vec![0.6, 0.8];
        let vecs = move |id: u64| {
            Some(match id {
                4 => other.clone(),
                5 => vec![0.0, 1.0],
                _ => dup.clone(),
            })
        };
        let cands = fuse(
            &[(1, 0.95), (2, 0.94), (3, 0.93), (4, 0.85), (5, 0.40)],
            &[],
            Mode::Vector,
            Weights::EQUAL,
        );
        let plain = top(cands.clone(), 2);
        assert_eq!(plain.iter().map(|c| c.id).collect::<Vec<_>>(), [1, 2]);
        let diverse = mmr(cands.clone(), 2, 0.7, &vecs);
        assert_eq!(diverse.iter().map(|c| c.id).collect::<Vec<_>>(), [1, 4]);
        // lambda = 1 is pure relevance.
        assert_eq!(
            mmr(cands.clone(), 5, 1.0, &vecs)
                .iter()
                .map(|c| c.id)
                .collect::<Vec<_>>(),
            [1, 2, 3, 4, 5]
        );
        // The first pick is always the most relevant; scores are recorded.
        let all = mmr(cands, 5, 0.5, &vecs);
        assert_eq!(all[0].id, 1);
        assert!((all[0].rerank - 0.5).abs() < 1e-6);
        assert_eq!(all.len(), 5);
    }
}
