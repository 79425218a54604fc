//! The training objective: mean next-token cross-entropy (book ch. 6), and the
//! per-token log-probabilities it is made of (which GRPO reuses in ch. 7).

use ndarray::{ArrayView2, Axis};
use rayon::prelude::*;

/// `log softmax(logits_t)[targets_t]` for each row `t` that has a target
/// (`targets.len()` ≤ rows). The log-sum-exp is accumulated in f64.
///
/// # Panics
/// If a target is outside the vocabulary or there are more targets than rows.
pub fn token_logprobs(logits: ArrayView2<f32>, targets: &[u32]) -> Vec<f32> {
    assert!(
        targets.len() <= logits.nrows(),
        "more targets than rows of logits"
    );
    logits
        .axis_iter(Axis(0))
        .into_par_iter()
        .zip(targets)
        .map(|(row, &target)| {
            let max = row.fold(f32::NEG_INFINITY, |m, &v| m.max(v));
            let sum: f64 = row.iter().map(|&v| ((v - max) as f64).exp()).sum();
            ((row[target as usize] - max) as f64 - sum.ln()) as f32
        })
        .collect()
}

/// Mean next-token cross-entropy of a sequence: the logits at position `t`
/// predict `ids[t + 1]`, so `n` tokens give `n − 1` terms. Returns the loss and
/// the `n − 1` log-probabilities of the true next tokens.
///
/// # Panics
/// If there are fewer than 2 ids or fewer rows of logits than ids.
pub fn next_token_loss(logits: ArrayView2<f32>, ids: &[u32]) -> (f32, Vec<f32>) {
    assert!(ids.len() >= 2, "next-token loss needs at least 2 tokens");
    assert!(logits.nrows() >= ids.len(), "one row of logits per token");
    let logprobs = token_logprobs(logits, &ids[1..]);
    let sum: f64 = logprobs.iter().map(|&l| l as f64).sum();
    ((-sum / logprobs.len() as f64) as f32, logprobs)
}

/// The entropy `−Σ p log p` of the next-token distribution of each row of
/// `logits`, in nats (a GRPO metric, book ch. 7: it falls as the policy
/// grows sure of itself). Sums in f64.
pub fn token_entropies(logits: ArrayView2<f32>) -> Vec<f32> {
    logits
        .axis_iter(Axis(0))
        .into_par_iter()
        .map(|row| {
            let max = row.fold(f32::NEG_INFINITY, |m, &v| m.max(v));
            let (mut sum, mut weighted) = (0.0f64, 0.0f64);
            for &v in row {
                let z = (v - max) as f64;
                let e = z.exp();
                sum += e;
                weighted += e * z;
            }
            // H = log Σe^z − Σ e^z·z / Σ e^z.
            (sum.ln() - weighted / sum) as f32
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn entropy_of_uniform_and_peaked_rows() {
        let logits = array![[0.0f32, 0.0, 0.0, 0.0], [100.0, 0.0, 0.0, 0.0]];
        let h = token_entropies(logits.view());
        assert!((h[0] - 4f32.ln()).abs() < 1e-6, "{h:?}");
        assert!(h[1].abs() < 1e-6, "{h:?}");
    }
}
