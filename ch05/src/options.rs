//! `ch05 train`'s settings ([`TrainOptions`]): what a run is, saved as
//! `train_config.json` so `--resume` continues with the same ones, and the step
//! settings, objective and prompt they give.

use std::path::PathBuf;

use ch03::arith::parse_levels;
use ch03::prompts::PromptStyle;
use ch04::sampling::SamplingConfig;
use clap::ValueEnum;
use serde::{Deserialize, Serialize};
use shared::cli::{PromptArgs, Thinking};
use shared::loader::{LoadedModel, PromptMode};
use shared::train::AdamWConfig;
use shared::{Error, Result};

use crate::objective::{Objective, ObjectiveSettings};
use crate::reward::ThinkMarkers;
use crate::step::StepConfig;

/// Every setting of a run; saved as `train_config.json` so `--resume`
/// continues with the same ones. The device (`--device`, `--gpu-dtype`) is not
/// one of them: it changes where the rollouts run, not what is trained, so a
/// run may resume on another device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainOptions {
    /// The model to start from (name or path).
    pub model: String,
    /// `arith` (generated) or `math-train` (the book's MATH training set).
    #[serde(default = "default_dataset")]
    pub dataset: String,
    /// A local copy of the MATH training set (`--data`).
    #[serde(default)]
    pub data: Option<PathBuf>,
    /// Difficulty levels of the arith problems, e.g. `1-2`.
    pub levels: String,
    /// The prompt template: `one-shot`, `plain` (the book's) or `cot`.
    pub prompt: String,
    /// `--chat` (`Some(true)`) or `--no-chat` (`Some(false)`); `None`: by model kind
    /// (the chat template for chat models, raw text for base models).
    #[serde(default)]
    pub chat: Option<bool>,
    /// `--thinking on|off` (Qwen3's `enable_thinking`); `None`: the template's default.
    #[serde(default)]
    pub thinking: Option<bool>,
    /// Steps to train (one problem per step).
    pub steps: u64,
    /// G: responses per problem.
    pub group: usize,
    /// AdamW's learning rate.
    pub lr: f32,
    /// AdamW's decoupled weight decay.
    pub weight_decay: f32,
    /// The most tokens per response (rollouts and held-out answers).
    pub max_new_tokens: usize,
    /// Seed of the training problems and the rollouts.
    pub seed: u64,
    /// LoRA rank; `None` for a full fine-tune.
    pub lora: Option<usize>,
    /// Under LoRA, adapt only the top this many blocks (`None`: every block); the
    /// blocks below keep no tapes and get no gradient.
    #[serde(default)]
    pub train_layers: Option<usize>,
    /// Rollout temperature.
    pub temperature: f32,
    /// Rollout top-p.
    pub top_p: f32,
    /// The policy objective's name ([`Objective`]: ours, or one of the book's
    /// chapter-7 scripts).
    pub objective: String,
    /// Clip range ε of the clipped objectives.
    pub clip_eps: f32,
    /// Olmo-3's ε_low.
    #[serde(default = "default_clip_eps_low")]
    pub clip_eps_low: f32,
    /// Olmo-3's ε_high.
    #[serde(default = "default_clip_eps_high")]
    pub clip_eps_high: f32,
    /// `plus-format-reward`: the format reward only for a correct answer.
    #[serde(default)]
    pub conditional_reward: bool,
    /// DeepSeek-V3.2's off-policy δ.
    #[serde(default = "default_off_policy_delta")]
    pub off_policy_delta: f32,
    /// Optimizer steps per group of rollouts.
    pub inner_epochs: usize,
    /// β of the KL penalty (0: tracked, not penalized).
    pub kl_beta: f32,
    /// Weight of the format reward (0: off): ours rewards a boxed number,
    /// `plus-format-reward` the think tags, `gdpo` the box.
    pub format_weight: f32,
    /// Skip updates whose advantages are all 0.
    pub skip_zero_advantage: bool,
    /// Global gradient-norm clip.
    pub max_grad_norm: f32,
    /// Held-out evaluation every this many steps (0: only before and after).
    pub eval_every: u64,
    /// Held-out problems (test split, seed 0, the training levels).
    pub eval_n: usize,
    /// A checkpoint every this many steps (and at the end).
    pub checkpoint_every: u64,
    /// Checkpoints kept on disk (older ones are deleted).
    pub keep_checkpoints: usize,
}

/// The dataset of a saved run that predates `--dataset math-train`.
fn default_dataset() -> String {
    "arith".to_string()
}

/// Olmo-3's ε_low when a saved run predates it.
fn default_clip_eps_low() -> f32 {
    Objective::Olmo3.defaults().clip_eps_low
}

/// Olmo-3's ε_high when a saved run predates it.
fn default_clip_eps_high() -> f32 {
    Objective::Olmo3.defaults().clip_eps_high
}

/// DeepSeek-V3.2's δ when a saved run predates it.
fn default_off_policy_delta() -> f32 {
    Objective::DeepseekV32.defaults().off_policy_delta
}

impl TrainOptions {
    /// The objective these options name.
    pub fn objective(&self) -> Result<Objective> {
        Objective::from_name(&self.objective).ok_or_else(|| {
            let names: Vec<&str> = Objective::value_variants()
                .iter()
                .map(|o| o.name())
                .collect();
            Error::InvalidArgument(format!(
                "--objective {}: expected one of {}",
                self.objective,
                names.join(", ")
            ))
        })
    }

    /// The objective's settings as these options give them.
    pub fn objective_settings(&self) -> ObjectiveSettings {
        ObjectiveSettings {
            clip_eps: self.clip_eps,
            clip_eps_low: self.clip_eps_low,
            clip_eps_high: self.clip_eps_high,
            kl_beta: self.kl_beta,
            format_weight: self.format_weight,
            conditional_reward: self.conditional_reward,
            off_policy_delta: self.off_policy_delta,
            inner_epochs: self.inner_epochs,
        }
    }

    /// One line naming the objective and the settings it uses.
    pub fn describe_objective(&self) -> String {
        let Ok(objective) = self.objective() else {
            return format!("objective {}", self.objective);
        };
        let mut parts = match objective {
            Objective::Basic => Vec::new(),
            Objective::Olmo3 => vec![format!(
                "clip ε_low {}, ε_high {}",
                self.clip_eps_low, self.clip_eps_high
            )],
            _ => vec![format!("clip ε {}", self.clip_eps)],
        };
        parts.push(format!("KL β {}", self.kl_beta));
        match objective {
            Objective::DeepseekV32 => parts.push(format!("off-policy δ {}", self.off_policy_delta)),
            Objective::PlusFormatReward if self.conditional_reward => parts.push(format!(
                "think-format reward {} (correct answers only)",
                self.format_weight
            )),
            Objective::PlusFormatReward => {
                parts.push(format!("think-format reward {}", self.format_weight))
            }
            Objective::Gdpo => parts.push(format!("format bonus {}", self.format_weight)),
            _ if self.format_weight > 0.0 => {
                parts.push(format!("boxed-number reward {}", self.format_weight))
            }
            _ => {}
        }
        parts.push(match self.inner_epochs {
            1 => "1 inner epoch".to_string(),
            n if objective.is_book_script() => format!("{n} inner epochs, each on new rollouts"),
            n => format!("{n} inner epochs on one set of rollouts"),
        });
        format!("objective {}: {}", objective.name(), parts.join(", "))
    }

    /// The step settings these options give, with the model's stop ids and the way
    /// its tokenizer marks thinking.
    pub fn step_config(&self, stop_ids: Vec<u32>, markers: ThinkMarkers) -> Result<StepConfig> {
        let objective = self.objective()?;
        let settings = self.objective_settings();
        if self.group < 2 {
            return Err(Error::InvalidArgument(format!(
                "--group {}: GRPO compares responses within a group, so it needs at least 2",
                self.group
            )));
        }
        if self.max_new_tokens == 0 || self.inner_epochs == 0 {
            return Err(Error::InvalidArgument(
                "--max-new-tokens and --inner-epochs must be at least 1".into(),
            ));
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return Err(Error::InvalidArgument(format!(
                "--lr {}: the learning rate must be a positive number",
                self.lr
            )));
        }
        let sampling = SamplingConfig {
            temperature: self.temperature,
            top_k: 0,
            top_p: self.top_p,
        };
        sampling.validate()?;
        Ok(StepConfig {
            group_size: self.group,
            max_new_tokens: self.max_new_tokens,
            sampling,
            stop_ids,
            loss: objective.loss(&settings),
            inner_epochs: self.inner_epochs,
            resample_each_epoch: objective.is_book_script(),
            reward: objective.reward(&settings, markers),
            advantages: objective.advantages(&settings),
            off_policy_delta: objective.off_policy_delta(&settings),
            skip_zero_advantage: self.skip_zero_advantage,
            max_grad_norm: self.max_grad_norm,
        })
    }

    /// Checks every setting (before anything is loaded or written).
    pub fn validate(&self) -> Result<()> {
        self.step_config(Vec::new(), ThinkMarkers::Text)?;
        self.prompt_style()?;
        parse_levels(&self.levels)?;
        if let (None, Some(k)) = (self.lora, self.train_layers) {
            return Err(Error::InvalidArgument(format!(
                "--train-layers {k} needs --lora: a full fine-tune trains every weight"
            )));
        }
        Ok(())
    }

    /// How prompts reach `loaded`: as `--chat`/`--no-chat`/`--thinking` say, else by
    /// model kind.
    pub fn prompt_mode(&self, loaded: &LoadedModel) -> Result<PromptMode> {
        PromptArgs {
            chat: self.chat == Some(true),
            no_chat: self.chat == Some(false),
            thinking: self
                .thinking
                .map(|on| if on { Thinking::On } else { Thinking::Off }),
        }
        .mode(loaded)
    }

    /// The prompt template these options name.
    pub fn prompt_style(&self) -> Result<PromptStyle> {
        match self.prompt.as_str() {
            "one-shot" => Ok(PromptStyle::OneShot),
            "plain" => Ok(PromptStyle::Plain),
            "cot" => Ok(PromptStyle::Cot),
            other => Err(Error::InvalidArgument(format!(
                "--prompt {other}: expected one-shot, plain or cot"
            ))),
        }
    }

    /// AdamW with these options' learning rate and weight decay.
    pub fn adamw(&self) -> AdamWConfig {
        AdamWConfig {
            lr: self.lr,
            weight_decay: self.weight_decay,
            ..AdamWConfig::default()
        }
    }
}
