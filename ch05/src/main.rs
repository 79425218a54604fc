//! `cargo run -p ch05`: a short GRPO run on the default model (a few steps
//! on level-1 arith problems, G = 4) printing each step's metrics and one
//! response. `ch05 train` is the full training run with logs, plots and
//! checkpoints; `ch05 grads` runs the from-scratch backward pass on a model
//! (book ch. 6, 7).

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand};

use ch05::demo::demo;
use ch05::grads::print_grads;
use ch05::plots::redraw_plots;
use ch05::train::train_rlvr_grpo;
use ch05::train_args::{book_train_defaults, TrainArgs};
use shared::cli::{exit_code, ModelArgs};

#[derive(Parser)]
#[command(
    name = "ch05",
    about = "Chapter 5: reinforcement learning with verifiable rewards (GRPO) and the from-scratch backward pass",
    long_about = "Without a subcommand, runs a few GRPO steps on level-1 arith problems and prints each \
                  step's metrics and one response. `ch05 train` trains with GRPO (logs, plots, \
                  checkpoints, --resume); `ch05 grads` prints the loss of a token sequence and the \
                  gradient of every parameter from the hand-written backward pass. `--quantize` is \
                  refused: training needs the f32 weights, and on the CPU the rollouts already \
                  sample from a Q8_0 copy of the policy."
)]
struct Cli {
    #[command(flatten)]
    model: ModelArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Loss of a token sequence and, per parameter (Hugging Face names), its gradient's L2 norm and first values.
    Grads {
        /// The sequence as token ids, e.g. 1,2,3 (at least 2: each token predicts the next).
        #[arg(long)]
        ids: String,
        /// Print one JSON document: {"loss", "grads": {name: {"l2", "head"}}}.
        #[arg(long)]
        json: bool,
    },
    /// Train with GRPO on arith problems (train split), evaluating on held-out ones (test split).
    Train(Box<TrainArgs>),
    /// Redraw a training run's plots (reward.svg/png, held_out_accuracy.svg/png) from its logs.
    Plot {
        /// The `ch05 train --out` folder.
        #[arg(long)]
        out: PathBuf,
    },
}

fn main() -> std::process::ExitCode {
    let matches = Cli::command().get_matches();
    match Cli::from_arg_matches(&matches) {
        Ok(cli) => exit_code(run(cli, &matches)),
        Err(e) => e.exit(),
    }
}

fn run(mut cli: Cli, matches: &ArgMatches) -> Result<()> {
    if let Some(mode) = cli.model.device.quantize {
        bail!(
            "--quantize {mode}: ch05 trains the model's f32 weights, so it does not quantize them \
             (on the CPU its rollouts already sample from a Q8_0 copy of the policy)"
        );
    }
    let model = cli.model.name();
    if let Some(Command::Train(args)) = &mut cli.command {
        args.preset
            .apply(matches, "train", &mut **args, book_train_defaults);
    }
    match &cli.command {
        None => Ok(demo(&cli.model.demo_name(), cli.model.device)?),
        Some(Command::Grads { ids, json }) => print_grads(model, cli.model.device, ids, *json),
        Some(Command::Plot { out }) => {
            redraw_plots(out)?;
            println!("redrew the plots in {}", out.display());
            Ok(())
        }
        Some(Command::Train(args)) => {
            let opts = args.options(model)?;
            let last = train_rlvr_grpo(&opts, cli.model.device, &args.out, args.resume)?;
            let eval = match opts.dataset.as_str() {
                "arith" => format!("--dataset arith --levels {}", opts.levels),
                _ => "--dataset math500".to_string(),
            };
            println!(
                "done: the last checkpoint is {} (try: cargo run --release -p ch03 -- eval {eval} --model {})",
                last.display(),
                last.display()
            );
            Ok(())
        }
    }
}
