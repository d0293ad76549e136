//! Lexical retrieval: a BM25 index over chunks, on the terms of [`crate::text::analyze`].
//!
//! Removal is lazy: a removed chunk's postings, and terms no live chunk holds, stay until dead
//! postings pass a quarter of the postings, and are skipped meanwhile; document frequencies and
//! lengths are exact at all times.

use std::collections::HashMap;

use super::sort_top;
use crate::text::analyze;

/// BM25 term-frequency saturation.
pub const K1: f32 = 1.2;
/// BM25 length normalisation.
pub const B: f32 = 0.75;
#[derive(Default, Clone)]
struct Term {
    /// Live chunks holding the term.
    df: u32,
    /// (slot, term frequency); may hold dead slots until the next cleanup.
    postings: Vec<(u32, u32)>,
}

/// A BM25 index over chunks identified by `u64` ids.
#[derive(Default, Clone)]
pub struct Bm25 {
    term_id: HashMap<String, u32>,
    terms: Vec<Term>,
    slot_of: HashMap<u64, u32>,
    ids: Vec<u64>,
    /// Terms per slot; 0 for dead slots.
    lens: Vec<u32>,
    alive: Vec<bool>,
    /// Unique term ids per slot, kept to update document frequencies on removal.
    uniq: Vec<Vec<u32>>,
    live: usize,
    total_len: u64,
    dead_postings: usize,
    postings: usize,
}

impl Bm25 {
    pub fn new() -> Self {
        Self::default()
    }

    /// Distinct terms indexed.
    pub fn vocabulary(&self) -> usize {
        self.terms.iter().filter(|t| t.df > 0).count()
    }

    /// Adds (or replaces) a chunk.
    pub fn insert(&mut self, id: u64, text: &str) {
        self.remove(id);
        let terms = analyze(text);
        let len = terms.len() as u32;
        let mut tf: HashMap<u32, u32> = HashMap::new();
        for t in terms {
            let next = self.terms.len() as u32;
            let ti = *self.term_id.entry(t).or_insert(next);
            if ti == next {
                self.terms.push(Term::default());
            }
            *tf.entry(ti).or_default() += 1;
        }
        let slot = self.ids.len() as u32;
        self.ids.push(id);
        self.lens.push(len);
        self.alive.push(true);
        self.slot_of.insert(id, slot);
        let mut uniq = Vec::with_capacity(tf.len());
        for (ti, f) in tf {
            let term = &mut self.terms[ti as usize];
            term.df += 1;
            term.postings.push((slot, f));
            self.postings += 1;
            uniq.push(ti);
        }
        self.uniq.push(uniq);
        self.live += 1;
        self.total_len += len as u64;
    }

    /// Removes a chunk; returns whether it was there.
    pub fn remove(&mut self, id: u64) -> bool {
        let Some(slot) = self.slot_of.remove(&id) else {
            return false;
        };
        let s = slot as usize;
        self.alive[s] = false;
        self.live -= 1;
        self.total_len -= self.lens[s] as u64;
        self.lens[s] = 0;
        for ti in std::mem::take(&mut self.uniq[s]) {
            let t = &mut self.terms[ti as usize];
            t.df = t.df.saturating_sub(1);
            self.dead_postings += 1;
        }
        if self.dead_postings * 4 > self.postings.max(64) {
            self.cleanup();
        }
        true
    }

    /// Drops dead postings and slots.
    fn cleanup(&mut self) {
        let mut remap = vec![u32::MAX; self.ids.len()];
        let mut ids = Vec::with_capacity(self.live);
        let mut lens = Vec::with_capacity(self.live);
        let mut uniq = Vec::with_capacity(self.live);
        for s in 0..self.ids.len() {
            if self.alive[s] {
                remap[s] = ids.len() as u32;
                ids.push(self.ids[s]);
                lens.push(self.lens[s]);
                uniq.push(std::mem::take(&mut self.uniq[s]));
            }
        }
        let mut postings = 0;
        for t in &mut self.terms {
            t.postings.retain_mut(|p| {
                let n = remap[p.0 as usize];
                p.0 = n;
                n != u32::MAX
            });
            t.postings.shrink_to_fit();
            postings += t.postings.len();
        }
        // Terms no live chunk holds any more go too (a long session adds and removes words
        // forever), and the others are renumbered.
        let mut term_remap = vec![u32::MAX; self.terms.len()];
        let mut terms = Vec::with_capacity(self.terms.len());
        for (i, t) in std::mem::take(&mut self.terms).into_iter().enumerate() {
            if t.df > 0 {
                term_remap[i] = terms.len() as u32;
                terms.push(t);
            }
        }
        self.terms = terms;
        self.term_id.retain(|_, ti| {
            *ti = term_remap[*ti as usize];
            *ti != u32::MAX
        });
        self.term_id.shrink_to_fit();
        for u in &mut uniq {
            for ti in u.iter_mut() {
                *ti = term_remap[*ti as usize];
            }
        }
        self.slot_of = ids
            .iter()
            .enumerate()
            .map(|(i, &id)| (id, i as u32))
            .collect();
        self.alive = vec![true; ids.len()];
        self.ids = ids;
        self.lens = lens;
        self.uniq = uniq;
        self.postings = postings;
        self.dead_postings = 0;
    }

    /// The idf-weighted share of `query`'s distinct terms that chunk `id` holds, 0..=1 (0 for a
    /// query without terms or an unknown chunk). A term no chunk holds weighs as a term of
    /// document frequency 0. Hybrid search weighs the lexical list by it.
    pub fn coverage(&self, query: &str, id: u64) -> f32 {
        let Some(&slot) = self.slot_of.get(&id) else {
            return 0.0;
        };
        if !self.alive[slot as usize] {
            return 0.0;
        }
        let mut q = analyze(query);
        q.sort_unstable();
        q.dedup();
        let n = self.live as f32;
        let held = &self.uniq[slot as usize];
        let (mut hit, mut total) = (0f32, 0f32);
        for t in &q {
            let ti = self.term_id.get(t).copied();
            let df = ti.map_or(0, |ti| self.terms[ti as usize].df) as f32;
            let idf = (1.0 + (n - df + 0.5) / (df + 0.5)).ln();
            total += idf;
            if ti.is_some_and(|ti| held.contains(&ti)) {
                hit += idf;
            }
        }
        if total > 0.0 { hit / total } else { 0.0 }
    }

    /// The `k` best chunks for `query` by BM25, best first, among those `allow` accepts.
    pub fn search(
        &self,
        query: &str,
        k: usize,
        allow: Option<&dyn Fn(u64) -> bool>,
    ) -> Vec<(u64, f32)> {
        if self.live == 0 || k == 0 {
            return Vec::new();
        }
        let mut q = analyze(query);
        q.sort_unstable();
        q.dedup();
        let n = self.live as f32;
        let avgdl = (self.total_len as f32 / n).max(1.0);
        let mut scores: HashMap<u32, f32> = HashMap::new();
        for t in &q {
            let Some(&ti) = self.term_id.get(t) else {
                continue;
            };
            let term = &self.terms[ti as usize];
            if term.df == 0 {
                continue;
            }
            let df = term.df as f32;
            let idf = (1.0 + (n - df + 0.5) / (df + 0.5)).ln();
            for &(slot, tf) in &term.postings {
                let s = slot as usize;
                if !self.alive[s] {
                    continue;
                }
                let tf = tf as f32;
                let dl = self.lens[s] as f32;
                let w = idf * tf * (K1 + 1.0) / (tf + K1 * (1.0 - B + B * dl / avgdl));
                *scores.entry(slot).or_default() += w;
            }
        }
        let mut hits: Vec<(u64, f32)> = scores
            .into_iter()
            .map(|(s, w)| (self.ids[s as usize], w))
            .filter(|(id, _)| allow.is_none_or(|f| f(*id)))
            .collect();
        sort_top(&mut hits, k);
        hits
    }
}

/// Sorts by score descending (ties by id) and keeps the first `k`.

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latin_is_folded() {
        assert_eq!(
            analyze("Café CRÈME, naïve Straße!"),
            ["cafe", "creme", "naive", "strasse"]
        );
        assert_eq!(
            analyze("ＡＢＣ１２３ Œuvre Ærø Łódź"),
            ["abc123", "oeuvre", "aero", "lodz"]
        );
        // A decomposed accent (e + U+0301) folds the same as the composed one.
        assert_eq!(analyze("cafe\u{301}"), ["cafe"]);
        assert_eq!(analyze("x86_64 v2.0"), ["x86", "64", "v2", "0"]);
    }

    #[test]
    fn coverage_weighs_terms_by_idf() {
        let b = index(&["the cat sat", "the dog ran", "the cat ran"]);
        // All of "cat ran" is in chunk 2; half-ish of it in chunk 0 (cat) and chunk 1 (ran).
        assert!((b.coverage("cat ran", 2) - 1.0).abs() < 1e-6);
        let c0 = b.coverage("cat ran", 0);
        assert!(c0 > 0.3 && c0 < 0.7, "{c0}");
        // "the" is in every chunk: it weighs little next to a term no chunk holds.
        assert!(b.coverage("the zebra", 0) < 0.2);
        assert_eq!(b.coverage("", 0), 0.0);
        assert_eq!(b.coverage("cat", 99), 0.0);
    }

    #[test]
    fn cjk_becomes_bigrams() {
        assert_eq!(analyze("北京大学"), ["北京", "京大", "大学"]);
        assert_eq!(analyze("我 爱"), ["我", "爱"]);
        assert_eq!(analyze("GPU计算很快"), ["gpu", "计算", "算很", "很快"]);
        assert_eq!(analyze("東京タワー"), ["東京", "京タ", "タワ", "ワー"]);
    }

    fn index(docs: &[&str]) -> Bm25 {
        let mut b = Bm25::new();
        for (i, d) in docs.iter().enumerate() {
            b.insert(i as u64, d);
        }
        b
    }

    #[test]
    fn ranks_known_latin_cases() {
        let b = index(&[
            "The cat sat on the mat.",
            "Dogs and cats are friends; the cat likes the dog.",
            "A treatise on résumé writing and CAFÉ culture.",
            "Quantum chromodynamics describes the strong interaction.",
            "cat cat cat cat cat cat cat cat cat cat cat cat cat cat cat cat cat cat cat cat cat cat cat cat cat cat cat cat",
        ]);
        // Rare term wins: only one chunk mentions chromodynamics.
        assert_eq!(b.search("chromodynamics", 3, None)[0].0, 3);
        // Accent folding in both directions.
        assert_eq!(b.search("resume cafe", 3, None)[0].0, 2);
        assert_eq!(b.search("RÉSUMÉ", 3, None)[0].0, 2);
        // Saturation and length normalisation: the spammy chunk wins "cat" but not by 28x.
        let hits = b.search("cat", 5, None);
        assert_eq!(hits.len(), 3);
        assert_eq!(hits[0].0, 4);
        assert!(hits[0].1 < 3.0 * hits[1].1, "{hits:?}");
        // Both query words present beats one.
        assert_eq!(b.search("dog cat", 5, None)[0].0, 1);
        // Stop words match nothing.
        assert!(b.search("the and on", 5, None).is_empty());
        assert!(b.search("unrelated words", 5, None).is_empty());
    }

    #[test]
    fn ranks_known_chinese_cases() {
        let b = index(&[
            "北京大学是中国著名的高等学府。",
            "上海是中国的经济中心，有很多高楼。",
            "机器学习是人工智能的一个分支。",
            "深度学习和机器学习都需要大量数据。",
        ]);
        assert_eq!(b.search("北京", 4, None)[0].0, 0);
        assert_eq!(b.search("经济中心", 4, None)[0].0, 1);
        let ml = b.search("机器学习", 4, None);
        assert_eq!(ml.len(), 2);
        assert!(ml.iter().all(|h| h.0 == 2 || h.0 == 3));
        assert_eq!(b.search("深度学习", 4, None)[0].0, 3);
    }

    #[test]
    fn removal_and_filters() {
        let mut b = index(&["apple pie", "apple tart", "pear tart"]);
        assert_eq!(b.search("apple", 5, None).len(), 2);
        assert!(b.remove(0));
        assert!(!b.remove(0));
        assert_eq!(
            b.search("apple", 5, None),
            vec![(1, b.search("apple", 5, None)[0].1)]
        );
        let only2 = |id: u64| id == 2;
        assert_eq!(
            b.search("tart", 5, Some(&only2))
                .iter()
                .map(|h| h.0)
                .collect::<Vec<_>>(),
            [2]
        );
        // Many removals trigger cleanup; results stay right.
        for i in 10..200u64 {
            b.insert(i, "filler text apple");
        }
        for i in 10..200u64 {
            b.remove(i);
        }
        assert_eq!(b.live, 2);
        // Words of removed chunks only are forgotten at cleanup, and the rest still rank.
        for i in 300..600u64 {
            b.insert(i, &format!("unique{i} word"));
            b.remove(i);
        }
        assert_eq!(b.vocabulary(), 3, "apple, tart, pear");
        assert!(b.terms.len() < 100, "{} terms held", b.terms.len());
        assert_eq!(b.term_id.len(), b.terms.len());
        assert_eq!(b.search("tart", 5, None).len(), 2);
        assert!(b.coverage("pear tart", 2) > 0.99);
        assert_eq!(
            b.search("apple", 5, None)
                .iter()
                .map(|h| h.0)
                .collect::<Vec<_>>(),
            [1]
        );
        // Re-inserting an id replaces its text.
        b.insert(1, "banana");
        assert!(b.search("apple", 5, None).is_empty());
        assert_eq!(b.search("banana", 5, None)[0].0, 1);
    }

    #[test]
    fn scores_match_the_formula() {
        let b = index(&["x y", "c d e f"]);
        let n: f32 = 2.0;
        let idf = (1.0 + (n - 1.0 + 0.5) / (1.0 + 0.5)).ln();
        let avgdl = 3.0;
        let expect = idf * 1.0 * (K1 + 1.0) / (1.0 + K1 * (1.0 - B + B * 2.0 / avgdl));
        let got = b.search("x", 1, None)[0].1;
        assert!((got - expect).abs() < 1e-6, "{got} vs {expect}");
    }
}
