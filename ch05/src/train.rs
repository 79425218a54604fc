//! The training loop, the book's `train_rlvr_grpo` (ch. 6): one GRPO step per
//! problem, each step's row appended to `metrics.csv` (and its rollouts to
//! `rollouts.jsonl`) as soon as it ends, held-out accuracy to `held_out.csv`, and
//! checkpoints — Hugging Face folders `step-000100/` (written to a temporary name,
//! then renamed) that every chapter loads with `--model`, plus the optimizer state
//! that `--resume` needs; the reward and accuracy curves are drawn as SVG and PNG.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;

use shared::cli::DeviceArgs;
use shared::{Error, Result};

use crate::checkpoint::save_checkpoint;
use crate::options::TrainOptions;
use crate::plots::draw_plots;
use crate::policy::Trained;
use crate::run::{evaluate_and_log, format_step, open_run};
use crate::run_log::{metrics_row, rollouts_line, RunFiles, METRICS_HEADER};

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

/// Prints a line above the progress bar (or plainly when stderr is not a terminal).
fn say(bar: &indicatif::ProgressBar, line: String) {
    bar.suspend(|| eprintln!("{line}"));
}

/// The book's `train_rlvr_grpo` (ch. 6): runs (or, with `resume`, continues) the
/// training described by `opts`
/// into `dir`, sampling rollouts and held-out answers on `device` (training
/// itself runs on the CPU). Returns the path of the last checkpoint.
pub fn train_rlvr_grpo(
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
