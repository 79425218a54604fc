//! Scoring answers (book ch. 5): a heuristic score that needs no model, and
//! the average token log-probability of an answer given its prompt; best-of-N
//! keeps the highest-scoring sample.

use ch03::{extract_final_candidate, Fallback};
use shared::model::Model;
use shared::{Error, Result};

/// The book's `heuristic_score` weights.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HeuristicWeights {
    /// Length scale of the brevity reward `1.5 · exp(−chars / brevity_bonus)`.
    pub brevity_bonus: f64,
    /// Reward for a `\boxed{}` answer.
    pub boxed_bonus: f64,
    /// Reward for a last number when nothing is boxed.
    pub extract_bonus: f64,
    /// Reward for falling back to the full text.
    pub fulltext_bonus: f64,
}

impl Default for HeuristicWeights {
    /// The book's defaults: 500, 2, 1, 0.
    fn default() -> Self {
        Self {
            brevity_bonus: 500.0,
            boxed_bonus: 2.0,
            extract_bonus: 1.0,
            fulltext_bonus: 0.0,
        }
    }
}

/// The book's `heuristic_score`: a bonus for a boxed answer (else a smaller
/// one for a number, else for any text) plus a reward for brevity.
pub fn heuristic_score(answer: &str, weights: &HeuristicWeights) -> f64 {
    let bonus = if !extract_final_candidate(answer, Fallback::None).is_empty() {
        weights.boxed_bonus
    } else if !extract_final_candidate(answer, Fallback::NumberOnly).is_empty() {
        weights.extract_bonus
    } else if !extract_final_candidate(answer, Fallback::NumberThenFull).is_empty() {
        weights.fulltext_bonus
    } else {
        0.0
    };
    // Python's len() counts code points.
    let chars = answer.chars().count() as f64;
    bonus + 1.5 * (-chars / weights.brevity_bonus).exp()
}

/// The book's `avg_logprob_answer`: the mean log-probability the model gives
/// each answer token after the prompt and the answer tokens before it.
/// Only the answer positions go through the output layer.
pub fn avg_logprob_answer(model: &Model, prompt: &[u32], answer: &[u32]) -> Result<f64> {
    if prompt.is_empty() || answer.is_empty() {
        return Err(Error::InvalidArgument(
            "avg_logprob_answer needs a non-empty prompt and answer".into(),
        ));
    }
    let ids: Vec<u32> = prompt.iter().chain(answer).copied().collect();
    model.check_input(&ids, 0, ids.len())?;
    let mut cache = model.new_cache(ids.len());
    let hidden = model.forward_sequence(&ids[..ids.len() - 1], &mut cache);
    // Row t of `hidden` predicts token t + 1; the answer starts at prompt.len().
    let rows = hidden.slice(ndarray::s![prompt.len() - 1.., ..]).to_owned();
    let logits = model.logits(&rows);
    let total: f64 = logits
        .rows()
        .into_iter()
        .zip(answer)
        .map(|(row, &t)| token_logprob(row.as_slice().expect("contiguous"), t))
        .sum();
    Ok(total / answer.len() as f64)
}

/// `log softmax(logits)[token]` without allocating (it runs once per sampled
/// token): f32 exponentials of the max-shifted logits, summed in f64.
pub fn token_logprob(logits: &[f32], token: u32) -> f64 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f64 = logits.iter().map(|&l| (l - max).exp() as f64).sum();
    (logits[token as usize] - max) as f64 - sum.ln()
}

/// The index of the best score (the first of equals); `None` when empty or
/// every score is NaN.
pub fn best_of_n(scores: &[f64]) -> Option<usize> {
    scores
        .iter()
        .enumerate()
        .filter(|(_, s)| !s.is_nan())
        .fold(None, |best: Option<(usize, f64)>, (i, &s)| match best {
            Some((_, b)) if b >= s => best,
            _ => Some((i, s)),
        })
        .map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heuristic_score_follows_the_book() {
        let w = HeuristicWeights::default();
        let boxed = "so \\boxed{4}";
        let expected = 2.0 + 1.5 * (-(boxed.chars().count() as f64) / 500.0).exp();
        assert!((heuristic_score(boxed, &w) - expected).abs() < 1e-12);
        let number = "it is 4";
        let expected = 1.0 + 1.5 * (-7.0f64 / 500.0).exp();
        assert!((heuristic_score(number, &w) - expected).abs() < 1e-12);
        let words = "no idea";
        assert!((heuristic_score(words, &w) - 1.5 * (-7.0f64 / 500.0).exp()).abs() < 1e-12);
        // Longer answers score lower.
        assert!(
            heuristic_score("\\boxed{4}", &w)
                > heuristic_score(&format!("{} \\boxed{{4}}", "a".repeat(400)), &w)
        );
    }

    #[test]
    fn best_of_n_takes_the_first_highest() {
        assert_eq!(best_of_n(&[0.1, 0.7, 0.7, -2.0]), Some(1));
        assert_eq!(best_of_n(&[f64::NAN, -1.0]), Some(1));
        assert_eq!(best_of_n(&[]), None);
    }

    #[test]
    fn token_logprob_is_log_softmax() {
        let logits = [1.0f32, 2.0, 3.0];
        let z: f64 = logits.iter().map(|&l| (l as f64).exp()).sum();
        assert!((token_logprob(&logits, 2) - (3.0 - z.ln())).abs() < 1e-6);
    }
}
