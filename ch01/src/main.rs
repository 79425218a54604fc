//! `cargo run -p ch01`: how an LLM predicts the next token, and what changes
//! when it is asked to reason step by step. Subcommand `next-token`.

use anyhow::Result;
use clap::{Parser, Subcommand};
use serde_json::json;

use ch01::{
    format_distribution, next_token_distribution, side_by_side, toy_causal_attention, toy_softmax,
};
use shared::cli::{exit_code, load_model_on, prompt_ids, DeviceArgs, ModelArgs, PromptArgs};
use shared::generate::generate_text_basic_cache;
use shared::loader::LoadedModel;

#[derive(Parser)]
#[command(
    name = "ch01",
    about = "Chapter 1: what reasoning means, and how an LLM predicts the next token",
    long_about = "Without a subcommand, runs the chapter's demo: softmax on toy logits, the real model's \
                  next-token distribution, an answer-only prompt beside a step-by-step one, and causal \
                  attention weights on toy tensors."
)]
struct Cli {
    #[command(flatten)]
    model: ModelArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// The most likely next tokens after a prompt, with their probabilities.
    NextToken {
        /// The prompt text.
        #[arg(long, conflicts_with = "ids", required_unless_present = "ids")]
        prompt: Option<String>,
        #[command(flatten)]
        prompt_args: PromptArgs,
        /// Prompt as token ids, e.g. 1,2,3 (works for models without a tokenizer).
        #[arg(long)]
        ids: Option<String>,
        /// How many candidates to show.
        #[arg(long, default_value_t = 10)]
        top: usize,
        /// Print one JSON document: {"input_ids", "top": [{"id", "token", "logit", "prob"}]}.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> std::process::ExitCode {
    exit_code(run(Cli::parse()))
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        None => demo(&cli.model.demo_name(), cli.model.device),
        Some(Command::NextToken {
            prompt,
            prompt_args,
            ids,
            top,
            json,
        }) => {
            let loaded = cli.model.load()?;
            let input_ids = prompt_ids(&loaded, prompt.as_deref(), ids.as_deref(), &prompt_args)?;
            let dist =
                next_token_distribution(&loaded.model, loaded.tokenizer.as_ref(), &input_ids, top)?;
            if json {
                println!("{}", json!({ "input_ids": input_ids, "top": dist }));
            } else {
                print!("{}", format_distribution(&dist));
            }
            Ok(())
        }
    }
}

/// Greedy answer to one chat prompt.
fn answer(loaded: &LoadedModel, prompt: &str, max_new_tokens: usize) -> Result<String> {
    let ids = loaded.encode_prompt(prompt, true)?;
    let g = generate_text_basic_cache(
        &loaded.model,
        &ids,
        max_new_tokens,
        &loaded.stop_ids(),
        &mut |_| {},
    )?;
    Ok(loaded.tokenizer()?.decode(&g.ids))
}

/// The chapter's walk-through, with the model on `device`.
fn demo(model: &str, device: DeviceArgs) -> Result<()> {
    println!(
        "== 1.2 An LLM scores every token; softmax turns scores into probabilities (toy logits)"
    );
    print!("{}", toy_softmax());

    let loaded = load_model_on(model, device)?;
    let prompt = "The capital of France is";
    println!(
        "\n== 1.3 Pattern matching: the real model's next-token distribution after {prompt:?}"
    );
    let ids = loaded.encode_prompt(prompt, false)?;
    print!(
        "{}",
        format_distribution(&next_token_distribution(
            &loaded.model,
            loaded.tokenizer.as_ref(),
            &ids,
            10
        )?)
    );

    println!("\n== 1.4 Answer only vs step by step (greedy, same question)");
    let question =
        "A shop sells pens for 3 dollars each. Tom buys 4 pens and pays with a 20 dollar bill. \
                    How much change does he get?";
    let direct = answer(
        &loaded,
        &format!("{question} Answer with only the final number."),
        96,
    )?;
    let stepwise = answer(
        &loaded,
        &format!("{question} Let's think step by step."),
        320,
    )?;
    print!(
        "{}",
        side_by_side("answer only", &direct, "step by step", &stepwise, 38)
    );
    println!("(the right answer is 8: 20 - 4 x 3)");

    println!("\n== 1.5 Inside the model: causal attention weights on toy embeddings");
    println!("each row: how much that token attends to itself and the tokens before it");
    print!("{}", toy_causal_attention());
    Ok(())
}
