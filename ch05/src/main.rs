//! `cargo run -p ch05`: a short GRPO run on the default model (a few steps
//! on level-1 arith problems, G = 4) printing each step's metrics and one
//! response. `ch05 train` is the full training run with logs, plots and
//! checkpoints; `ch05 grads` runs the from-scratch backward pass on a model
//! (book ch. 6, 7).

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::builder::RangedU64ValueParser;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use ch05::objective::Objective;
use ch05::options::TrainOptions;
use ch05::plots::{held_out_rows, redraw_plots};
use ch05::reward::think_markers;
use ch05::run::{format_step, new_policy, run_problems, run_train};
use ch05::trainer::Trainer;
use shared::cli::{
    demo_model, exit_code, load_model_on, load_model_verbose, non_negative_f32, parse_ids,
    positive_f32, probability_f32, DeviceArgs, Preset, PresetName, PromptArgs, Thinking,
};
use shared::device::Device;
use shared::models::DEFAULT_MODEL;
use shared::train::{loss_and_grads, Params};

/// How many leading values of each gradient are printed.
const HEAD: usize = 8;

/// Steps of the demo.
const DEMO_STEPS: u64 = 4;

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
    /// Model: a known name (smollm2-135m-instruct, qwen3-0.6b-base, qwen3-0.6b, qwen2.5-coder-0.5b-instruct), a .gguf file or a Hugging Face folder (e.g. a checkpoint, DIR/step-000100).
    /// [default: smollm2-135m-instruct; the demo: qwen2.5-coder-0.5b-instruct, which can show the lesson]
    #[arg(long, global = true)]
    model: Option<String>,
    #[command(flatten, next_help_heading = "Device")]
    device: DeviceArgs,
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

#[derive(Args)]
struct TrainArgs {
    /// Defaults for the flags not given: ours (shown with each flag), or the book's GRPO
    /// script's (rlvr_grpo_original_no_kl.py, and with --objective a chapter-7 script's):
    /// T 0.8, top-p 0.9, seed 42, 512 new tokens, AdamW weight decay 0.01, the plain prompt,
    /// no KL for basic, no skipping of zero-advantage groups.
    #[arg(long, value_enum, default_value_t = PresetName::Ours)]
    preset: PresetName,
    /// Training data: `arith` (generated problems of the train split; the held-out ones come
    /// from the test split) or `math-train` (the book's 12,000 MATH training problems, from
    /// --data, else the cache, else a download; held out: MATH-500's first --eval-n).
    #[arg(long, default_value = "arith")]
    dataset: String,
    /// --dataset math-train: a local copy of the book's math_train.json.
    #[arg(long, value_name = "PATH")]
    data: Option<PathBuf>,
    /// Difficulty levels of the problems, e.g. 1-2 or 1,3.
    #[arg(long, default_value = "1-2")]
    levels: String,
    /// Prompt: one-shot (the book's prompt with one worked example; the default model
    /// rarely boxes a number without it) or plain (the book's render_prompt) or cot.
    #[arg(long, default_value = "one-shot")]
    prompt: String,
    #[command(flatten)]
    prompt_args: PromptArgs,
    /// Training steps (one problem and G responses each).
    #[arg(long, default_value_t = 150)]
    steps: u64,
    /// G: responses sampled per problem (2 to 1024).
    #[arg(long, default_value_t = 8, value_parser = RangedU64ValueParser::<usize>::new().range(2..=1024))]
    group: usize,
    /// AdamW learning rate.
    #[arg(long, default_value_t = 1e-5, value_parser = positive_f32)]
    lr: f32,
    /// AdamW decoupled weight decay.
    #[arg(long, default_value_t = 0.0, value_parser = non_negative_f32)]
    weight_decay: f32,
    /// The most tokens per response (rollouts and held-out answers).
    #[arg(long, default_value_t = 64)]
    max_new_tokens: usize,
    /// Seed of the training problems and the rollouts.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output folder: metrics.csv, held_out.csv, rollouts.jsonl, plots, checkpoints step-NNNNNN/.
    #[arg(long)]
    out: PathBuf,
    /// Train LoRA adapters of this rank on every attention and MLP projection instead of every weight.
    #[arg(long)]
    lora: Option<usize>,
    /// With --lora: adapt only the top K blocks (fewer tapes and gradients: faster steps,
    /// less memory); the blocks below stay as loaded.
    #[arg(long, value_name = "K")]
    train_layers: Option<usize>,
    /// Continue the run in --out from its last checkpoint (same settings; --steps may grow).
    #[arg(long)]
    resume: bool,
    /// Rollout temperature (low enough that the small default model is sometimes right).
    #[arg(long, default_value_t = 0.4, value_parser = non_negative_f32)]
    temperature: f32,
    /// Rollout top-p (1 keeps the whole distribution).
    #[arg(long, default_value_t = 1.0, value_parser = probability_f32)]
    top_p: f32,
    /// Policy objective: ours (basic, clipped) or one of the book's chapter-7 scripts by
    /// name; each takes its script's defaults for the flags below (ch05/README.md has
    /// the formulas side by side).
    #[arg(long, value_enum, default_value_t = Objective::Basic)]
    objective: Objective,
    /// Clip range ε of the clipped ratio [default: 0.2 for clipped, 10 for the book's scripts].
    #[arg(long, value_parser = positive_f32)]
    clip_eps: Option<f32>,
    /// --objective olmo3: the lower clip range ε_low [default: 0.2].
    #[arg(long, value_parser = positive_f32)]
    clip_eps_low: Option<f32>,
    /// --objective olmo3: the upper clip range ε_high, also where the ratio is truncated [default: 10].
    #[arg(long, value_parser = positive_f32)]
    clip_eps_high: Option<f32>,
    /// Optimizer steps per training step [default: 1; 2 for the book's scripts but
    /// plus-format-reward]. The book's scripts sample new rollouts for each (from the
    /// policy as the step found it); clipped reuses one set of rollouts.
    #[arg(long)]
    inner_epochs: Option<usize>,
    /// β of the KL penalty to the starting model; 0: the KL is tracked, not penalized
    /// [default: 0.02 for basic, clipped and gdpo; 0.001 for plus-kl; 0 for the others].
    #[arg(long, visible_alias = "kl-coeff", value_parser = non_negative_f32)]
    kl_beta: Option<f32>,
    /// Weight of the format reward, 0 turns it off: ours rewards a boxed number, plus-format-reward
    /// `<think>…</think>`, gdpo a box [default: 0; 1 for plus-format-reward; 0.1 for gdpo].
    #[arg(long, visible_aliases = ["format-reward-weight", "format-coeff"], value_parser = non_negative_f32)]
    format_weight: Option<f32>,
    /// --objective plus-format-reward: count the format reward only for a correct answer.
    #[arg(long)]
    conditional_reward: bool,
    /// --objective deepseek-v32: a response with a negative advantage whose policy drifted
    /// more than this per token since it was sampled gets advantage 0 [default: 0.1].
    #[arg(long, value_parser = non_negative_f32)]
    off_policy_delta: Option<f32>,
    /// Update even when every advantage of a group is 0 (by default such groups are skipped).
    #[arg(long)]
    no_skip_zero_advantage: bool,
    /// Global gradient-norm clip.
    #[arg(long, default_value_t = 1.0, value_parser = positive_f32)]
    max_grad_norm: f32,
    /// Held-out evaluation every this many steps (0: only before and after training).
    #[arg(long, default_value_t = 25)]
    eval_every: u64,
    /// Held-out problems (test split, seed 0, the training levels).
    #[arg(long, default_value_t = 100)]
    eval_n: usize,
    /// Save a checkpoint every this many steps (and at the end, and on Ctrl-C).
    #[arg(long, default_value_t = 50)]
    checkpoint_every: u64,
    /// Checkpoints kept on disk; older ones are deleted.
    #[arg(long, default_value_t = 2)]
    keep_checkpoints: usize,
}

/// The book's GRPO scripts' defaults, for `--preset book` (the objective's own ε, β and
/// inner epochs already are its script's).
fn book_train_defaults(args: &mut TrainArgs, preset: &mut Preset) {
    preset.set("temperature", &mut args.temperature, 0.8);
    preset.set("top_p", &mut args.top_p, 0.9);
    preset.set("seed", &mut args.seed, 42);
    preset.set("max_new_tokens", &mut args.max_new_tokens, 512);
    preset.set("weight_decay", &mut args.weight_decay, 0.01);
    preset.set("lr", &mut args.lr, 1e-5);
    preset.set("group", &mut args.group, 8);
    preset.set("prompt", &mut args.prompt, "plain".to_string());
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
    fn options(&self, model: &str) -> Result<TrainOptions> {
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
            prompt: self.prompt.clone(),
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

fn main() -> std::process::ExitCode {
    let matches = Cli::command().get_matches();
    match Cli::from_arg_matches(&matches) {
        Ok(cli) => exit_code(run(cli, &matches)),
        Err(e) => e.exit(),
    }
}

fn run(mut cli: Cli, matches: &ArgMatches) -> Result<()> {
    if let Some(mode) = cli.device.quantize {
        bail!(
            "--quantize {mode}: ch05 trains the model's f32 weights, so it does not quantize them \
             (on the CPU its rollouts already sample from a Q8_0 copy of the policy)"
        );
    }
    let model = cli.model.as_deref().unwrap_or(DEFAULT_MODEL);
    if let Some(Command::Train(args)) = &mut cli.command {
        args.preset
            .apply(matches, "train", &mut **args, book_train_defaults);
    }
    match &cli.command {
        None => demo(&demo_model(cli.model.as_deref()), cli.device),
        Some(Command::Grads { ids, json }) => grads(model, cli.device, ids, *json),
        Some(Command::Plot { out }) => {
            redraw_plots(out)?;
            println!("redrew the plots in {}", out.display());
            Ok(())
        }
        Some(Command::Train(args)) => {
            let opts = args.options(model)?;
            let last = run_train(&opts, cli.device, &args.out, args.resume)?;
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

/// A few GRPO steps with the measured run's settings (level 1–2 arith, one-shot
/// prompt, LoRA rank 16 on the top 4 blocks, β = 0.02) but G = 4, printed as they go
/// (rollouts on `device`, training on the CPU); then the lesson as that run measured it.
fn demo(model: &str, device: DeviceArgs) -> Result<()> {
    let opts = TrainOptions {
        model: model.to_string(),
        dataset: "arith".into(),
        data: None,
        levels: "1-2".into(),
        prompt: "one-shot".into(),
        chat: None,
        thinking: None,
        steps: DEMO_STEPS,
        group: 4,
        lr: 2e-4,
        weight_decay: 0.0,
        max_new_tokens: 64,
        seed: 0,
        lora: Some(16),
        train_layers: Some(4),
        temperature: 0.4,
        top_p: 1.0,
        objective: Objective::Basic.name().into(),
        clip_eps: 0.2,
        clip_eps_low: 0.2,
        clip_eps_high: 10.0,
        conditional_reward: false,
        off_policy_delta: 0.1,
        inner_epochs: 1,
        kl_beta: 0.02,
        format_weight: 0.0,
        skip_zero_advantage: true,
        max_grad_norm: 1.0,
        eval_every: 0,
        eval_n: 0,
        checkpoint_every: 0,
        keep_checkpoints: 1,
    };
    println!("== GRPO on {model} (book ch. 6): {DEMO_STEPS} steps, level 1-2 arith, G = 4, LoRA rank 16 ==");
    println!("Each step samples 4 answers to one problem, rewards a boxed correct answer with 1,");
    println!("and pushes up the log-probability of the answers that beat the group's mean");
    println!("(with a KL penalty, beta = 0.02, toward the model as loaded).\n");
    let loaded = load_model_on(model, device)?;
    let (problems, _) = run_problems(&loaded, &opts)?;
    let config = opts.step_config(loaded.stop_ids(), think_markers(loaded.tokenizer()?))?;
    let policy = new_policy(Params::from_model(&loaded.model), &opts)?;
    let mut trainer = Trainer::new(policy, loaded, problems, config, opts.seed, 0, device)?;
    for _ in 0..DEMO_STEPS {
        let (metrics, rollouts, index) = trainer.train_step()?;
        let problem = &trainer.problems[index].problem;
        println!("{}", format_step(&metrics, opts.group));
        println!(
            "  problem: {}  (answer {})",
            problem.problem, problem.answer
        );
        let best = rollouts
            .iter()
            .max_by(|a, b| a.reward.total.total_cmp(&b.reward.total))
            .expect("a group has responses");
        println!(
            "  a response (reward {}): {}\n",
            best.reward.total,
            best.text.trim().replace('\n', "\n  │ ")
        );
    }
    print_recorded_lesson();
    Ok(())
}

/// The held-out accuracy of the measured GRPO run (ch05/README.md), built into the binary.
const RECORDED_HELD_OUT: &str = include_str!("../results/qwen2.5-coder-0.5b/held_out.csv");

/// Four steps cannot show what GRPO does; the lesson is the measured run's held-out
/// accuracy, printed as bars, with the command that measured it.
fn print_recorded_lesson() {
    println!(
        "What GRPO does over 150 such steps (G = 8), as measured on qwen2.5-coder-0.5b-instruct:"
    );
    println!("held-out accuracy on 200 test-split arith problems, levels 1-2 (ch05/results/qwen2.5-coder-0.5b/)\n");
    for (step, correct, n) in held_out_rows(RECORDED_HELD_OUT) {
        let accuracy = correct as f64 / n as f64;
        let bar = "█".repeat((accuracy * 40.0).round() as usize);
        println!(
            "  step {step:>3}  {bar:<40} {:>5.1}%  ({correct}/{n})",
            accuracy * 100.0
        );
    }
    println!("\nThat run (1 h 18 min on 2 cores, stopped after step 150's evaluation):");
    println!("  cargo run --release -p ch05 -- train --model qwen2.5-coder-0.5b-instruct --lora 16 --train-layers 4 \\");
    println!("    --lr 2e-4 --group 8 --levels 1-2 --prompt one-shot --eval-n 200 --steps 200 --eval-every 50 --out runs/qwen25");
}

/// `grads`: the loss and gradients of `ids`. The backward pass exists only on
/// the CPU, so `--device` is not used (a note on stderr says so).
fn grads(model: &str, device: DeviceArgs, ids: &str, as_json: bool) -> Result<()> {
    let ids = parse_ids(ids)?;
    if ids.len() < 2 {
        bail!(
            "--ids: the next-token loss needs at least 2 token ids (each predicts the next), got {}",
            ids.len()
        );
    }
    if device.device != Device::Cpu {
        eprintln!(
            "note: grads runs on the CPU (the backward pass has no GPU version); --device {} is not used",
            device.device
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recorded_run_reads_as_its_four_evaluations() {
        let rows = held_out_rows(RECORDED_HELD_OUT);
        assert_eq!(rows.len(), 4, "{rows:?}");
        assert_eq!(rows[0], (0, 97, 200));
        assert!(rows.windows(2).all(|w| w[0].0 < w[1].0));
    }
}
