//! The command line's flags that are more than a line or two: `ch03 eval`'s
//! ([`EvalArgs`], with the book's defaults for `--preset book`), the dataset flags it shares
//! with `ch04 eval` ([`DatasetArgs`]), and `ch03 data`'s datasets.

use std::path::PathBuf;

use clap::builder::RangedU64ValueParser;
use clap::Subcommand;
use shared::cli::{Preset, PresetName, PromptArgs};

use shared::Result;

use crate::arith::Split;
use crate::dataset::load_dataset;
use crate::problem::Problem;
use crate::prompts::PromptStyle;

/// `ch03 data`: which dataset to write.
#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Generated multi-step arithmetic word problems (MATH-500's fields, integer answers).
    Arith {
        /// How many problems.
        #[arg(long, default_value_t = 500)]
        n: usize,
        /// Seed: the same seed gives the same problems on every machine.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Difficulty levels, e.g. 1-5, 2 or 1,3.
        #[arg(long, default_value = "1-5")]
        levels: String,
        /// Which split: train and test never share a problem.
        #[arg(long, value_enum, default_value_t = Split::Test)]
        split: Split,
        /// Output file (JSON array, like math500_test.json).
        #[arg(long)]
        out: PathBuf,
    },
    /// MATH-500: download it once into the cache (or copy it from --data) and write it to --out.
    Math500 {
        /// A local math500_test.json to read instead of the cache or the download.
        #[arg(long)]
        data: Option<PathBuf>,
        /// Output file.
        #[arg(long)]
        out: PathBuf,
    },
    /// The book's MATH training set (12,000 problems, none in MATH-500; what ch05 trains on
    /// with --dataset math-train): download it once into the cache (or copy it from --data)
    /// and write it to --out.
    MathTrain {
        /// A local math_train.json to read instead of the cache or the download.
        #[arg(long)]
        data: Option<PathBuf>,
        /// Output file.
        #[arg(long)]
        out: PathBuf,
    },
}

/// `--dataset`, `--data` and `--levels`: which problems an evaluation poses (`ch03 eval`,
/// `ch04 eval`).
#[derive(Debug, clap::Args)]
pub struct DatasetArgs {
    /// arith (generated, test split), math500, math-train (the book's MATH training set), or a
    /// path to a JSON/JSON-lines file of problems.
    #[arg(long, default_value = "arith")]
    pub dataset: String,
    /// A local math500_test.json or math_train.json (for --dataset math500 or math-train)
    /// instead of the cache or the download.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Levels for --dataset arith, e.g. 1-5.
    #[arg(long, default_value = "1-5")]
    pub levels: String,
}

impl DatasetArgs {
    /// The first `limit` problems of the dataset ([`load_dataset`]; `seed` generates arith).
    pub fn load(&self, limit: Option<usize>, seed: u64) -> Result<Vec<Problem>> {
        load_dataset(
            &self.dataset,
            self.data.as_deref(),
            limit,
            seed,
            &self.levels,
        )
    }
}

/// The flags of `ch03 eval`.
#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// Defaults for the flags not given: ours (shown with each flag), or the book's
    /// evaluate_math500.py (MATH-500, its first 10 problems, the plain prompt, 2048 new
    /// tokens; raw prompts for a base model, the chat template for a reasoning one).
    #[arg(long, value_enum, default_value_t = PresetName::Ours)]
    pub preset: PresetName,
    #[command(flatten)]
    pub source: DatasetArgs,
    /// Evaluate only the first N problems (arith: generate N).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Seed for --dataset arith.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Prompt: plain (the book's render_prompt), cot (+ "Explain step by step.") or
    /// one-shot (one worked example first, what ch05 trains with).
    #[arg(long, value_enum, default_value_t = PromptStyle::Plain)]
    pub prompt: PromptStyle,
    #[command(flatten)]
    pub prompt_args: PromptArgs,
    /// Most tokens per answer.
    #[arg(long, default_value_t = 512)]
    pub max_new_tokens: usize,
    /// The JSON-lines log (default: `ch03-eval-<dataset>-<prompt>.jsonl`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Continue an existing --out log, skipping the problems already in it.
    #[arg(long)]
    pub resume: bool,
    /// Problems decoded at once (continuous batching: a finished problem's
    /// slot takes the next one). The records are the same as with 1, which
    /// poses them one by one; several times faster on a CPU. 1 to 256 (each slot holds
    /// its own KV cache).
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = RangedU64ValueParser::<usize>::new().range(1..=256))]
    pub batch: usize,
}

/// The book's `evaluate_math500.py` defaults, for `--preset book`.
pub fn book_eval_defaults(args: &mut EvalArgs, preset: &mut Preset) {
    preset.set("dataset", &mut args.source.dataset, "math500".to_string());
    preset.set_shown("limit", &mut args.limit, Some(10), "10");
    preset.set_choice("prompt", &mut args.prompt, PromptStyle::Plain);
    preset.set("max_new_tokens", &mut args.max_new_tokens, 2048);
    preset.note("(greedy; prompts by model kind: raw for a base model, the chat template for a reasoning one)");
}
