//! One GRPO step (book ch. 6, with ch. 7's options): sample a group of
//! responses to one problem, reward them with the verifier, turn the rewards
//! into advantages, and take one or more optimizer steps on the GRPO loss.

use std::time::Instant;

use ch04::sampling::SamplingConfig;
use ndarray::s;
use shared::model::Model;
use shared::tokenizer::Tokenizer;
use shared::train::backward::{backward_into, cross_entropy_backward};
use shared::train::forward::{forward_scoped, Scope};
use shared::train::loss::{token_entropies, token_logprobs};
use shared::train::{Grads, Params};
use shared::{Error, Result};

use crate::advantage::AdvantageRule;
use crate::grpo::{compute_grpo_loss, GroupShape, GrpoLossConfig, ResponseLogprobs};
use crate::improvements::deepseek_off_policy_mask;
use crate::logprob::sequence_logprob_and_entropy;
use crate::policy::Policy;
use crate::reward::{Reward, RewardRule};
use crate::rollout::{sample_rollouts, Rollout};

/// Everything one step needs to know besides the policy and the problem.
#[derive(Debug, Clone, PartialEq)]
pub struct StepConfig {
    /// G: responses sampled per problem.
    pub group_size: usize,
    /// The most tokens per response.
    pub max_new_tokens: usize,
    /// Temperature and top-p of the rollouts.
    pub sampling: SamplingConfig,
    /// Ids that end a response.
    pub stop_ids: Vec<u32>,
    /// Basic or clipped objective, KL weight.
    pub loss: GrpoLossConfig,
    /// Optimizer steps per step (ch. 7; 1 for the basic loss).
    pub inner_epochs: usize,
    /// Each inner epoch samples new rollouts from the policy as it was when the step
    /// began, as the book's chapter-7 loop does; otherwise every epoch reuses the
    /// first epoch's rollouts (PPO's reuse).
    pub resample_each_epoch: bool,
    /// How a response is rewarded.
    pub reward: RewardRule,
    /// How a group's rewards become advantages.
    pub advantages: AdvantageRule,
    /// The book's DeepSeek-V3.2 off-policy mask ([`deepseek_off_policy_mask`]): a
    /// response with a negative advantage that drifted more than this per token from
    /// the policy that sampled it gets advantage 0. `None`: no mask.
    pub off_policy_delta: Option<f32>,
    /// Skip the update when every advantage is 0 (ch. 7): nothing to learn.
    pub skip_zero_advantage: bool,
    /// Global gradient-norm clip.
    pub max_grad_norm: f32,
}

/// What one step measured: the row of the training log.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StepMetrics {
    /// 1-based step number.
    pub step: u64,
    /// The GRPO loss of the group at the first inner epoch (0 when skipped).
    pub loss: f64,
    /// Mean reward of the group.
    pub reward_mean: f64,
    /// Fraction of the group whose boxed answer was correct.
    pub correct_frac: f64,
    /// Fraction of the group that boxed an answer.
    pub format_frac: f64,
    /// Mean response length in tokens.
    pub response_len: f64,
    /// Mean per-token KL estimate to the reference (0 without one).
    pub kl: f64,
    /// Fraction of tokens whose ratio was clipped, over all inner epochs.
    pub clip_fraction: f64,
    /// Gradient norm before clipping, at the last inner epoch (0 when skipped).
    pub grad_norm: f64,
    /// Mean of the advantages (0 up to rounding).
    pub adv_mean: f64,
    /// Standard deviation of the advantages (0 when all rewards are equal).
    pub adv_std: f64,
    /// Mean per-token entropy of the policy on the responses, nats.
    pub entropy: f64,
    /// Whether the update was skipped (all advantages 0).
    pub skipped: bool,
    /// Wall-clock seconds of the step.
    pub seconds: f64,
}

/// The log-probabilities of `response`'s tokens after `prompt` under
/// `params`, their entropies, and what the backward pass needs.
struct Scored {
    logits: ndarray::Array2<f32>,
    tape: shared::train::forward::Tape,
    ids: Vec<u32>,
    logprobs: Vec<f32>,
    entropy_sum: f64,
}

/// Runs the training forward over `prompt ++ response` within `scope` (logits from
/// position `prompt.len() − 1` on) and scores the response.
fn score_response(
    params: &Params,
    scope: Scope,
    prompt: &[u32],
    response: &[u32],
) -> Result<Scored> {
    let ids = [prompt, response].concat();
    let (logits, tape) = forward_scoped(params, &ids, scope)?;
    // Row r is position P − 1 + r, which predicts ids[P + r]: the response's r-th token.
    let rows = logits.slice(s![..response.len(), ..]);
    let logprobs = token_logprobs(rows, response);
    let entropy_sum = token_entropies(rows).iter().map(|&h| f64::from(h)).sum();
    Ok(Scored {
        logits,
        tape,
        ids,
        logprobs,
        entropy_sum,
    })
}

/// The log-probabilities of `response` under a frozen inference model (the
/// reference, or the policy as it was when the step began), per token: the book's
/// [`sequence_logprob_and_entropy`].
fn frozen_logprobs(reference: &Model, prompt: &[u32], response: &[u32]) -> Result<Vec<f32>> {
    let ids = [prompt, response].concat();
    Ok(sequence_logprob_and_entropy(reference, &ids, prompt.len())?.token_logprobs)
}

/// One GRPO step on one problem: rollouts from `rollout_model` (the policy's
/// current weights as an inference model), rewards, then [`grpo_update`]. With
/// `resample_each_epoch`, each inner epoch samples its own rollouts from the rollout
/// model as the step found it, and the ratio's "old" policy is the policy as the step
/// found it (the book's `old_model`); the metrics are the first epoch's, with the clip
/// fraction of all epochs and the last update's gradient norm, and every epoch's
/// rollouts are returned.
#[allow(clippy::too_many_arguments)]
pub fn grpo_step(
    policy: &mut Policy,
    rollout_model: &Model,
    reference: &Model,
    tokenizer: &Tokenizer,
    prompt: &[u32],
    answer: &str,
    config: &StepConfig,
    step: u64,
    seed: u64,
) -> Result<(StepMetrics, Vec<Rollout>)> {
    let start = Instant::now();
    let mut rollouts = sample_rollouts(rollout_model, tokenizer, prompt, answer, config, seed)?;
    let mut metrics = if config.resample_each_epoch && config.inner_epochs > 1 {
        let once = StepConfig {
            inner_epochs: 1,
            ..config.clone()
        };
        // The book's `old_model`: the policy as the step found it.
        let old_model = policy.params.to_model()?;
        let mut metrics = grpo_update(policy, reference, prompt, &rollouts, &once)?;
        let mut clip_sum = metrics.clip_fraction;
        for epoch in 1..config.inner_epochs as u64 {
            let epoch_seed = seed.wrapping_add(epoch.wrapping_mul(0x9E37_79B9));
            let more =
                sample_rollouts(rollout_model, tokenizer, prompt, answer, config, epoch_seed)?;
            let m = update_epochs(policy, reference, Some(&old_model), prompt, &more, &once)?;
            clip_sum += m.clip_fraction;
            if !m.skipped {
                metrics.grad_norm = m.grad_norm;
                metrics.skipped = false;
            }
            rollouts.extend(more);
        }
        metrics.clip_fraction = clip_sum / config.inner_epochs as f64;
        metrics
    } else {
        grpo_update(policy, reference, prompt, &rollouts, config)?
    };
    metrics.step = step;
    metrics.seconds = start.elapsed().as_secs_f64();
    Ok((metrics, rollouts))
}

/// The update half of a GRPO step: advantages from the rollouts' rewards, then
/// `inner_epochs` optimizer steps on the GRPO loss (skipped when every
/// advantage is 0 and the config says so, or when no response has a token).
/// `reference` is the frozen model the KL is measured against (and penalized
/// when the loss has a β). The metrics' `step` and `seconds` are left 0.
pub fn grpo_update(
    policy: &mut Policy,
    reference: &Model,
    prompt: &[u32],
    rollouts: &[Rollout],
    config: &StepConfig,
) -> Result<StepMetrics> {
    update_epochs(policy, reference, None, prompt, rollouts, config)
}

/// [`grpo_update`], with the ratio's "old" log-probabilities from `old_model` when
/// given (the rollouts came from an earlier policy), else from the policy itself at
/// the first epoch.
fn update_epochs(
    policy: &mut Policy,
    reference: &Model,
    old_model: Option<&Model>,
    prompt: &[u32],
    rollouts: &[Rollout],
    config: &StepConfig,
) -> Result<StepMetrics> {
    let rewards: Vec<f32> = rollouts.iter().map(|r| r.reward.total).collect();
    let indicator = |part: fn(&Reward) -> bool| -> Vec<f32> {
        rollouts
            .iter()
            .map(|r| f32::from(u8::from(part(&r.reward))))
            .collect()
    };
    let advantages = config.advantages.advantages(
        &rewards,
        &indicator(|r| r.correct),
        &indicator(|r| r.formatted),
    );
    let mut metrics = group_metrics(rollouts, &advantages);
    let trainable: Vec<usize> = (0..rollouts.len())
        .filter(|&i| !rollouts[i].ids.is_empty())
        .collect();
    // The book's test, `allclose(A, 0, atol=1e-8)`: Dr. GRPO's `r − mean` of equal
    // rewards can be a rounding error away from 0.
    let all_zero = advantages.iter().all(|&a| a.abs() <= 1e-8);
    if trainable.is_empty() || (config.skip_zero_advantage && all_zero) {
        metrics.skipped = true;
        return Ok(metrics);
    }
    let refs = trainable
        .iter()
        .map(|&i| frozen_logprobs(reference, prompt, &rollouts[i].ids))
        .collect::<Result<Vec<_>>>()?;
    let mut old: Vec<Vec<f32>> = match old_model {
        Some(model) => trainable
            .iter()
            .map(|&i| frozen_logprobs(model, prompt, &rollouts[i].ids))
            .collect::<Result<_>>()?,
        None => Vec::new(),
    };
    let tokens: usize = trainable.iter().map(|&i| rollouts[i].ids.len()).sum();
    let group = GroupShape {
        responses: rollouts.len(),
        tokens,
    };
    let mut clip_sum = 0.0;
    for epoch in 0..config.inner_epochs.max(1) {
        let mut grads = Grads::zeros_like(&policy.params);
        let (mut loss, mut kl, mut clipped, mut entropy_sum) = (0.0, 0.0, 0.0, 0.0);
        // One response at a time: its log-probabilities under the policy, its part of
        // the group's loss (the book's `compute_grpo_loss`, with the group's shape), its
        // backward; so only one response's activations are alive at a time.
        for (k, &i) in trainable.iter().enumerate() {
            let scope = policy.scope(prompt.len());
            let scored = score_response(&policy.params, scope, prompt, &rollouts[i].ids)?;
            if epoch == 0 && old_model.is_none() {
                old.push(scored.logprobs.clone());
            }
            let advantage = match config.off_policy_delta {
                Some(delta) => {
                    off_policy_advantage(advantages[i], &scored.logprobs, &old[k], delta)
                }
                None => advantages[i],
            };
            let response = ResponseLogprobs {
                logprobs: &scored.logprobs,
                old_logprobs: &old[k],
                ref_logprobs: Some(&refs[k]),
                advantage,
            };
            let part = compute_grpo_loss(std::slice::from_ref(&response), group, &config.loss);
            loss += part.loss;
            kl += part.kl;
            clipped += part.clip_fraction;
            entropy_sum += scored.entropy_sum;
            let dlogprobs = &part.dlogprobs[0];
            backpropagate(&policy.params, scored, prompt.len(), dlogprobs, &mut grads);
        }
        if !loss.is_finite() {
            return Err(Error::NonFinite(format!(
                "the GRPO loss is {loss}: this step was not applied; lower --lr or resume \
                 from the last checkpoint"
            )));
        }
        if epoch == 0 {
            metrics.loss = loss;
            metrics.kl = kl;
            metrics.entropy = entropy_sum / tokens as f64;
        }
        clip_sum += clipped;
        metrics.grad_norm = f64::from(policy.update(&mut grads, config.max_grad_norm)?);
    }
    metrics.clip_fraction = clip_sum / config.inner_epochs.max(1) as f64;
    Ok(metrics)
}

/// The book's DeepSeek-V3.2 off-policy mask on one response: its advantage, or 0 when
/// it is negative and the policy drifted more than `delta` per token from `old`.
fn off_policy_advantage(advantage: f32, logprobs: &[f32], old: &[f32], delta: f32) -> f32 {
    let sum = |v: &[f32]| v.iter().sum::<f32>();
    let (masked, _) = deepseek_off_policy_mask(
        &[advantage],
        &[sum(logprobs)],
        &[sum(old)],
        &[logprobs.len()],
        delta,
    );
    masked[0]
}

/// The metrics a group has before any update: rewards, lengths, advantage statistics.
fn group_metrics(rollouts: &[Rollout], advantages: &[f32]) -> StepMetrics {
    let g = rollouts.len().max(1) as f64;
    let mean = |f: &dyn Fn(&Rollout) -> f64| rollouts.iter().map(f).sum::<f64>() / g;
    let adv_mean = advantages.iter().map(|&a| f64::from(a)).sum::<f64>() / g;
    let adv_var = advantages
        .iter()
        .map(|&a| (f64::from(a) - adv_mean).powi(2))
        .sum::<f64>()
        / g;
    StepMetrics {
        step: 0,
        loss: 0.0,
        reward_mean: mean(&|r| f64::from(r.reward.total)),
        correct_frac: mean(&|r| f64::from(u8::from(r.reward.correct))),
        format_frac: mean(&|r| f64::from(u8::from(r.reward.formatted))),
        response_len: mean(&|r| r.ids.len() as f64),
        kl: 0.0,
        clip_fraction: 0.0,
        grad_norm: 0.0,
        adv_mean,
        adv_std: adv_var.sqrt(),
        entropy: 0.0,
        skipped: false,
        seconds: 0.0,
    }
}

/// Adds the gradient of `Σₜ dlogprobs[t] · log π(yₜ)` to `grads`: the
/// cross-entropy backward with weight `−dlogprobs[t]` on each response token (the
/// scoped logits hold no prompt rows but the last, which predicts the first token).
fn backpropagate(
    params: &Params,
    scored: Scored,
    prompt_len: usize,
    dlogprobs: &[f32],
    grads: &mut Grads,
) {
    let weights: Vec<f32> = dlogprobs.iter().map(|&d| -d).collect();
    let response = &scored.ids[prompt_len..];
    let dlogits = cross_entropy_backward(scored.logits.view(), response, &weights);
    drop(scored.logits);
    backward_into(params, &scored.tape, dlogits.view(), grads);
}
