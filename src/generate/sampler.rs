//! Choosing the next token from the last position's logits, on the CPU (GPU sort/top-k is not
//! dependable on WebGPU in the browser, and one vocabulary of logits is cheap to handle here).
//!
//! Order, as in llama.cpp: repetition penalty → greedy when temperature is 0 → top-k →
//! temperature softmax → top-p (nucleus) → a draw from a seeded generator.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Deserialize;
use ts_rs::TS;

use crate::error::{Error, Result};
use crate::options::Options;

/// How to sample. The defaults give deterministic greedy decoding.
#[derive(Clone, Debug, PartialEq, Deserialize, TS)]
#[serde(rename_all = "camelCase", default)]
pub struct SamplingParams {
    /// 0 (default) is greedy; higher is more random.
    #[ts(as = "Option<_>", optional)]
    pub temperature: f32,
    /// Keep the k most likely tokens when sampling, 0 = all (default 40).
    #[ts(as = "Option<_>", optional)]
    pub top_k: usize,
    /// Nucleus sampling, (0, 1] (default 0.95).
    #[ts(as = "Option<_>", optional)]
    pub top_p: f32,
    /// > 1 discourages repeating the last 64 tokens (default 1, off).
    #[ts(as = "Option<_>", optional)]
    pub repetition_penalty: f32,
    /// Tokens the repetition penalty looks back on.
    #[serde(skip)]
    #[ts(skip)]
    pub repeat_last_n: usize,
    /// Seed of the sampler (default 0): the same seed gives the same text.
    #[ts(as = "Option<_>", optional)]
    pub seed: u64,
}

impl Default for SamplingParams {
    fn default() -> Self {
        SamplingParams {
            temperature: 0.0,
            top_k: 40,
            top_p: 0.95,
            repetition_penalty: 1.0,
            repeat_last_n: 64,
            seed: 0,
        }
    }
}

impl SamplingParams {
    pub fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(Error::Input(m.to_string()));
        if !(self.temperature.is_finite() && self.temperature >= 0.0 && self.temperature <= 100.0) {
            return bad("temperature must be a number from 0 to 100");
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return bad("topP must be greater than 0 and at most 1");
        }
        if !(self.repetition_penalty.is_finite() && self.repetition_penalty > 0.0) {
            return bad("repetitionPenalty must be a positive number");
        }
        Ok(())
    }
}

/// A sampler with its random state.
pub struct Sampler {
    params: SamplingParams,
    rng: StdRng,
}

impl Sampler {
    pub fn new(params: SamplingParams) -> Result<Self> {
        params.validate()?;
        let rng = StdRng::seed_from_u64(params.seed);
        Ok(Sampler { params, rng })
    }

    /// Picks the next token. `history` is the sequence so far (prompt and generated).
    pub fn sample(&mut self, logits: &mut [f32], history: &[u32]) -> u32 {
        let p = &self.params;
        if p.repetition_penalty != 1.0 {
            let from = history.len().saturating_sub(p.repeat_last_n);
            let mut seen: Vec<u32> = history[from..].to_vec();
            seen.sort_unstable();
            seen.dedup();
            for id in seen {
                if let Some(l) = logits.get_mut(id as usize) {
                    // CTRL's penalty: shrink positive logits, push negative ones further down.
                    *l = if *l > 0.0 {
                        *l / p.repetition_penalty
                    } else {
                        *l * p.repetition_penalty
                    };
                }
            }
        }
        if p.temperature == 0.0 {
            return argmax(logits);
        }
        let mut candidates: Vec<(u32, f32)> = logits
            .iter()
            .enumerate()
            .map(|(i, &l)| (i as u32, l))
            .collect();
        let by_logit = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        if p.top_k > 0 && p.top_k < candidates.len() {
            candidates.select_nth_unstable_by(p.top_k - 1, by_logit);
            candidates.truncate(p.top_k);
        }
        candidates.sort_unstable_by(by_logit);
        let max = candidates[0].1;
        let mut probs: Vec<f64> = candidates
            .iter()
            .map(|&(_, l)| (((l - max) / p.temperature) as f64).exp())
            .collect();
        let sum: f64 = probs.iter().sum();
        probs.iter_mut().for_each(|x| *x /= sum);
        if p.top_p < 1.0 {
            let mut acc = 0.0;
            let mut keep = probs.len();
            for (i, x) in probs.iter().enumerate() {
                acc += x;
                if acc >= p.top_p as f64 {
                    keep = i + 1;
                    break;
                }
            }
            probs.truncate(keep);
        }
        let total: f64 = probs.iter().sum();
        let mut u = self.rng.random::<f64>() * total;
        for (i, x) in probs.iter().enumerate() {
            if u < *x {
                return candidates[i].0;
            }
            u -= x;
        }
        candidates[probs.len() - 1].0
    }
}

/// The most likely token (the lowest id among equals).
pub fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &l) in logits.iter().enumerate() {
        if l > logits[best] {
            best = i;
        }
    }
    best as u32
}

/// The `k` largest logits, best first: `(id, logit)`.
pub fn top_k(logits: &[f32], k: usize) -> Vec<(u32, f32)> {
    let mut all: Vec<(u32, f32)> = logits
        .iter()
        .enumerate()
        .map(|(i, &l)| (i as u32, l))
        .collect();
    all.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    all.truncate(k);
    all
}

impl Options for SamplingParams {
    fn validate(&self) -> Result<()> {
        SamplingParams::validate(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sampler(f: impl FnOnce(&mut SamplingParams)) -> Sampler {
        let mut p = SamplingParams::default();
        f(&mut p);
        Sampler::new(p).unwrap()
    }

    #[test]
    fn greedy_takes_the_maximum() {
        let mut s = sampler(|_| {});
        assert_eq!(s.sample(&mut [0.1, 3.0, 2.0], &[]), 1);
        assert_eq!(argmax(&[1.0, 1.0]), 0);
    }

    #[test]
    fn repetition_penalty_follows_its_formula() {
        let mut s = sampler(|p| p.repetition_penalty = 2.0);
        let mut l = [3.0, 2.0, -1.0];
        // token 0 was seen: 3 → 1.5, so token 1 wins; token 2 seen: -1 → -2.
        assert_eq!(s.sample(&mut l, &[0, 2]), 1);
        assert_eq!(l, [1.5, 2.0, -2.0]);
        // Only the last `repeat_last_n` tokens count.
        let mut s = sampler(|p| {
            p.repetition_penalty = 2.0;
            p.repeat_last_n = 1;
        });
        let mut l = [3.0, 2.0];
        assert_eq!(s.sample(&mut l, &[0, 1]), 0);
    }

    #[test]
    fn seeded_sampling_is_reproducible_and_follows_the_distribution() {
        let logits = [0.0f32, (3.0f32).ln(), f32::NEG_INFINITY];
        let draw = |seed| {
            let mut s = sampler(|p| {
                p.temperature = 1.0;
                p.top_k = 0;
                p.top_p = 1.0;
                p.seed = seed;
            });
            (0..4000)
                .map(|_| s.sample(&mut logits.clone(), &[]))
                .collect::<Vec<_>>()
        };
        let a = draw(7);
        assert_eq!(a, draw(7));
        assert_ne!(a, draw(8));
        let ones = a.iter().filter(|&&t| t == 1).count() as f64 / a.len() as f64;
        assert!((ones - 0.75).abs() < 0.03, "p(1) = {ones}");
        assert!(!a.contains(&2));
    }

    #[test]
    fn top_k_and_top_p_cut_the_tail() {
        let logits = [5.0f32, 4.0, 0.0, -1.0];
        let mut s = sampler(|p| {
            p.temperature = 1.0;
            p.top_k = 2;
            p.top_p = 1.0;
        });
        for _ in 0..200 {
            assert!(s.sample(&mut logits.clone(), &[]) < 2);
        }
        // p(0) = e/(e+1+…) ≈ 0.71 < 0.8, so top-p 0.8 keeps tokens 0 and 1 only.
        let mut s = sampler(|p| {
            p.temperature = 1.0;
            p.top_k = 0;
            p.top_p = 0.8;
        });
        for _ in 0..200 {
            assert!(s.sample(&mut logits.clone(), &[]) < 2);
        }
        // top-p 0.5 keeps the best alone.
        let mut s = sampler(|p| {
            p.temperature = 1.0;
            p.top_p = 0.5;
        });
        for _ in 0..50 {
            assert_eq!(s.sample(&mut logits.clone(), &[]), 0);
        }
    }

    #[test]
    fn bad_params_are_input_errors() {
        for f in [
            (|p: &mut SamplingParams| p.temperature = -1.0) as fn(&mut SamplingParams),
            |p| p.temperature = f32::NAN,
            |p| p.top_p = 0.0,
            |p| p.top_p = 1.5,
            |p| p.repetition_penalty = 0.0,
        ] {
            let mut p = SamplingParams::default();
            f(&mut p);
            assert!(matches!(Sampler::new(p), Err(Error::Input(_))));
        }
    }
}
