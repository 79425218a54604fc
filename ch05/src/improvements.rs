//! Two of the book's section-7.7 improvements as its scripts write them: Olmo 3's loss
//! (`olmo3_style.py`, which `--objective olmo3` runs through [`compute_grpo_loss`]) and
//! DeepSeek-V3.2's off-policy mask (`deepseek_v32_style.py`, `--objective deepseek-v32`).

use crate::grpo::{
    compute_grpo_loss, GroupShape, GrpoLossConfig, KlEstimator, PolicyObjective, ResponseLogprobs,
};

/// The book's Olmo-3-style loss (`7_7_improvements/olmo3_style.py`) and its derivative
/// in each token's log-probability.
#[derive(Debug, Clone, PartialEq)]
pub struct Olmo3Loss {
    /// The policy term, averaged over every response token of the group (DAPO's
    /// token-level mean), plus the KL term.
    pub loss: f64,
    /// Per response, `∂L/∂ log π` of each token.
    pub dlogprobs: Vec<Vec<f32>>,
    /// No response has a token and there is no KL term: nothing to update.
    pub no_update: bool,
}

/// The book's Olmo-3-style loss: per token, the truncated importance ratio
/// `ρ = min(π/π_old, 1 + ε_high)`, clipped to `[1 − ε_low, 1 + ε_high]` ("clip higher"),
/// `min(ρA, clip(ρ)A)` for `A ≥ 0` and `max` for `A < 0`, averaged over all the group's
/// response tokens; plus `kl_coeff · mean_i(Σₜ log π − Σₜ log π_ref)`. It is
/// [`compute_grpo_loss`] with [`PolicyObjective::Olmo3`] and the sequence k1 KL, which
/// is what `ch05 train --objective olmo3` runs.
pub fn book_olmo3_loss(
    responses: &[ResponseLogprobs],
    eps_low: f32,
    eps_high: f32,
    kl_coeff: f32,
) -> Olmo3Loss {
    let config = GrpoLossConfig {
        objective: PolicyObjective::Olmo3 { eps_low, eps_high },
        kl_beta: kl_coeff,
        kl_estimator: KlEstimator::BookSequenceK1,
    };
    let tokens: usize = responses.iter().map(|r| r.logprobs.len()).sum();
    let out = compute_grpo_loss(responses, GroupShape::of(responses), &config);
    Olmo3Loss {
        loss: out.loss,
        dlogprobs: out.dlogprobs,
        no_update: tokens == 0 && kl_coeff == 0.0,
    }
}

/// The book's DeepSeek-V3.2 off-policy mask (`deepseek_v32_style.py`): a response with
/// a negative advantage whose policy has drifted from the one that sampled it by more
/// than `delta` per token (`(log π_old(y) − log π(y)) / max(1, len)`) gets advantage 0.
/// `logprobs` and `old_logprobs` are whole-sequence sums; returns the masked advantages
/// and the mask.
pub fn deepseek_off_policy_mask(
    advantages: &[f32],
    logprobs: &[f32],
    old_logprobs: &[f32],
    lengths: &[usize],
    delta: f32,
) -> (Vec<f32>, Vec<f32>) {
    let mask: Vec<f32> = (0..advantages.len())
        .map(|i| {
            let drift = (old_logprobs[i] - logprobs[i]) / lengths[i].max(1) as f32;
            if advantages[i] < 0.0 && drift > delta {
                0.0
            } else {
                1.0
            }
        })
        .collect();
    let masked = advantages.iter().zip(&mask).map(|(a, m)| a * m).collect();
    (masked, mask)
}
