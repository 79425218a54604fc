//! Group Relative Policy Optimization's loss, with ch. 7's options (book ch. 6, 7):
//! [`compute_grpo_loss`] for a group of responses to one prompt.
//!
//! For a group of `G` responses with advantages `Aᵢ` ([`crate::advantage`]), the loss
//! of the group is
//!
//! ```text
//! basic (ch. 6):    L = −1/G · Σᵢ Aᵢ · Σₜ log π(yᵢₜ)
//! clipped (ch. 7):  L = −1/G · Σᵢ Σₜ min(ρᵢₜ·Aᵢ, clip(ρᵢₜ, 1 − ε, 1 + ε)·Aᵢ),  ρ = π / π_old
//! KL (ch. 7):         + β/G · Σᵢ Σₜ (e^(log π_ref − log π) − (log π_ref − log π) − 1)
//! ```
//!
//! and the book's own chapter-7 scripts, by name (`7_4_plus_clip_ratio.py`,
//! `7_5_plus_kl.py`), whose ratio and KL are of whole sequences, `ρᵢ = π(yᵢ) / π_old(yᵢ)`:
//!
//! ```text
//! clip ratio (7.4): L = −1/G · Σᵢ oᵢ,  oᵢ = min(ρᵢAᵢ, clip(ρᵢ)Aᵢ) if Aᵢ ≥ 0, else max(…)
//! plus KL (7.5):      + β/G · Σᵢ (log π(yᵢ) − log π_ref(yᵢ))
//! ```
//!
//! Every term depends on the model only through the log-probabilities of the
//! response tokens, so [`grpo_sequence_loss`] returns, with the loss, its
//! derivative with respect to each of them: the backward pass then needs only
//! [`shared::train::backward::cross_entropy_backward`] with those as weights.

/// Which policy objective to use.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PolicyObjective {
    /// Book ch. 6: `−A · Σ log π`.
    Basic,
    /// Book ch. 7: PPO's clipped importance ratio `ρ = π / π_old` with `ρ` kept
    /// in `[1 − eps, 1 + eps]` (several inner epochs reuse one set of rollouts).
    Clipped {
        /// The clip range ε.
        eps: f32,
    },
    /// The book's `7_4_plus_clip_ratio.py`: the ratio of whole-sequence probabilities,
    /// clipped to `[1 − eps, 1 + eps]` (the script's default ε is 10), with the min of
    /// the two terms for `A ≥ 0` and the max for `A < 0`.
    BookClipRatio {
        /// The clip range ε.
        eps: f32,
    },
    /// The book's `7_7_improvements/olmo3_style.py`: per token, the ratio truncated at
    /// `1 + eps_high`, clipped to `[1 − eps_low, 1 + eps_high]`, min for `A ≥ 0` and max
    /// for `A < 0`, averaged over every response token of the group (DAPO's token-level
    /// mean) instead of per response.
    Olmo3 {
        /// ε_low (the book's 0.2).
        eps_low: f32,
        /// ε_high (the book's 10).
        eps_high: f32,
    },
}

/// How the KL penalty to the reference model is estimated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KlEstimator {
    /// Ours: `e^(ref − log π) − (ref − log π) − 1` per token (k3, never negative).
    K3PerToken,
    /// The book's `7_5_plus_kl.py`: `log π(y) − log π_ref(y)` of the whole sequence (k1,
    /// can be negative).
    BookSequenceK1,
    /// The book's `deepseek_v32_style.py`: k1 of the sequence weighted by the importance
    /// ratio `π(y) / π_old(y)` (not detached: its gradient flows too).
    BookImportanceWeightedK1,
}

/// The loss's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GrpoLossConfig {
    /// Basic or clipped.
    pub objective: PolicyObjective,
    /// β, the weight of the KL penalty to the reference model (0: none).
    pub kl_beta: f32,
    /// How the KL is estimated.
    pub kl_estimator: KlEstimator,
}

/// One response of a group, as the loss sees it: log-probabilities of its
/// tokens under the policy now, under the policy that sampled it, and under the
/// frozen reference.
#[derive(Debug, Clone, Copy)]
pub struct ResponseLogprobs<'a> {
    /// `log π(yₜ)` now.
    pub logprobs: &'a [f32],
    /// `log π_old(yₜ)` when the rollouts were scored (first inner epoch).
    pub old_logprobs: &'a [f32],
    /// `log π_ref(yₜ)`, when a KL penalty is used.
    pub ref_logprobs: Option<&'a [f32]>,
    /// The response's advantage.
    pub advantage: f32,
}

/// One response's share of the group loss.
#[derive(Debug, Clone, PartialEq)]
pub struct SequenceLoss {
    /// Its term of `L` (already divided by `G`).
    pub loss: f64,
    /// `∂L/∂ log π(yₜ)` for each token.
    pub dlogprobs: Vec<f32>,
    /// Tokens whose ratio was clipped (the clipped branch of the min was taken).
    pub clipped: usize,
    /// `Σₜ` of the KL estimate `e^(ref − log π) − (ref − log π) − 1` (0 without a reference).
    pub kl_sum: f64,
}

/// The size of the group a response belongs to: what its loss terms are divided by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupShape {
    /// G: responses in the group.
    pub responses: usize,
    /// Response tokens of the whole group (the Olmo-3 loss averages over them).
    pub tokens: usize,
}

/// The loss terms of one response in a group of shape `group` (see the module
/// docs for the formulas) and their derivatives.
///
/// # Panics
/// If the log-probability slices differ in length.
pub fn grpo_sequence_loss(
    response: &ResponseLogprobs,
    group: GroupShape,
    config: &GrpoLossConfig,
) -> SequenceLoss {
    let n = response.logprobs.len();
    assert_eq!(response.old_logprobs.len(), n, "one old log-prob per token");
    let g = group.responses as f64;
    let a = f64::from(response.advantage);
    let (mut loss, mut clipped, mut kl_sum) = (0.0, 0, 0.0);
    // The derivative of the sequence-level terms (the book's clip ratio and weighted
    // KL) in log π(y), which every token's log-probability shares since they sum to it.
    let mut shared_d = 0.0;
    if let PolicyObjective::BookClipRatio { eps } = config.objective {
        let (term, d, was_clipped) = book_clip_ratio_term(response, a, eps);
        loss -= term / g;
        shared_d -= d / g;
        clipped = if was_clipped { n } else { 0 };
    }
    if let (KlEstimator::BookImportanceWeightedK1, Some(reference)) =
        (config.kl_estimator, response.ref_logprobs)
    {
        // β/G · w·(log π(y) − log π_ref(y)), w = e^(log π(y) − log π_old(y)): its
        // derivative in log π(y) is β/G · w·(1 + k1).
        let sum = |v: &[f32]| v.iter().map(|&x| f64::from(x)).sum::<f64>();
        let (new, old, refr) = (
            sum(response.logprobs),
            sum(response.old_logprobs),
            sum(reference),
        );
        let (w, k1) = ((new - old).exp(), new - refr);
        let beta = f64::from(config.kl_beta);
        kl_sum = k1;
        loss += beta * w * k1 / g;
        shared_d += beta * w * (1.0 + k1) / g;
    }
    let mut dlogprobs = Vec::with_capacity(n);
    for t in 0..n {
        let logp = f64::from(response.logprobs[t]);
        let d = match config.objective {
            PolicyObjective::BookClipRatio { .. } => 0.0,
            PolicyObjective::Basic => {
                loss -= a * logp / g;
                -a / g
            }
            PolicyObjective::Clipped { eps } => {
                let ratio = (logp - f64::from(response.old_logprobs[t])).exp();
                let bounded = ratio.clamp(1.0 - f64::from(eps), 1.0 + f64::from(eps));
                // min(ρA, clip(ρ)A): the clipped branch is flat in log π.
                if bounded * a < ratio * a {
                    clipped += 1;
                    loss -= bounded * a / g;
                    0.0
                } else {
                    loss -= ratio * a / g;
                    -ratio * a / g
                }
            }
            PolicyObjective::Olmo3 { eps_low, eps_high } => {
                let old = f64::from(response.old_logprobs[t]);
                let (term, slope, was_clipped) = olmo3_token_term(logp, old, a, eps_low, eps_high);
                clipped += usize::from(was_clipped);
                let tokens = group.tokens.max(1) as f64;
                loss -= term / tokens;
                -slope / tokens
            }
        };
        let d_kl = match response.ref_logprobs {
            // Sequence-level, computed above.
            Some(_) if config.kl_estimator == KlEstimator::BookImportanceWeightedK1 => 0.0,
            Some(reference) if config.kl_estimator == KlEstimator::BookSequenceK1 => {
                let beta = f64::from(config.kl_beta);
                let diff = logp - f64::from(reference[t]);
                kl_sum += diff;
                loss += beta * diff / g;
                beta / g
            }
            Some(reference) if config.kl_beta != 0.0 => {
                let beta = f64::from(config.kl_beta);
                let diff = f64::from(reference[t]) - logp;
                let kl = diff.exp() - diff - 1.0;
                kl_sum += kl;
                loss += beta * kl / g;
                beta * (1.0 - diff.exp()) / g
            }
            Some(reference) => {
                let diff = f64::from(reference[t]) - logp;
                kl_sum += diff.exp() - diff - 1.0;
                0.0
            }
            None => 0.0,
        };
        dlogprobs.push((d + d_kl + shared_d) as f32);
    }
    SequenceLoss {
        loss,
        dlogprobs,
        clipped,
        kl_sum,
    }
}

/// The Olmo-3 objective of one token with log-probabilities `new` (now) and `old`:
/// its value, its derivative in `new`, and whether it is flat there (clipped, or the
/// ratio truncated at `1 + ε_high`, a constant).
fn olmo3_token_term(new: f64, old: f64, a: f64, eps_low: f32, eps_high: f32) -> (f64, f64, bool) {
    let (low, high) = (1.0 - f64::from(eps_low), 1.0 + f64::from(eps_high));
    let raw = (new - old).exp();
    let ratio = raw.min(high);
    let (unclipped, clipped) = (ratio * a, ratio.clamp(low, high) * a);
    let take_clipped = if a >= 0.0 {
        clipped < unclipped
    } else {
        clipped > unclipped
    };
    match (take_clipped, raw < high) {
        (true, _) => (clipped, 0.0, true),
        (false, true) => (unclipped, unclipped, false),
        (false, false) => (unclipped, 0.0, true),
    }
}

/// The book's 7.4 objective term `oᵢ` of one response, its derivative with respect to
/// `log π(yᵢ)` (every token's log-probability, since they sum to it), and whether
/// the clipped branch was taken with the ratio outside the range.
fn book_clip_ratio_term(response: &ResponseLogprobs, a: f64, eps: f32) -> (f64, f64, bool) {
    let sum = |v: &[f32]| v.iter().map(|&x| f64::from(x)).sum::<f64>();
    let ratio = (sum(response.logprobs) - sum(response.old_logprobs)).exp();
    let bounded = ratio.clamp(1.0 - f64::from(eps), 1.0 + f64::from(eps));
    let (unclipped, clipped) = (ratio * a, bounded * a);
    let take_clipped = if a >= 0.0 {
        clipped < unclipped
    } else {
        clipped > unclipped
    };
    if take_clipped {
        (clipped, 0.0, true)
    } else {
        (unclipped, unclipped, false)
    }
}

/// The whole group's loss, clip fraction and mean per-token KL (what a
/// training log reports): [`grpo_sequence_loss`] summed over the responses.
#[derive(Debug, Clone, PartialEq)]
pub struct GrpoLoss {
    /// `L`.
    pub loss: f64,
    /// Per response, `∂L/∂ log π` of each token.
    pub dlogprobs: Vec<Vec<f32>>,
    /// Clipped tokens / all tokens (0 for the basic objective).
    pub clip_fraction: f64,
    /// Mean KL estimate per token (0 without a reference).
    pub kl: f64,
}

impl GroupShape {
    /// The shape of a group made of exactly `responses`.
    pub fn of(responses: &[ResponseLogprobs]) -> GroupShape {
        GroupShape {
            responses: responses.len(),
            tokens: responses.iter().map(|r| r.logprobs.len()).sum(),
        }
    }
}

/// The book's `compute_grpo_loss`: the GRPO loss of `responses`, part of a group of shape
/// `group` ([`grpo_sequence_loss`] of each), with its derivative in every token's
/// log-probability; the KL and clip fraction are per token of the whole group.
///
/// The book calls it on the whole group (`GroupShape::of(responses)`). A training step
/// calls it one response at a time with the group's shape: the terms add up to the same
/// loss, and only one response's activations are kept for the backward pass at a time.
pub fn compute_grpo_loss(
    responses: &[ResponseLogprobs],
    group: GroupShape,
    config: &GrpoLossConfig,
) -> GrpoLoss {
    let parts: Vec<SequenceLoss> = responses
        .iter()
        .map(|r| grpo_sequence_loss(r, group, config))
        .collect();
    let tokens = group.tokens;
    let per_token = |x: f64| if tokens == 0 { 0.0 } else { x / tokens as f64 };
    GrpoLoss {
        loss: parts.iter().map(|p| p.loss).sum(),
        clip_fraction: per_token(parts.iter().map(|p| p.clipped as f64).sum()),
        kl: per_token(parts.iter().map(|p| p.kl_sum).sum()),
        dlogprobs: parts.into_iter().map(|p| p.dlogprobs).collect(),
    }
}

#[cfg(test)]
mod tests;
