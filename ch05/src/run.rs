//! `ch05 train`: a GRPO run on disk. Each step appends a row to
//! `metrics.csv` (and its rollouts to `rollouts.jsonl`) as soon as it ends;
//! held-out accuracy goes to `held_out.csv`; checkpoints are Hugging Face
//! folders `step-000100/` (written to a temporary name, then renamed) that
//! every chapter loads with `--model`, plus the optimizer state that
//! `--resume` needs; the reward and accuracy curves are drawn as SVG and PNG.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;

use ch03::arith::{generate_arith, parse_levels, ArithConfig, Split};
use ch03::dataset::arith_test_problems;
use ch03::{load_math500_test, load_math_train};
use shared::cli::DeviceArgs;
use shared::io::write_atomically;
use shared::loader::{load_model, LoadedModel};
use shared::train::{LoraConfig, Params};
use shared::{Error, Result};

use crate::checkpoint::{checkpoints, restore_training_state, save_checkpoint};
use crate::evaluate::accuracy;
use crate::options::TrainOptions;
use crate::plots::draw_plots;
use crate::policy::{Policy, Trained};
use crate::reward::think_markers;
use crate::run_log::{csv_step, jsonl_step, metrics_row, rollouts_line, RunFiles, METRICS_HEADER};
use crate::step::StepMetrics;
use crate::trainer::{pose_problems, reference_on, PosedProblem, Trainer};

/// Training problems generated per run (visited in order, then again).
const TRAIN_PROBLEMS: usize = 10_000;

/// Set by Ctrl-C: the loop saves a checkpoint after the current step and stops.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Installs the Ctrl-C handler once: the first Ctrl-C asks the loop to stop
/// after saving, a second one exits at once.
fn install_interrupt_handler() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = ctrlc::set_handler(|| {
            if INTERRUPTED.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
            eprintln!("\nCtrl-C: finishing this step, then saving a checkpoint (Ctrl-C again to quit now)");
        });
    });
}

/// A fresh policy on `params`: LoRA or full, as the options say.
pub fn new_policy(params: Params, opts: &TrainOptions) -> Result<Policy> {
    let Some(rank) = opts.lora else {
        return Ok(Policy::full(params, opts.adamw()));
    };
    let layers = params.tensors.layers.len();
    let frozen = match opts.train_layers {
        None => 0,
        Some(k) if (1..=layers).contains(&k) => layers - k,
        Some(k) => {
            return Err(Error::InvalidArgument(format!(
                "--train-layers {k}: the model has {layers} blocks; give 1 to {layers}"
            )))
        }
    };
    let policy = Policy::lora(params, LoraConfig::with_rank(rank), opts.seed, opts.adamw())?;
    Ok(policy.freezing_layers(frozen))
}

/// The training and held-out problems of a run.
pub fn run_problems(
    loaded: &LoadedModel,
    opts: &TrainOptions,
) -> Result<(Vec<PosedProblem>, Vec<PosedProblem>)> {
    let (train, held_out) = match opts.dataset.as_str() {
        "math-train" => {
            let train = load_math_train(opts.data.as_deref())?;
            let mut held_out = match opts.eval_n {
                0 => Vec::new(),
                _ => load_math500_test(None)?,
            };
            held_out.truncate(opts.eval_n);
            (train, held_out)
        }
        _ => (
            generate_arith(&ArithConfig {
                n: TRAIN_PROBLEMS,
                seed: opts.seed,
                levels: parse_levels(&opts.levels)?,
                split: Split::Train,
            })?,
            arith_test_problems(opts.eval_n, 0, &opts.levels)?,
        ),
    };
    let style = opts.prompt_style()?;
    let mode = opts.prompt_mode(loaded)?;
    Ok((
        pose_problems(loaded, train, style, mode)?,
        pose_problems(loaded, held_out, style, mode)?,
    ))
}

/// Opens a run: a fresh one in an empty (or new) `dir`, or with `resume` the
/// one there from its last checkpoint, sampling on `device`. Returns the
/// trainer and held-out problems.
fn open_run(
    opts: &TrainOptions,
    device: DeviceArgs,
    files: &RunFiles,
    resume: bool,
) -> Result<(Trainer, Vec<PosedProblem>)> {
    let config_path = files.path("train_config.json");
    let latest = checkpoints(&files.dir)?.pop();
    if resume {
        let text = std::fs::read_to_string(&config_path).map_err(|e| Error::io(&config_path, e))?;
        let saved: TrainOptions = serde_json::from_str(&text)
            .map_err(|e| Error::format(&config_path, format!("not a training config: {e}")))?;
        let same = TrainOptions {
            steps: opts.steps,
            ..saved.clone()
        };
        if &same != opts {
            return Err(Error::InvalidArgument(format!(
                "--resume: {} was started with other settings (only --steps may change):\n  saved: {}\n  given: {}",
                files.dir.display(),
                serde_json::to_string(&saved).unwrap_or_default(),
                serde_json::to_string(opts).unwrap_or_default()
            )));
        }
    } else if config_path.exists() {
        return Err(Error::InvalidArgument(format!(
            "--out {} already holds a run: pass --resume to continue it, or choose another --out",
            files.dir.display()
        )));
    }
    // Moved to the device first, so that a missing GPU fails before the slow setup.
    let reference = reference_on(load_model(&opts.model)?, device)?;
    let stop_ids = reference.stop_ids();
    let (problems, held_out) = run_problems(&reference, opts)?;
    let (policy, step) = match (resume, latest) {
        (true, Some((_, checkpoint))) => {
            let params = match opts.lora {
                None => Params::from_model(&load_model(&checkpoint.to_string_lossy())?.model),
                Some(_) => Params::from_model(&reference.model),
            };
            let mut policy = new_policy(params, opts)?;
            let step = restore_training_state(&mut policy, &checkpoint)?;
            (policy, step)
        }
        _ => (new_policy(Params::from_model(&reference.model), opts)?, 0),
    };
    for (name, step_of) in [
        ("metrics.csv", csv_step as fn(&str) -> Option<u64>),
        ("held_out.csv", csv_step),
        ("rollouts.jsonl", jsonl_step),
    ] {
        if step == 0 && !resume {
            continue;
        }
        files.truncate_after(name, step, step_of)?;
    }
    if !resume {
        write_atomically(
            &config_path,
            serde_json::to_string_pretty(opts)
                .expect("options serialize")
                .as_bytes(),
        )?;
    }
    let config = opts.step_config(stop_ids, think_markers(reference.tokenizer()?))?;
    let trainer = Trainer::new(policy, reference, problems, config, opts.seed, step, device)?;
    Ok((trainer, held_out))
}

/// Evaluates the policy on the held-out problems, appends the row to
/// `held_out.csv` and returns the accuracy.
fn evaluate_and_log(
    trainer: &Trainer,
    held_out: &[PosedProblem],
    files: &RunFiles,
    max_new_tokens: usize,
) -> Result<f64> {
    let results = trainer.evaluate(held_out, max_new_tokens)?;
    let correct = results.iter().filter(|r| r.correct).count();
    let acc = accuracy(&results);
    files.append_line(
        "held_out.csv",
        Some("step,correct,n,accuracy"),
        &format!("{},{correct},{},{acc:.4}", trainer.step, results.len()),
    )?;
    Ok(acc)
}

/// Prints a line above the progress bar (or plainly when stderr is not a terminal).
fn say(bar: &indicatif::ProgressBar, line: String) {
    bar.suspend(|| eprintln!("{line}"));
}

/// One line about a finished step, for the terminal.
pub fn format_step(m: &StepMetrics, group: usize) -> String {
    format!(
        "step {:>4}  reward {:.2}  correct {}/{group}  len {:>5.1}  loss {:>+8.4}  kl {:.4}  clip {:.2}  |g| {:>7.3}  H {:.2}{}  {:.1} s",
        m.step,
        m.reward_mean,
        (m.correct_frac * group as f64).round(),
        m.response_len,
        m.loss,
        m.kl,
        m.clip_fraction,
        m.grad_norm,
        m.entropy,
        if m.skipped { "  (skipped: all advantages 0)" } else { "" },
        m.seconds
    )
}

/// Runs (or, with `resume`, continues) the training described by `opts`
/// into `dir`, sampling rollouts and held-out answers on `device` (training
/// itself runs on the CPU). Returns the path of the last checkpoint.
pub fn run_train(
    opts: &TrainOptions,
    device: DeviceArgs,
    dir: &Path,
    resume: bool,
) -> Result<PathBuf> {
    opts.validate()?;
    eprintln!("{}", opts.describe_objective());
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let files = RunFiles {
        dir: dir.to_path_buf(),
    };
    let (mut trainer, held_out) = open_run(opts, device, &files, resume)?;
    install_interrupt_handler();
    let what = match &trainer.policy.trained {
        Trained::Full(_) => "full fine-tune".to_string(),
        Trained::Lora { lora, .. } => format!("LoRA rank {}", lora.config.rank),
    };
    eprintln!(
        "{what}: {} trainable parameters; {} held-out problems; starting at step {}",
        trainer.policy.trainable_scalars(),
        held_out.len(),
        trainer.step
    );
    if trainer.step == 0 && !held_out.is_empty() {
        let acc = evaluate_and_log(&trainer, &held_out, &files, opts.max_new_tokens)?;
        eprintln!("held-out accuracy before training: {:.1}%", 100.0 * acc);
    }
    let bar = indicatif::ProgressBar::new(opts.steps);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:30} {pos}/{len} steps, {elapsed} elapsed, ~{eta} left  {msg}",
        )
        .expect("the template is valid"),
    );
    bar.set_position(trainer.step);
    let mut last = None;
    while trainer.step < opts.steps {
        let (metrics, rollouts, index) = trainer.train_step()?;
        files.append_line("metrics.csv", Some(METRICS_HEADER), &metrics_row(&metrics))?;
        files.append_line(
            "rollouts.jsonl",
            None,
            &rollouts_line(trainer.step, &trainer.problems[index], &rollouts),
        )?;
        say(&bar, format_step(&metrics, opts.group));
        bar.set_position(trainer.step);
        let at_end = trainer.step == opts.steps;
        if (opts.eval_every > 0 && trainer.step % opts.eval_every == 0 || at_end)
            && !held_out.is_empty()
        {
            let acc = evaluate_and_log(&trainer, &held_out, &files, opts.max_new_tokens)?;
            say(
                &bar,
                format!(
                    "held-out accuracy at step {}: {:.1}%",
                    trainer.step,
                    100.0 * acc
                ),
            );
            bar.set_message(format!("held-out {:.1}%", 100.0 * acc));
            draw_plots(&files)?;
        }
        let interrupted = INTERRUPTED.load(Ordering::SeqCst);
        if at_end || interrupted || trainer.step % opts.checkpoint_every.max(1) == 0 {
            let path = save_checkpoint(&trainer, dir, opts.keep_checkpoints)?;
            say(&bar, format!("saved {}", path.display()));
            last = Some(path);
        }
        if interrupted {
            bar.abandon();
            draw_plots(&files)?;
            return Err(Error::Interrupted(format!(
                "interrupted at step {}: saved {}; continue with --resume",
                trainer.step,
                last.map(|p| p.display().to_string()).unwrap_or_default()
            )));
        }
    }
    bar.finish();
    draw_plots(&files)?;
    match last {
        Some(path) => Ok(path),
        None => Ok(save_checkpoint(&trainer, dir, opts.keep_checkpoints)?),
    }
}
