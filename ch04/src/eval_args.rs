//! `ch04 eval`'s flags ([`EvalArgs`]), the vote flags it shares with `ch04 revote`
//! ([`VoteArgs`]), and the book's defaults for them (`--preset book`).

use std::path::PathBuf;

use ch03::cli::DatasetArgs;
use ch03::PromptStyle;
use clap::builder::RangedU64ValueParser;
use shared::cli::{non_negative_f32, probability_f32, Preset, PresetName, PromptArgs};

use crate::evaluate::{Method, Ranking};
use crate::self_consistency::{GroupScore, Grouping, TieBreak, VoteRule};
use crate::self_refine::RefineScoring;

/// The flags of `ch04 eval`.
#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// Defaults for the flags not given: ours (shown with each flag), or the book's MATH-500
    /// scripts' (self_consistency_math500.py, best_of_n_math500.py, self_refinement_math500.py):
    /// MATH-500's first 10 problems, N = 3, T 1.0, top-p 1.0, seed 42, the step-by-step prompt,
    /// 2048 new tokens, first-seen ties, the heuristic score, 192-token critiques.
    #[arg(long, value_enum, default_value_t = PresetName::Ours)]
    pub preset: PresetName,
    #[command(flatten)]
    pub source: DatasetArgs,
    /// Evaluate only the first N problems (arith: generate N).
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
    /// Methods to run, comma-separated (run in this order: greedy, cot, self-consistency,
    /// best-of-n, self-refine). Self-consistency generates the largest N once and votes
    /// each smaller N on its first samples (the same seeds); best-of-n by logprob ranks
    /// the self-consistency samples of the same N when both run.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [Method::Greedy, Method::Cot, Method::SelfConsistency, Method::BestOfN])]
    pub method: Vec<Method>,
    /// Samples (self-consistency, best-of-n) or rounds (self-refine), comma-separated, each 1 to 1024.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 3, 5, 9], value_parser = RangedU64ValueParser::<usize>::new().range(1..=1024))]
    pub n: Vec<usize>,
    /// Sampling temperature.
    #[arg(long, default_value_t = 0.8, value_parser = non_negative_f32)]
    pub temperature: f32,
    /// Top-p of sampling.
    #[arg(long, default_value_t = 0.9, value_parser = probability_f32)]
    pub top_p: f32,
    /// Seed of the samples (sample i uses seed + i + 1) and of the arith problems.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Prompt of the sampling methods.
    #[arg(long, value_enum, default_value_t = PromptStyle::Cot)]
    pub prompt: PromptStyle,
    #[command(flatten)]
    pub prompt_args: PromptArgs,
    /// Most tokens per answer.
    #[arg(long, default_value_t = 256)]
    pub max_new_tokens: usize,
    /// Most tokens per self-refinement critique.
    #[arg(long, default_value_t = 256)]
    pub critique_max_new_tokens: usize,
    /// How best-of-n ranks samples (and self-refine scores revisions).
    #[arg(long, value_enum, default_value_t = Ranking::AvgLogprob)]
    pub ranking: Ranking,
    /// How self-refinement scores a draft and its revision (a revision is kept if its score
    /// does not drop): none (every revision kept), heuristic, logprob (the whole answer),
    /// logprob-extract (only its boxed answer) [default: as --ranking].
    #[arg(long, value_enum)]
    pub refine_scoring: Option<RefineScoring>,
    /// How self-consistency settles a tie.
    #[arg(long, value_enum, default_value_t = TieBreak::Report)]
    pub tie_break: TieBreak,
    #[command(flatten)]
    pub vote: VoteArgs,
    /// Output folder: `<method>-n<N>.jsonl`, `results.md`, `accuracy_vs_n.{svg,png}`, `accuracy_vs_tokens.{svg,png}`.
    #[arg(long, default_value = "ch04-eval")]
    pub out: PathBuf,
    /// Continue the logs already in --out.
    #[arg(long)]
    pub resume: bool,
}

/// How self-consistency counts votes, beside the tie rule (`eval` and `revote`).
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct VoteArgs {
    /// Which answers vote together: equivalent (ours: the ch03 verifier groups `1/2` and
    /// `0.5`) or exact (the book's: identical strings).
    #[arg(long, value_enum, default_value_t = Grouping::Equivalent)]
    pub grouping: Grouping,
    /// How a tied answer's samples' scores combine for the logprob and heuristic
    /// tie-breaks: mean (ours) or max (the book's scorer script).
    #[arg(long, value_enum, default_value_t = GroupScore::Mean)]
    pub group_score: GroupScore,
    /// Stop counting at the first sample whose answer then holds more than half of the
    /// N samples (the book's --early_stop); the record's tokens count only the samples
    /// the vote used, what sampling one at a time would have spent.
    #[arg(long)]
    pub early_stop: bool,
}

impl VoteArgs {
    /// The vote rule with `tie_break`.
    pub fn rule(&self, tie_break: TieBreak) -> VoteRule {
        VoteRule {
            tie_break,
            grouping: self.grouping,
            group_score: self.group_score,
            early_stop: self.early_stop,
        }
    }
}

/// The book's MATH-500 scripts' defaults, for `--preset book`.
pub fn book_eval_defaults(args: &mut EvalArgs, preset: &mut Preset) {
    preset.set("dataset", &mut args.source.dataset, "math500".to_string());
    preset.set("limit", &mut args.limit, 10);
    preset.set_shown("n", &mut args.n, vec![3], "3");
    preset.set("temperature", &mut args.temperature, 1.0);
    preset.set("top_p", &mut args.top_p, 1.0);
    preset.set("seed", &mut args.seed, 42);
    preset.set_choice("prompt", &mut args.prompt, PromptStyle::Cot);
    preset.set("max_new_tokens", &mut args.max_new_tokens, 2048);
    preset.set_choice("tie_break", &mut args.tie_break, TieBreak::FirstSeen);
    preset.set_choice("grouping", &mut args.vote.grouping, Grouping::Exact);
    preset.set_choice("group_score", &mut args.vote.group_score, GroupScore::Max);
    preset.set_choice("ranking", &mut args.ranking, Ranking::Heuristic);
    preset.set(
        "critique_max_new_tokens",
        &mut args.critique_max_new_tokens,
        192,
    );
    preset.set_shown(
        "refine_scoring",
        &mut args.refine_scoring,
        Some(RefineScoring::Heuristic),
        "heuristic",
    );
    preset.note(
        "(prompts by model kind: raw for a base model, the chat template for a reasoning one)",
    );
}
