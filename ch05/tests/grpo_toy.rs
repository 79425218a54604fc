//! GRPO end to end on a tiny model and a toy verifiable task: the reward must
//! rise within 50 steps (about a second each; printed, not asserted), and a seeded run's metrics are
//! pinned by a snapshot. Rollouts come from the copy the trainer samples from
//! (`ch05::trainer::rollout_model`: Q8_0 on the CPU), rebuilt after every update.
//!
//! The toy task: after a fixed prompt, a response earns 1 when its first token
//! is in the lower half of the vocabulary, else 0. An untrained random model
//! gets it right about half the time; GRPO should make it (almost) always right.
//! The snapshot's run grades instead: the fraction of its tokens in the lower half,
//! so rewards, advantages, the loss and the KL all move from step to step.

use std::sync::OnceLock;
use std::time::Instant;

use ch04::sampling::SamplingConfig;
use ch05::advantage::{compute_advantages, AdvantageRule};
use ch05::grpo::{
    compute_grpo_loss, GroupShape, GrpoLossConfig, KlEstimator, PolicyObjective, ResponseLogprobs,
};
use ch05::logprob::sequence_logprob_and_entropy;
use ch05::policy::Policy;
use ch05::reward::{Reward, RewardRule};
use ch05::rollout::{sample_response, Rollout};
use ch05::step::{grpo_update, StepConfig, StepMetrics};
use ch05::trainer::{rollout_model, step_seed};
use shared::cli::DeviceArgs;
use shared::device::{Device, GpuDType};
use shared::fixtures::fixture;
use shared::loader::{load_hf_model, load_tokenizer};
use shared::model::Model;
use shared::tokenizer::Tokenizer;
use shared::train::{AdamWConfig, LoraConfig, Params};

const PROMPT: [u32; 4] = [1, 2, 3, 4];

/// A toy task's verifiable reward for a response's ids, given the vocabulary size.
type ToyReward = fn(&[u32], usize) -> Reward;

/// The toy task's verifiable reward: 1 when the first token is in the lower half.
fn toy_reward(ids: &[u32], vocab: usize) -> Reward {
    let correct = ids.first().is_some_and(|&t| (t as usize) < vocab / 2);
    Reward {
        correct,
        formatted: true,
        total: f32::from(u8::from(correct)),
    }
}

/// The graded toy reward: the fraction of the response's tokens in the lower half.
fn graded_toy_reward(ids: &[u32], vocab: usize) -> Reward {
    let lower = ids.iter().filter(|&&t| (t as usize) < vocab / 2).count();
    let total = lower as f32 / ids.len().max(1) as f32;
    Reward {
        correct: total == 1.0,
        formatted: true,
        total,
    }
}

fn config(objective: PolicyObjective, inner_epochs: usize, kl_beta: f32) -> StepConfig {
    StepConfig {
        group_size: 8,
        max_new_tokens: 4,
        sampling: SamplingConfig {
            temperature: 1.0,
            top_k: 0,
            top_p: 1.0,
        },
        stop_ids: Vec::new(),
        loss: GrpoLossConfig {
            objective,
            kl_beta,
            kl_estimator: KlEstimator::K3PerToken,
        },
        inner_epochs,
        resample_each_epoch: false,
        reward: RewardRule::Boxed { format_weight: 0.0 },
        advantages: AdvantageRule::GroupNormalized,
        off_policy_delta: None,
        skip_zero_advantage: true,
        max_grad_norm: 1.0,
    }
}

/// `steps` GRPO steps of `policy` on the toy task `reward`; the metrics of each.
fn toy_run(
    reference: &Model,
    policy: Policy,
    config: &StepConfig,
    reward: ToyReward,
    steps: u64,
) -> Vec<StepMetrics> {
    toy_run_with_rewards(reference, policy, config, reward, steps)
        .into_iter()
        .map(|(metrics, _)| metrics)
        .collect()
}

/// As [`toy_run`], with each step's group rewards beside its metrics.
fn toy_run_with_rewards(
    reference: &Model,
    mut policy: Policy,
    config: &StepConfig,
    reward: ToyReward,
    steps: u64,
) -> Vec<(StepMetrics, Vec<f32>)> {
    (1..=steps)
        .map(|step| {
            let rollouts = toy_rollouts(&policy, config, reward, step);
            let mut m = grpo_update(&mut policy, reference, &PROMPT, &rollouts, config).unwrap();
            m.step = step;
            (m, rollouts.iter().map(|r| r.reward.total).collect())
        })
        .collect()
}

/// `values` as a row of signed numbers with two decimals.
fn row(values: &[f32]) -> String {
    values
        .iter()
        .map(|v| format!("{v:+.2}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The CPU, as `ch05 train` runs by default.
fn cpu() -> DeviceArgs {
    DeviceArgs {
        device: Device::Cpu,
        gpu_dtype: GpuDType::BF16,
        quantize: None,
    }
}

/// Step `step`'s G rollouts from the trainer's copy of `policy`'s current weights
/// (Q8_0 on the CPU), sampled by the book's `sample_response` as `ch05 train` samples
/// them, rewarded by `reward`.
fn toy_rollouts(
    policy: &Policy,
    config: &StepConfig,
    reward: ToyReward,
    step: u64,
) -> Vec<Rollout> {
    let rollout_model = rollout_model(&policy.params, cpu()).unwrap();
    let vocab = rollout_model.config.vocab_size;
    sample_response(
        &rollout_model,
        tokenizer(),
        &PROMPT,
        config,
        step_seed(7, step),
    )
    .unwrap()
    .into_iter()
    .map(|response| Rollout {
        reward: reward(&response.ids, vocab),
        ids: response.ids,
        text: response.text,
    })
    .collect()
}

/// Qwen3's tokenizer (the tiny model's 512 ids are its first ones), to decode responses.
fn tokenizer() -> &'static Tokenizer {
    static TOKENIZER: OnceLock<Tokenizer> = OnceLock::new();
    TOKENIZER.get_or_init(|| {
        let dir = fixture("tokenizers/qwen3").expect("the Qwen3 tokenizer fixture");
        load_tokenizer(&dir).unwrap()
    })
}

fn tiny() -> Option<Model> {
    Some(load_hf_model(&fixture("tiny/qwen3-tiny")?).unwrap())
}

/// AdamW for the tiny model's full fine-tunes: a large step, no decay.
fn toy_adamw() -> AdamWConfig {
    AdamWConfig {
        lr: 3e-3,
        weight_decay: 0.0,
        ..AdamWConfig::default()
    }
}

fn mean_reward(metrics: &[StepMetrics]) -> f64 {
    metrics.iter().map(|m| m.reward_mean).sum::<f64>() / metrics.len() as f64
}

#[test]
fn reward_rises_within_50_steps() {
    let Some(model) = tiny() else {
        return;
    };
    let adamw = toy_adamw();
    let runs = [
        (
            "full, basic",
            Policy::full(Params::from_model(&model), adamw),
            config(PolicyObjective::Basic, 1, 0.0),
        ),
        (
            "full, clipped, 2 inner epochs, KL penalty",
            Policy::full(Params::from_model(&model), adamw),
            config(PolicyObjective::Clipped { eps: 0.2 }, 2, 0.01),
        ),
        (
            "LoRA r=4, basic",
            Policy::lora(
                Params::from_model(&model),
                LoraConfig::with_rank(4),
                1,
                AdamWConfig { lr: 1e-1, ..adamw },
            )
            .unwrap(),
            config(PolicyObjective::Basic, 1, 0.0),
        ),
    ];
    for (name, policy, config) in runs {
        let start = Instant::now();
        let metrics = toy_run(&model, policy, &config, toy_reward, 50);
        let seconds = start.elapsed().as_secs_f64();
        let (first, last) = (mean_reward(&metrics[..10]), mean_reward(&metrics[40..]));
        eprintln!(
            "{name}: reward {first:.2} (steps 1–10) → {last:.2} (steps 41–50) in {seconds:.1} s"
        );
        assert!(
            last >= 0.8 && last > first + 0.3,
            "{name}: reward {first:.2} → {last:.2}"
        );
        // The KL to the starting model grows as the policy moves away from it
        // (a skipped step computes none).
        let last_kl = metrics.iter().rev().find(|m| !m.skipped).unwrap().kl;
        assert!(
            last_kl > metrics[0].kl,
            "{name}: KL {} → {last_kl}",
            metrics[0].kl
        );
    }
}

#[test]
fn seeded_toy_run_metrics() {
    let Some(model) = tiny() else {
        return;
    };
    let adamw = toy_adamw();
    let policy = Policy::full(Params::from_model(&model), adamw);
    // Graded rewards, the clipped objective with 2 inner epochs and a KL penalty: the
    // rewards, their group-normalized advantages, the loss and the KL all move.
    let steps = toy_run_with_rewards(
        &model,
        policy,
        &config(PolicyObjective::Clipped { eps: 0.2 }, 2, 0.02),
        graded_toy_reward,
        6,
    );
    let mut table = String::new();
    for (m, rewards) in &steps {
        table.push_str(&format!(
            "step {}: reward {:.3}  loss {:+.4}  kl {:.5}  clip {:.3}  |g| {:.3}  H {:.3}  skipped {}\n",
            m.step,
            m.reward_mean,
            m.loss,
            m.kl,
            m.clip_fraction,
            m.grad_norm,
            m.entropy,
            m.skipped
        ));
        table.push_str(&format!("  rewards    {}\n", row(rewards)));
        table.push_str(&format!(
            "  advantages {}\n",
            row(&compute_advantages(rewards))
        ));
    }
    insta::assert_snapshot!(table);
}

#[test]
fn lora_on_the_top_blocks_leaves_the_lower_ones_as_loaded() {
    let Some(model) = tiny() else {
        return;
    };
    let start = Params::from_model(&model);
    let layers = start.tensors.layers.len();
    assert!(layers >= 2, "the tiny model needs two blocks for this test");
    let mut policy = Policy::lora(
        start.clone(),
        LoraConfig::with_rank(4),
        1,
        AdamWConfig {
            lr: 1e-1,
            ..toy_adamw()
        },
    )
    .unwrap()
    .freezing_layers(layers - 1);
    let scope = policy.scope(PROMPT.len());
    assert_eq!(
        (
            scope.outputs_from,
            scope.frozen_layers,
            scope.frozen_embeddings
        ),
        (PROMPT.len() - 1, layers - 1, true)
    );
    let config = config(PolicyObjective::Basic, 1, 0.0);
    for step in 1..=5 {
        let rollouts = toy_rollouts(&policy, &config, toy_reward, step);
        grpo_update(&mut policy, &model, &PROMPT, &rollouts, &config).unwrap();
    }
    assert!(policy.optimizer_steps() > 0, "no step was taken");
    for (i, (now, then)) in policy
        .params
        .tensors
        .layers
        .iter()
        .zip(&start.tensors.layers)
        .enumerate()
    {
        let moved = now.q_proj != then.q_proj || now.down_proj != then.down_proj;
        assert_eq!(moved, i == layers - 1, "block {i} moved: {moved}");
    }
    assert_eq!(
        policy.params.tensors.embed_tokens,
        start.tensors.embed_tokens
    );
}

#[test]
fn a_non_finite_loss_stops_the_step_and_leaves_the_policy_as_it_was() {
    let Some(model) = tiny() else {
        return;
    };
    let config = config(PolicyObjective::Basic, 1, 0.0);
    let mut policy = Policy::full(Params::from_model(&model), toy_adamw());
    let mut rollouts = toy_rollouts(&policy, &config, toy_reward, 1);
    for (i, rollout) in rollouts.iter_mut().enumerate() {
        rollout.reward = toy_reward(&[u32::from(i % 2 == 1) * 1000], 512);
    }
    policy.params.tensors.norm[0] = f32::NAN;
    let before = policy.params.tensors.clone();
    let error = grpo_update(&mut policy, &model, &PROMPT, &rollouts, &config)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("NaN") && error.contains("not applied"),
        "{error}"
    );
    let after = &policy.params.tensors;
    assert_eq!(after.embed_tokens, before.embed_tokens);
    assert_eq!(after.layers[0].q_proj, before.layers[0].q_proj);
}

/// What a GRPO step logs as its loss and KL is the book's `compute_grpo_loss` of the
/// group's log-probabilities, each the book's `sequence_logprob_and_entropy` under the
/// policy and under the reference: a reader who edits one of those functions changes
/// what `ch05 train` learns and logs.
#[test]
fn a_steps_loss_is_compute_grpo_loss_of_sequence_logprobs() {
    let Some(model) = tiny() else { return };
    let mut params = Params::from_model(&model);
    // A reference that differs from the policy, so that the KL term is not 0.
    params.tensors.norm.mapv_inplace(|w| w * 1.25);
    let reference = params.to_model().unwrap();
    let mut policy = Policy::full(Params::from_model(&model), toy_adamw());
    let config = config(PolicyObjective::Clipped { eps: 0.2 }, 1, 0.3);
    let rollouts = toy_rollouts(&policy, &config, graded_toy_reward, 1);
    let before = policy.params.to_model().unwrap();
    let metrics = grpo_update(&mut policy, &reference, &PROMPT, &rollouts, &config).unwrap();

    let logprobs = |m: &Model, r: &Rollout| {
        let ids = [&PROMPT[..], &r.ids].concat();
        sequence_logprob_and_entropy(m, &ids, PROMPT.len())
            .unwrap()
            .token_logprobs
    };
    let policy_lp: Vec<Vec<f32>> = rollouts.iter().map(|r| logprobs(&before, r)).collect();
    let ref_lp: Vec<Vec<f32>> = rollouts.iter().map(|r| logprobs(&reference, r)).collect();
    let rewards: Vec<f32> = rollouts.iter().map(|r| r.reward.total).collect();
    let advantages = compute_advantages(&rewards);
    let responses: Vec<ResponseLogprobs> = (0..rollouts.len())
        .map(|i| ResponseLogprobs {
            logprobs: &policy_lp[i],
            old_logprobs: &policy_lp[i],
            ref_logprobs: Some(&ref_lp[i]),
            advantage: advantages[i],
        })
        .collect();
    let want = compute_grpo_loss(&responses, GroupShape::of(&responses), &config.loss);
    assert!(
        want.kl > 1e-3,
        "the reference differs from the policy: {want:?}"
    );
    let close = |got: f64, want: f64| (got - want).abs() <= 1e-4 * (1.0 + want.abs());
    assert!(
        close(metrics.loss, want.loss),
        "{} vs {}",
        metrics.loss,
        want.loss
    );
    assert!(close(metrics.kl, want.kl), "{} vs {}", metrics.kl, want.kl);
}
