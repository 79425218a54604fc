//! `cargo run -p ch03`: the grader's demo table, then a mini evaluation of
//! arithmetic problems with plain and chain-of-thought prompts. Subcommands
//! `grade`, `data` and `eval` expose the chapter's tools.

use std::path::PathBuf;

use anyhow::Result;
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand};

use ch03::cli::{book_eval_defaults, DataCommand, EvalArgs};
use ch03::commands::{demo, grade_jsonl, grade_one, regrade, run_eval, write_dataset};
use shared::cli::{exit_code, ModelArgs};

#[derive(Parser)]
#[command(
    name = "ch03",
    about = "Chapter 3: evaluating reasoning: a math verifier, datasets, an evaluation runner, chain-of-thought prompting",
    long_about = "Without a subcommand, runs the chapter's demo: the grader's table of the book's test cases, \
                  then a mini evaluation of 20 arithmetic word problems with the plain and the \
                  chain-of-thought prompt (on qwen2.5-coder-0.5b-instruct unless --model says otherwise, fetched on first use)."
)]
struct Cli {
    #[command(flatten)]
    model: ModelArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Grade an answer against a ground truth (one pair, or a JSON-lines file of pairs).
    Grade {
        /// The prediction: an extracted answer, or a whole response (its last \boxed{} is taken).
        #[arg(long, required_unless_present = "jsonl", requires = "gt")]
        pred: Option<String>,
        /// The ground-truth answer.
        #[arg(long)]
        gt: Option<String>,
        /// A JSON-lines file: each line has `answer` (or `gt`) and `response` (a full
        /// response, extracted first) or `pred` (an extracted answer). Prints one
        /// {"extracted", "correct"} line per input line.
        #[arg(long, conflicts_with_all = ["pred", "gt"])]
        jsonl: Option<PathBuf>,
        /// Print {"extracted": …, "correct": …} instead of correct/incorrect.
        #[arg(long)]
        json: bool,
    },
    /// Write a dataset to a file.
    Data {
        #[command(subcommand)]
        dataset: DataCommand,
    },
    /// Evaluate the model on a dataset: a progress bar, one JSON line per problem, a summary.
    Eval(EvalArgs),
    /// Grade an `eval` log again with the current verifier (no generation) and print its summary.
    Regrade {
        /// The JSON-lines log written by `eval --out`; rewritten in place, atomically.
        #[arg(long)]
        log: PathBuf,
        /// Only print the summary; keep the verdicts in the log as they are.
        #[arg(long)]
        dry_run: bool,
    },
}

fn main() -> std::process::ExitCode {
    let matches = Cli::command().get_matches();
    match Cli::from_arg_matches(&matches) {
        Ok(cli) => exit_code(run(cli, &matches)),
        Err(e) => e.exit(),
    }
}

fn run(cli: Cli, matches: &ArgMatches) -> Result<()> {
    match cli.command {
        None => demo(&cli.model.demo_name(), cli.model.device),
        Some(Command::Grade {
            pred,
            gt,
            jsonl,
            json,
        }) => match jsonl {
            Some(path) => grade_jsonl(&path),
            None => grade_one(
                pred.as_deref().unwrap_or_default(),
                gt.as_deref().unwrap_or_default(),
                json,
            ),
        },
        Some(Command::Data { dataset }) => write_dataset(dataset),
        Some(Command::Eval(mut args)) => {
            args.preset
                .apply(matches, "eval", &mut args, book_eval_defaults);
            run_eval(cli.model.name(), cli.model.device, &args)
        }
        Some(Command::Regrade { log, dry_run }) => regrade(&log, dry_run),
    }
}
