//! Setting up a `ch05 train` run ([`crate::train::train_rlvr_grpo`] is its loop): the
//! policy, the training and held-out problems, a fresh run folder or the one
//! `--resume` continues, and how a step and a held-out evaluation are reported.

use ch03::arith::{generate_arith, parse_levels, ArithConfig, Split};
use ch03::dataset::arith_test_problems;
use ch03::{load_math500_test, load_math_train};
use shared::cli::DeviceArgs;
use shared::io::write_atomically;
use shared::loader::{load_model, LoadedModel};
use shared::train::{LoraConfig, Params};
use shared::{Error, Result};

use crate::checkpoint::{checkpoints, restore_training_state};
use crate::evaluate::accuracy;
use crate::options::TrainOptions;
use crate::policy::Policy;
use crate::reward::think_markers;
use crate::run_log::{csv_step, jsonl_step, RunFiles};
use crate::step::StepMetrics;
use crate::trainer::{pose_problems, reference_on, PosedProblem, Trainer};

/// Training problems generated per run (visited in order, then again).
const TRAIN_PROBLEMS: usize = 10_000;

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
pub(crate) fn open_run(
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
pub(crate) fn evaluate_and_log(
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
