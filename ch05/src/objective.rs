//! The policy objectives `ch05 train --objective` offers (book ch. 6, 7): ours, and
//! the book's chapter-7 scripts by their names, each with that script's defaults.
//!
//! | objective | advantages | policy term | KL (β) | reward |
//! | --- | --- | --- | --- | --- |
//! | `basic` (`ch06.py`) | `(r − mean)/(std + 1e-4)` | `−A·Σ log π` | ours: k3 per token (0.02) | boxed answer |
//! | `clipped` (ours) | same | PPO's clip per token (ε 0.2) | k3 per token (0.02) | boxed answer |
//! | `clip-ratio` (`7_4`) | same | clipped ratio of the whole sequence (ε 10) | none | boxed answer |
//! | `plus-kl` (`7_5`) | same | same | `Σ log π − Σ log π_ref` (0.001) | boxed answer |
//! | `plus-format-reward` (`7_6`) | same | same | same (0) | + `<think>…</think>` (1.0) |
//! | `olmo3` (`olmo3_style`) | `r − mean` (Dr. GRPO) | truncated ratio per token, clip-higher (0.2, 10), token mean | same (0) | boxed answer |
//! | `deepseek-v32` | group-normalized, off-policy mask (δ 0.1) | as `clip-ratio` | importance-weighted k1 (0) | boxed answer |
//! | `gdpo` | correctness and format normalized apart | as `clip-ratio` | as `plus-kl` (0.02) | correct + 0.1·boxed |
//!
//! The book's objectives (every one but `basic` and `clipped`) sample new rollouts in
//! each inner epoch from the policy as the step found it, as the book's loop does;
//! `clipped` reuses one set of rollouts for every epoch (PPO).

use crate::advantage::AdvantageRule;
use crate::grpo::{GrpoLossConfig, KlEstimator, PolicyObjective};
use crate::reward::{RewardRule, ThinkMarkers};

/// A `ch05 train --objective`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Objective {
    /// Book ch. 6: `−A·Σ log π`, with our k3 KL per token.
    #[value(name = "basic", alias = "grpo")]
    Basic,
    /// Ours: PPO's clipped importance ratio per token and the k3 KL per token.
    #[value(name = "clipped")]
    Clipped,
    /// The book's `7_4_plus_clip_ratio.py`: the clipped ratio of whole sequences (ε 10).
    #[value(name = "clip-ratio", alias = "book-clip-ratio")]
    ClipRatio,
    /// The book's `7_5_plus_kl.py`: `clip-ratio` plus β·(log π(y) − log π_ref(y)).
    #[value(name = "plus-kl")]
    PlusKl,
    /// The book's `7_6_plus_format_reward.py`: `plus-kl` with a reward for `<think>…</think>`.
    #[value(name = "plus-format-reward")]
    PlusFormatReward,
    /// The book's `olmo3_style.py`: Dr. GRPO advantages, per-token truncated and clip-higher ratio.
    #[value(name = "olmo3")]
    Olmo3,
    /// The book's `deepseek_v32_style.py`: off-policy mask and importance-weighted KL.
    #[value(name = "deepseek-v32")]
    DeepseekV32,
    /// The book's `gdpo.py`: correctness and format advantages normalized apart.
    #[value(name = "gdpo")]
    Gdpo,
}

/// The settings an objective takes, with its script's defaults where a flag is not given.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ObjectiveSettings {
    /// ε of the clipped ratio (`clipped`, `clip-ratio` and those built on it).
    pub clip_eps: f32,
    /// Olmo-3's ε_low and ε_high.
    pub clip_eps_low: f32,
    /// Olmo-3's ε_high.
    pub clip_eps_high: f32,
    /// β of the KL term.
    pub kl_beta: f32,
    /// Weight of the format reward (ours: the boxed number; `plus-format-reward`: the
    /// think tags; `gdpo`: the format bonus).
    pub format_weight: f32,
    /// `plus-format-reward`: the format reward only for a correct answer.
    pub conditional_reward: bool,
    /// DeepSeek-V3.2's off-policy δ.
    pub off_policy_delta: f32,
    /// Optimizer steps per training step.
    pub inner_epochs: usize,
}

impl Objective {
    /// Parses a saved name (`train_config.json`), the aliases included.
    pub fn from_name(name: &str) -> Option<Objective> {
        <Objective as clap::ValueEnum>::from_str(name, false).ok()
    }

    /// The name `--objective` takes.
    pub fn name(self) -> &'static str {
        match self {
            Objective::Basic => "basic",
            Objective::Clipped => "clipped",
            Objective::ClipRatio => "clip-ratio",
            Objective::PlusKl => "plus-kl",
            Objective::PlusFormatReward => "plus-format-reward",
            Objective::Olmo3 => "olmo3",
            Objective::DeepseekV32 => "deepseek-v32",
            Objective::Gdpo => "gdpo",
        }
    }

    /// Whether this is one of the book's chapter-7 scripts (not ours or ch. 6's).
    pub fn is_book_script(self) -> bool {
        !matches!(self, Objective::Basic | Objective::Clipped)
    }

    /// The defaults of the script this objective follows (ours for `basic` and
    /// `clipped`): the values each flag takes when it is not given.
    pub fn defaults(self) -> ObjectiveSettings {
        let ours = ObjectiveSettings {
            clip_eps: 0.2,
            clip_eps_low: 0.2,
            clip_eps_high: 10.0,
            kl_beta: 0.02,
            format_weight: 0.0,
            conditional_reward: false,
            off_policy_delta: 0.1,
            inner_epochs: 1,
        };
        // 7_4's command line: ε 10, two inner epochs, no KL.
        let book = ObjectiveSettings {
            clip_eps: 10.0,
            kl_beta: 0.0,
            inner_epochs: 2,
            ..ours
        };
        match self {
            Objective::Basic | Objective::Clipped => ours,
            Objective::ClipRatio | Objective::Olmo3 | Objective::DeepseekV32 => book,
            Objective::PlusKl => ObjectiveSettings {
                kl_beta: 0.001,
                ..book
            },
            Objective::PlusFormatReward => ObjectiveSettings {
                format_weight: 1.0,
                inner_epochs: 1,
                ..book
            },
            Objective::Gdpo => ObjectiveSettings {
                kl_beta: 0.02,
                format_weight: 0.1,
                ..book
            },
        }
    }

    /// The loss this objective uses with `settings`.
    pub fn loss(self, settings: &ObjectiveSettings) -> GrpoLossConfig {
        let book_clip = PolicyObjective::BookClipRatio {
            eps: settings.clip_eps,
        };
        let (objective, kl_estimator) = match self {
            Objective::Basic => (PolicyObjective::Basic, KlEstimator::K3PerToken),
            Objective::Clipped => (
                PolicyObjective::Clipped {
                    eps: settings.clip_eps,
                },
                KlEstimator::K3PerToken,
            ),
            Objective::ClipRatio
            | Objective::PlusKl
            | Objective::PlusFormatReward
            | Objective::Gdpo => (book_clip, KlEstimator::BookSequenceK1),
            Objective::Olmo3 => (
                PolicyObjective::Olmo3 {
                    eps_low: settings.clip_eps_low,
                    eps_high: settings.clip_eps_high,
                },
                KlEstimator::BookSequenceK1,
            ),
            Objective::DeepseekV32 => (book_clip, KlEstimator::BookImportanceWeightedK1),
        };
        GrpoLossConfig {
            objective,
            kl_beta: settings.kl_beta,
            kl_estimator,
        }
    }

    /// How this objective rewards a response; `markers` says how `<think>` is found
    /// (only `plus-format-reward` uses them).
    pub fn reward(self, settings: &ObjectiveSettings, markers: ThinkMarkers) -> RewardRule {
        match self {
            Objective::PlusFormatReward => RewardRule::BookThinkFormat {
                weight: settings.format_weight,
                conditional: settings.conditional_reward,
                markers,
            },
            Objective::Gdpo => RewardRule::Gdpo {
                format_coeff: settings.format_weight,
            },
            _ => RewardRule::Boxed {
                format_weight: settings.format_weight,
            },
        }
    }

    /// How this objective turns rewards into advantages.
    pub fn advantages(self, settings: &ObjectiveSettings) -> AdvantageRule {
        match self {
            Objective::Olmo3 => AdvantageRule::DrGrpo,
            Objective::Gdpo => AdvantageRule::Gdpo {
                format_coeff: settings.format_weight,
            },
            _ => AdvantageRule::GroupNormalized,
        }
    }

    /// DeepSeek-V3.2's off-policy δ, for that objective only.
    pub fn off_policy_delta(self, settings: &ObjectiveSettings) -> Option<f32> {
        (self == Objective::DeepseekV32).then_some(settings.off_policy_delta)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;

    #[test]
    fn every_name_parses_back_and_the_old_names_still_do() {
        for objective in Objective::value_variants() {
            assert_eq!(Objective::from_name(objective.name()), Some(*objective));
        }
        assert_eq!(Objective::from_name("grpo"), Some(Objective::Basic));
        assert_eq!(
            Objective::from_name("book-clip-ratio"),
            Some(Objective::ClipRatio)
        );
        assert_eq!(Objective::from_name("ppo"), None);
    }

    #[test]
    fn the_book_objectives_take_their_scripts_defaults() {
        assert_eq!(Objective::ClipRatio.defaults().clip_eps, 10.0);
        assert_eq!(Objective::PlusKl.defaults().kl_beta, 0.001);
        assert_eq!(Objective::PlusFormatReward.defaults().format_weight, 1.0);
        assert_eq!(Objective::Gdpo.defaults().format_weight, 0.1);
        assert_eq!(Objective::Clipped.defaults().clip_eps, 0.2);
        let s = Objective::Olmo3.defaults();
        assert_eq!(
            Objective::Olmo3.loss(&s).objective,
            PolicyObjective::Olmo3 {
                eps_low: 0.2,
                eps_high: 10.0
            }
        );
        assert_eq!(Objective::Olmo3.advantages(&s), AdvantageRule::DrGrpo);
        assert_eq!(
            Objective::DeepseekV32.loss(&s).kl_estimator,
            KlEstimator::BookImportanceWeightedK1
        );
        assert_eq!(Objective::DeepseekV32.off_policy_delta(&s), Some(0.1));
        assert_eq!(Objective::PlusKl.off_policy_delta(&s), None);
    }
}
