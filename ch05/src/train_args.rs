//! `ch05 train`'s flags ([`TrainArgs`]) and the book's defaults for them
//! (`--preset book`), turned into the [`TrainOptions`] a run is described by.

use std::path::PathBuf;

use anyhow::{bail, Result};
use ch03::PromptStyle;
use clap::builder::RangedU64ValueParser;
use clap::Args;
use shared::cli::{
    non_negative_f32, positive_f32, probability_f32, Preset, PresetName, PromptArgs, Thinking,
};

use crate::objective::Objective;
use crate::options::TrainOptions;

/// The flags of `ch05 train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Defaults for the flags not given: ours (shown with each flag), or the book's GRPO
    /// script's (rlvr_grpo_original_no_kl.py, and with --objective a chapter-7 script's):
    /// T 0.8, top-p 0.9, seed 42, 512 new tokens, AdamW weight decay 0.01, the plain prompt,
    /// no KL for basic, no skipping of zero-advantage groups.
    #[arg(long, value_enum, default_value_t = PresetName::Ours)]
    pub preset: PresetName,
    /// Training data: `arith` (generated problems of the train split; the held-out ones come
    /// from the test split) or `math-train` (the book's 12,000 MATH training problems, from
    /// --data, else the cache, else a download; held out: MATH-500's first --eval-n).
    #[arg(long, default_value = "arith")]
    pub dataset: String,
    /// --dataset math-train: a local copy of the book's math_train.json.
    #[arg(long, value_name = "PATH")]
    pub data: Option<PathBuf>,
    /// Difficulty levels of the problems, e.g. 1-2 or 1,3.
    #[arg(long, default_value = "1-2")]
    pub levels: String,
    /// Prompt: one-shot (the book's prompt with one worked example; the default model
    /// rarely boxes a number without it) or plain (the book's render_prompt) or cot.
    #[arg(long, value_enum, default_value_t = PromptStyle::OneShot)]
    pub prompt: PromptStyle,
    #[command(flatten)]
    pub prompt_args: PromptArgs,
    /// Training steps (one problem and G responses each).
    #[arg(long, default_value_t = 150)]
    pub steps: u64,
    /// G: responses sampled per problem (2 to 1024).
    #[arg(long, default_value_t = 8, value_parser = RangedU64ValueParser::<usize>::new().range(2..=1024))]
    pub group: usize,
    /// AdamW learning rate.
    #[arg(long, default_value_t = 1e-5, value_parser = positive_f32)]
    pub lr: f32,
    /// AdamW decoupled weight decay.
    #[arg(long, default_value_t = 0.0, value_parser = non_negative_f32)]
    pub weight_decay: f32,
    /// The most tokens per response (rollouts and held-out answers).
    #[arg(long, default_value_t = 64)]
    pub max_new_tokens: usize,
    /// Seed of the training problems and the rollouts.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output folder: metrics.csv, held_out.csv, rollouts.jsonl, plots, checkpoints step-NNNNNN/.
    #[arg(long)]
    pub out: PathBuf,
    /// Train LoRA adapters of this rank on every attention and MLP projection instead of every weight.
    #[arg(long)]
    pub lora: Option<usize>,
    /// With --lora: adapt only the top K blocks (fewer tapes and gradients: faster steps,
    /// less memory); the blocks below stay as loaded.
    #[arg(long, value_name = "K")]
    pub train_layers: Option<usize>,
    /// Continue the run in --out from its last checkpoint (same settings; --steps may grow).
    #[arg(long)]
    pub resume: bool,
    /// Rollout temperature (low enough that the small default model is sometimes right).
    #[arg(long, default_value_t = 0.4, value_parser = non_negative_f32)]
    pub temperature: f32,
    /// Rollout top-p (1 keeps the whole distribution).
    #[arg(long, default_value_t = 1.0, value_parser = probability_f32)]
    pub top_p: f32,
    /// Policy objective: ours (basic, clipped) or one of the book's chapter-7 scripts by
    /// name; each takes its script's defaults for the flags below (ch05/README.md has
    /// the formulas side by side).
    #[arg(long, value_enum, default_value_t = Objective::Basic)]
    pub objective: Objective,
    /// Clip range ε of the clipped ratio [default: 0.2 for clipped, 10 for the book's scripts].
    #[arg(long, value_parser = positive_f32)]
    pub clip_eps: Option<f32>,
    /// --objective olmo3: the lower clip range ε_low [default: 0.2].
    #[arg(long, value_parser = positive_f32)]
    pub clip_eps_low: Option<f32>,
    /// --objective olmo3: the upper clip range ε_high, also where the ratio is truncated [default: 10].
    #[arg(long, value_parser = positive_f32)]
    pub clip_eps_high: Option<f32>,
    /// Optimizer steps per training step [default: 1; 2 for the book's scripts but
    /// plus-format-reward]. The book's scripts sample new rollouts for each (from the
    /// policy as the step found it); clipped reuses one set of rollouts.
    #[arg(long)]
    pub inner_epochs: Option<usize>,
    /// β of the KL penalty to the starting model; 0: the KL is tracked, not penalized
    /// [default: 0.02 for basic, clipped and gdpo; 0.001 for plus-kl; 0 for the others].
    #[arg(long, visible_alias = "kl-coeff", value_parser = non_negative_f32)]
    pub kl_beta: Option<f32>,
    /// Weight of the format reward, 0 turns it off: ours rewards a boxed number, plus-format-reward
    /// `<think>…</think>`, gdpo a box [default: 0; 1 for plus-format-reward; 0.1 for gdpo].
    #[arg(long, visible_aliases = ["format-reward-weight", "format-coeff"], value_parser = non_negative_f32)]
    pub format_weight: Option<f32>,
    /// --objective plus-format-reward: count the format reward only for a correct answer.
    #[arg(long)]
    pub conditional_reward: bool,
    /// --objective deepseek-v32: a response with a negative advantage whose policy drifted
    /// more than this per token since it was sampled gets advantage 0 [default: 0.1].
    #[arg(long, value_parser = non_negative_f32)]
    pub off_policy_delta: Option<f32>,
    /// Update even when every advantage of a group is 0 (by default such groups are skipped).
    #[arg(long)]
    pub no_skip_zero_advantage: bool,
    /// Global gradient-norm clip.
    #[arg(long, default_value_t = 1.0, value_parser = positive_f32)]
    pub max_grad_norm: f32,
    /// Held-out evaluation every this many steps (0: only before and after training).
    #[arg(long, default_value_t = 25)]
    pub eval_every: u64,
    /// Held-out problems (test split, seed 0, the training levels).
    #[arg(long, default_value_t = 100)]
    pub eval_n: usize,
    /// Save a checkpoint every this many steps (and at the end, and on Ctrl-C).
    #[arg(long, default_value_t = 50)]
    pub checkpoint_every: u64,
    /// Checkpoints kept on disk; older ones are deleted.
    #[arg(long, default_value_t = 2)]
    pub keep_checkpoints: usize,
}

/// The book's GRPO scripts' defaults, for `--preset book` (the objective's own ε, β and
/// inner epochs already are its script's).
pub fn book_train_defaults(args: &mut TrainArgs, preset: &mut Preset) {
    preset.set("temperature", &mut args.temperature, 0.8);
    preset.set("top_p", &mut args.top_p, 0.9);
    preset.set("seed", &mut args.seed, 42);
    preset.set("max_new_tokens", &mut args.max_new_tokens, 512);
    preset.set("weight_decay", &mut args.weight_decay, 0.01);
    preset.set("lr", &mut args.lr, 1e-5);
    preset.set("group", &mut args.group, 8);
    preset.set_choice("prompt", &mut args.prompt, PromptStyle::Plain);
    if args.objective == Objective::Basic {
        preset.set_shown("kl_beta", &mut args.kl_beta, Some(0.0), "0");
    }
    preset.switch(
        "no_skip_zero_advantage",
        &mut args.no_skip_zero_advantage,
        &[],
    );
    preset.note(
        "(prompts by model kind: raw for a base model; the book trains Qwen3-0.6B base, \
         --model qwen3-0.6b-base, on its 12k MATH training set, --dataset math-train)",
    );
}

impl TrainArgs {
    /// The training options these flags describe, for `model`.
    pub fn options(&self, model: &str) -> Result<TrainOptions> {
        let defaults = self.objective.defaults();
        if !["arith", "math-train"].contains(&self.dataset.as_str()) {
            bail!(
                "--dataset {}: training supports `arith` (its train and test splits never share a \
                 problem) and `math-train` (the book's MATH training set, disjoint from MATH-500)",
                self.dataset
            );
        }
        if self.data.is_some() && self.dataset != "math-train" {
            bail!("--data is the local copy of --dataset math-train");
        }
        Ok(TrainOptions {
            model: model.to_string(),
            dataset: self.dataset.clone(),
            data: self.data.clone(),
            levels: self.levels.clone(),
            prompt: self.prompt.name().to_string(),
            chat: match (self.prompt_args.chat, self.prompt_args.no_chat) {
                (true, _) => Some(true),
                (_, true) => Some(false),
                _ => None,
            },
            thinking: self.prompt_args.thinking.map(|t| t == Thinking::On),
            steps: self.steps,
            group: self.group,
            lr: self.lr,
            weight_decay: self.weight_decay,
            max_new_tokens: self.max_new_tokens,
            seed: self.seed,
            lora: self.lora,
            train_layers: self.train_layers,
            temperature: self.temperature,
            top_p: self.top_p,
            objective: self.objective.name().to_string(),
            clip_eps: self.clip_eps.unwrap_or(defaults.clip_eps),
            clip_eps_low: self.clip_eps_low.unwrap_or(defaults.clip_eps_low),
            clip_eps_high: self.clip_eps_high.unwrap_or(defaults.clip_eps_high),
            conditional_reward: self.conditional_reward,
            off_policy_delta: self.off_policy_delta.unwrap_or(defaults.off_policy_delta),
            inner_epochs: self.inner_epochs.unwrap_or(defaults.inner_epochs),
            kl_beta: self.kl_beta.unwrap_or(defaults.kl_beta),
            format_weight: self.format_weight.unwrap_or(defaults.format_weight),
            skip_zero_advantage: !self.no_skip_zero_advantage,
            max_grad_norm: self.max_grad_norm,
            eval_every: self.eval_every,
            eval_n: self.eval_n,
            checkpoint_every: self.checkpoint_every,
            keep_checkpoints: self.keep_checkpoints,
        })
    }
}
