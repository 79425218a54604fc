//! `cargo run -p ch04`: how temperature and top-p reshape a next-token
//! distribution, then one self-consistency vote. `ch04 eval` compares the
//! inference-time scaling methods on a dataset, with a table and plots.

use std::path::PathBuf;

use anyhow::Result;
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand};

use ch04::demo::demo;
use ch04::eval_args::{book_eval_defaults, EvalArgs, VoteArgs};
use ch04::eval_run::run_eval;
use ch04::revote::revote;
use ch04::self_consistency::TieBreak;
use shared::cli::{exit_code, ModelArgs};

#[derive(Parser)]
#[command(
    name = "ch04",
    about = "Chapter 4: inference-time scaling: sampling, self-consistency, best-of-N, self-refinement",
    long_about = "Without a subcommand, runs the chapter's demo: how temperature and top-p reshape the \
                  model's next-token distribution, then one self-consistency vote on an arithmetic \
                  problem (on qwen2.5-coder-0.5b-instruct unless --model says otherwise, fetched on first use)."
)]
struct Cli {
    #[command(flatten)]
    model: ModelArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Evaluate methods on a dataset: JSON lines per method and N, a results table, plots.
    Eval(EvalArgs),
    /// Vote a self-consistency log again with another tie rule, from the answers and
    /// log-probabilities it holds (no generation).
    Revote {
        /// A self-consistency log written by `eval` (e.g. ch04-eval/self-consistency-n3.jsonl).
        #[arg(long)]
        log: PathBuf,
        /// How to settle a tie.
        #[arg(long, value_enum, default_value_t = TieBreak::AvgLogprob)]
        tie_break: TieBreak,
        #[command(flatten)]
        vote: VoteArgs,
        /// Also write the revoted records here (JSON lines; must not exist yet).
        #[arg(long)]
        out: Option<PathBuf>,
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
        Some(Command::Eval(mut args)) => {
            args.preset
                .apply(matches, "eval", &mut args, book_eval_defaults);
            run_eval(cli.model.name(), cli.model.device, &args)
        }
        Some(Command::Revote {
            log,
            tie_break,
            vote,
            out,
        }) => revote(&log, vote.rule(tie_break), out.as_deref()),
    }
}
