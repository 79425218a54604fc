//! `cargo run -p ch05`: says what this chapter will hold. `ch05 grads` runs the
//! from-scratch backward pass on a model: the loss of a token sequence and the
//! gradient of every parameter (book ch. 6).

use anyhow::{bail, Result};
use clap::{Parser, Subcommand};

use shared::cli::{exit_code, load_model_verbose, parse_ids};
use shared::models::DEFAULT_MODEL;
use shared::train::{loss_and_grads, Params};

/// How many leading values of each gradient are printed.
const HEAD: usize = 8;

#[derive(Parser)]
#[command(
    name = "ch05",
    about = "Chapter 5: reinforcement learning with verifiable rewards (a from-scratch backward pass so far)",
    long_about = "Without a subcommand, says what the chapter will hold. `ch05 grads` computes the \
                  mean next-token cross-entropy of a token sequence and the gradient of every \
                  parameter with the hand-written backward pass."
)]
struct Cli {
    /// Model: a known name (smollm2-135m-instruct, qwen3-0.6b-base, qwen3-0.6b), a .gguf file or a Hugging Face folder.
    #[arg(long, global = true, default_value = DEFAULT_MODEL)]
    model: String,
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
}

fn main() -> std::process::ExitCode {
    exit_code(run(Cli::parse()))
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        None => {
            println!("{}", ch05::COMING);
            println!(
                "Built so far: `cargo run -p ch05 -- grads --ids 1,2,3` runs the from-scratch backward pass \
                 (loss and every parameter's gradient)."
            );
            Ok(())
        }
        Some(Command::Grads { ids, json }) => grads(&cli.model, &ids, json),
    }
}

fn grads(model: &str, ids: &str, as_json: bool) -> Result<()> {
    let ids = parse_ids(ids)?;
    if ids.len() < 2 {
        bail!(
            "--ids: the next-token loss needs at least 2 token ids (each predicts the next), got {}",
            ids.len()
        );
    }
    let loaded = load_model_verbose(model)?;
    let params = Params::from_model(&loaded.model);
    drop(loaded);
    let start = std::time::Instant::now();
    let (report, grads) = loss_and_grads(&params, &ids)?;
    eprintln!(
        "forward and backward over {} tokens in {:.2} s",
        ids.len(),
        start.elapsed().as_secs_f64()
    );
    let named = grads.tensors.named();
    let l2 = |a: &ndarray::ArrayViewD<f32>| {
        a.iter()
            .map(|&x| (x as f64) * (x as f64))
            .sum::<f64>()
            .sqrt()
    };
    let head = |a: &ndarray::ArrayViewD<f32>| a.iter().take(HEAD).copied().collect::<Vec<f32>>();
    if as_json {
        // Written by hand to keep the parameters in Hugging Face order
        // (serde_json's map would sort them).
        let mut entries = Vec::with_capacity(named.len());
        for (name, g) in &named {
            entries.push(format!(
                "{}:{{\"l2\":{},\"head\":{}}}",
                serde_json::to_string(name)?,
                serde_json::to_string(&l2(g))?,
                serde_json::to_string(&head(g))?
            ));
        }
        println!(
            "{{\"loss\":{},\"grads\":{{{}}}}}",
            serde_json::to_string(&report.loss)?,
            entries.join(",")
        );
        return Ok(());
    }
    println!(
        "loss {:.6} over {} next-token predictions; {} parameters in {} tensors",
        report.loss,
        ids.len() - 1,
        grads.tensors.num_scalars(),
        named.len()
    );
    let width = named.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    println!(
        "{:width$}  {:>12}  first {HEAD} values",
        "parameter", "grad L2"
    );
    for (name, g) in &named {
        let values: Vec<String> = head(g).iter().map(|v| format!("{v:+.6}")).collect();
        println!("{name:width$}  {:>12.6}  {}", l2(g), values.join(" "));
    }
    Ok(())
}
