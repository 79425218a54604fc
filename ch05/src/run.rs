//! `ch05 train`: a GRPO run on disk. Each step appends a row to
//! `metrics.csv` (and its rollouts to `rollouts.jsonl`) as soon as it ends;
//! held-out accuracy goes to `held_out.csv`; checkpoints are Hugging Face
//! folders `step-000100/` (written to a temporary name, then renamed) that
//! every chapter loads with `--model`, plus the optimizer state that
//! `--resume` needs; the reward and accuracy curves are drawn as SVG and PNG.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;

use ch03::arith::{generate_arith, parse_levels, ArithConfig, Split};
use ch03::dataset::arith_test_problems;
use ch03::prompts::PromptStyle;
use ch03::{load_math500_test, load_math_train};
use ch04::plot::{save_line_plot, LinePlot, Series};
use ch04::sampling::SamplingConfig;
use clap::ValueEnum;
use serde::{Deserialize, Serialize};
use shared::cli::{DeviceArgs, PromptArgs, Thinking};
use shared::io::{open_lines, write_atomically, write_safetensors_f32, Line, SafeTensors};
use shared::loader::{load_model, LoadedModel, PromptMode};
use shared::train::checkpoint::save_model_dir;
use shared::train::{AdamWConfig, LoraConfig, Params};
use shared::{Error, Result};

use crate::evaluate::accuracy;
use crate::objective::{Objective, ObjectiveSettings};
use crate::policy::{Policy, Trained};
use crate::reward::{think_markers, ThinkMarkers};
use crate::step::{Rollout, StepConfig, StepMetrics};
use crate::trainer::{pose_problems, reference_on, PosedProblem, Trainer};

/// Training problems generated per run (visited in order, then again).
const TRAIN_PROBLEMS: usize = 10_000;

/// Steps averaged in the reward plot's smoothed line.
const REWARD_WINDOW: usize = 20;

/// Every setting of a run; saved as `train_config.json` so `--resume`
/// continues with the same ones. The device (`--device`, `--gpu-dtype`) is not
/// one of them: it changes where the rollouts run, not what is trained, so a
/// run may resume on another device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainOptions {
    /// The model to start from (name or path).
    pub model: String,
    /// `arith` (generated) or `math-train` (the book's MATH training set).
    #[serde(default = "default_dataset")]
    pub dataset: String,
    /// A local copy of the MATH training set (`--data`).
    #[serde(default)]
    pub data: Option<PathBuf>,
    /// Difficulty levels of the arith problems, e.g. `1-2`.
    pub levels: String,
    /// The prompt template: `one-shot`, `plain` (the book's) or `cot`.
    pub prompt: String,
    /// `--chat` (`Some(true)`) or `--no-chat` (`Some(false)`); `None`: by model kind
    /// (the chat template for chat models, raw text for base models).
    #[serde(default)]
    pub chat: Option<bool>,
    /// `--thinking on|off` (Qwen3's `enable_thinking`); `None`: the template's default.
    #[serde(default)]
    pub thinking: Option<bool>,
    /// Steps to train (one problem per step).
    pub steps: u64,
    /// G: responses per problem.
    pub group: usize,
    /// AdamW's learning rate.
    pub lr: f32,
    /// AdamW's decoupled weight decay.
    pub weight_decay: f32,
    /// The most tokens per response (rollouts and held-out answers).
    pub max_new_tokens: usize,
    /// Seed of the training problems and the rollouts.
    pub seed: u64,
    /// LoRA rank; `None` for a full fine-tune.
    pub lora: Option<usize>,
    /// Under LoRA, adapt only the top this many blocks (`None`: every block); the
    /// blocks below keep no tapes and get no gradient.
    #[serde(default)]
    pub train_layers: Option<usize>,
    /// Rollout temperature.
    pub temperature: f32,
    /// Rollout top-p.
    pub top_p: f32,
    /// The policy objective's name ([`Objective`]: ours, or one of the book's
    /// chapter-7 scripts).
    pub objective: String,
    /// Clip range ε of the clipped objectives.
    pub clip_eps: f32,
    /// Olmo-3's ε_low.
    #[serde(default = "default_clip_eps_low")]
    pub clip_eps_low: f32,
    /// Olmo-3's ε_high.
    #[serde(default = "default_clip_eps_high")]
    pub clip_eps_high: f32,
    /// `plus-format-reward`: the format reward only for a correct answer.
    #[serde(default)]
    pub conditional_reward: bool,
    /// DeepSeek-V3.2's off-policy δ.
    #[serde(default = "default_off_policy_delta")]
    pub off_policy_delta: f32,
    /// Optimizer steps per group of rollouts.
    pub inner_epochs: usize,
    /// β of the KL penalty (0: tracked, not penalized).
    pub kl_beta: f32,
    /// Weight of the format reward (0: off): ours rewards a boxed number,
    /// `plus-format-reward` the think tags, `gdpo` the box.
    pub format_weight: f32,
    /// Skip updates whose advantages are all 0.
    pub skip_zero_advantage: bool,
    /// Global gradient-norm clip.
    pub max_grad_norm: f32,
    /// Held-out evaluation every this many steps (0: only before and after).
    pub eval_every: u64,
    /// Held-out problems (test split, seed 0, the training levels).
    pub eval_n: usize,
    /// A checkpoint every this many steps (and at the end).
    pub checkpoint_every: u64,
    /// Checkpoints kept on disk (older ones are deleted).
    pub keep_checkpoints: usize,
}

/// The dataset of a saved run that predates `--dataset math-train`.
fn default_dataset() -> String {
    "arith".to_string()
}

/// Olmo-3's ε_low when a saved run predates it.
fn default_clip_eps_low() -> f32 {
    Objective::Olmo3.defaults().clip_eps_low
}

/// Olmo-3's ε_high when a saved run predates it.
fn default_clip_eps_high() -> f32 {
    Objective::Olmo3.defaults().clip_eps_high
}

/// DeepSeek-V3.2's δ when a saved run predates it.
fn default_off_policy_delta() -> f32 {
    Objective::DeepseekV32.defaults().off_policy_delta
}

impl TrainOptions {
    /// The objective these options name.
    pub fn objective(&self) -> Result<Objective> {
        Objective::from_name(&self.objective).ok_or_else(|| {
            let names: Vec<&str> = Objective::value_variants()
                .iter()
                .map(|o| o.name())
                .collect();
            Error::InvalidArgument(format!(
                "--objective {}: expected one of {}",
                self.objective,
                names.join(", ")
            ))
        })
    }

    /// The objective's settings as these options give them.
    pub fn objective_settings(&self) -> ObjectiveSettings {
        ObjectiveSettings {
            clip_eps: self.clip_eps,
            clip_eps_low: self.clip_eps_low,
            clip_eps_high: self.clip_eps_high,
            kl_beta: self.kl_beta,
            format_weight: self.format_weight,
            conditional_reward: self.conditional_reward,
            off_policy_delta: self.off_policy_delta,
            inner_epochs: self.inner_epochs,
        }
    }

    /// One line naming the objective and the settings it uses.
    pub fn describe_objective(&self) -> String {
        let Ok(objective) = self.objective() else {
            return format!("objective {}", self.objective);
        };
        let mut parts = match objective {
            Objective::Basic => Vec::new(),
            Objective::Olmo3 => vec![format!(
                "clip ε_low {}, ε_high {}",
                self.clip_eps_low, self.clip_eps_high
            )],
            _ => vec![format!("clip ε {}", self.clip_eps)],
        };
        parts.push(format!("KL β {}", self.kl_beta));
        match objective {
            Objective::DeepseekV32 => parts.push(format!("off-policy δ {}", self.off_policy_delta)),
            Objective::PlusFormatReward if self.conditional_reward => parts.push(format!(
                "think-format reward {} (correct answers only)",
                self.format_weight
            )),
            Objective::PlusFormatReward => {
                parts.push(format!("think-format reward {}", self.format_weight))
            }
            Objective::Gdpo => parts.push(format!("format bonus {}", self.format_weight)),
            _ if self.format_weight > 0.0 => {
                parts.push(format!("boxed-number reward {}", self.format_weight))
            }
            _ => {}
        }
        parts.push(match self.inner_epochs {
            1 => "1 inner epoch".to_string(),
            n if objective.is_book_script() => format!("{n} inner epochs, each on new rollouts"),
            n => format!("{n} inner epochs on one set of rollouts"),
        });
        format!("objective {}: {}", objective.name(), parts.join(", "))
    }

    /// The step settings these options give, with the model's stop ids and the way
    /// its tokenizer marks thinking.
    pub fn step_config(&self, stop_ids: Vec<u32>, markers: ThinkMarkers) -> Result<StepConfig> {
        let objective = self.objective()?;
        let settings = self.objective_settings();
        if self.group < 2 {
            return Err(Error::InvalidArgument(format!(
                "--group {}: GRPO compares responses within a group, so it needs at least 2",
                self.group
            )));
        }
        if self.max_new_tokens == 0 || self.inner_epochs == 0 {
            return Err(Error::InvalidArgument(
                "--max-new-tokens and --inner-epochs must be at least 1".into(),
            ));
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return Err(Error::InvalidArgument(format!(
                "--lr {}: the learning rate must be a positive number",
                self.lr
            )));
        }
        let sampling = SamplingConfig {
            temperature: self.temperature,
            top_k: 0,
            top_p: self.top_p,
        };
        sampling.validate()?;
        Ok(StepConfig {
            group_size: self.group,
            max_new_tokens: self.max_new_tokens,
            sampling,
            stop_ids,
            loss: objective.loss(&settings),
            inner_epochs: self.inner_epochs,
            resample_each_epoch: objective.is_book_script(),
            reward: objective.reward(&settings, markers),
            advantages: objective.advantages(&settings),
            off_policy_delta: objective.off_policy_delta(&settings),
            skip_zero_advantage: self.skip_zero_advantage,
            max_grad_norm: self.max_grad_norm,
        })
    }

    /// Checks every setting (before anything is loaded or written).
    pub fn validate(&self) -> Result<()> {
        self.step_config(Vec::new(), ThinkMarkers::Text)?;
        self.prompt_style()?;
        parse_levels(&self.levels)?;
        if let (None, Some(k)) = (self.lora, self.train_layers) {
            return Err(Error::InvalidArgument(format!(
                "--train-layers {k} needs --lora: a full fine-tune trains every weight"
            )));
        }
        Ok(())
    }

    /// How prompts reach `loaded`: as `--chat`/`--no-chat`/`--thinking` say, else by
    /// model kind.
    pub fn prompt_mode(&self, loaded: &LoadedModel) -> Result<PromptMode> {
        PromptArgs {
            chat: self.chat == Some(true),
            no_chat: self.chat == Some(false),
            thinking: self
                .thinking
                .map(|on| if on { Thinking::On } else { Thinking::Off }),
        }
        .mode(loaded)
    }

    /// The prompt template these options name.
    pub fn prompt_style(&self) -> Result<PromptStyle> {
        match self.prompt.as_str() {
            "one-shot" => Ok(PromptStyle::OneShot),
            "plain" => Ok(PromptStyle::Plain),
            "cot" => Ok(PromptStyle::Cot),
            other => Err(Error::InvalidArgument(format!(
                "--prompt {other}: expected one-shot, plain or cot"
            ))),
        }
    }

    /// AdamW with these options' learning rate and weight decay.
    pub fn adamw(&self) -> AdamWConfig {
        AdamWConfig {
            lr: self.lr,
            weight_decay: self.weight_decay,
            ..AdamWConfig::default()
        }
    }
}

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

/// The files of a run directory.
struct RunFiles {
    dir: PathBuf,
}

impl RunFiles {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Appends one line to `name`, creating it with `header` first if new.
    fn append_line(&self, name: &str, header: Option<&str>, line: &str) -> Result<()> {
        let path = self.path(name);
        let new = !path.exists();
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        let mut text = String::new();
        if let (true, Some(header)) = (new, header) {
            text.push_str(header);
            text.push('\n');
        }
        text.push_str(line);
        text.push('\n');
        file.write_all(text.as_bytes())
            .map_err(|e| Error::io(&path, e))
    }

    /// Keeps only the lines of `name` whose step (found by `step_of`) is at
    /// most `last`, and lines without a step (the header); a last line cut off
    /// mid-write (no newline, maybe inside a UTF-8 character) is dropped.
    fn truncate_after(
        &self,
        name: &str,
        last: u64,
        step_of: fn(&str) -> Option<u64>,
    ) -> Result<()> {
        let path = self.path(name);
        if !path.exists() {
            return Ok(());
        }
        let mut kept = String::new();
        for line in open_lines(&path)? {
            let (_, Line::Complete(line)) = line? else {
                break;
            };
            if step_of(&line).is_none_or(|s| s <= last) {
                kept.push_str(&line);
                kept.push('\n');
            }
        }
        write_atomically(&path, kept.as_bytes())
    }
}

/// The step of a CSV row (its first field), if it is a number.
fn csv_step(line: &str) -> Option<u64> {
    line.split(',').next()?.parse().ok()
}

/// The step of a `rollouts.jsonl` line.
fn jsonl_step(line: &str) -> Option<u64> {
    serde_json::from_str::<serde_json::Value>(line).ok()?["step"].as_u64()
}

const METRICS_HEADER: &str = "step,loss,reward_mean,correct_frac,format_frac,response_len,kl,clip_fraction,grad_norm,adv_mean,adv_std,entropy,skipped,seconds";

/// One `metrics.csv` row.
fn metrics_row(m: &StepMetrics) -> String {
    format!(
        "{},{:.6},{:.4},{:.4},{:.4},{:.2},{:.6},{:.4},{:.6},{:.6},{:.6},{:.4},{},{:.2}",
        m.step,
        m.loss,
        m.reward_mean,
        m.correct_frac,
        m.format_frac,
        m.response_len,
        m.kl,
        m.clip_fraction,
        m.grad_norm,
        m.adv_mean,
        m.adv_std,
        m.entropy,
        u8::from(m.skipped),
        m.seconds
    )
}

/// The numbers of a `metrics.csv` row that the plots need: step and reward mean.
fn parse_reward(line: &str) -> Option<(f64, f64)> {
    let mut fields = line.split(',');
    let step = fields.next()?.parse().ok()?;
    let reward = fields.nth(1)?.parse().ok()?;
    Some((step, reward))
}

/// One `rollouts.jsonl` line: the problem and every response with its reward.
fn rollouts_line(step: u64, posed: &PosedProblem, rollouts: &[Rollout]) -> String {
    serde_json::json!({
        "step": step,
        "problem": posed.problem.problem,
        "answer": posed.problem.answer,
        "responses": rollouts.iter().map(|r| serde_json::json!({
            "text": r.text,
            "tokens": r.ids.len(),
            "reward": r.reward.total,
            "correct": r.reward.correct,
        })).collect::<Vec<_>>(),
    })
    .to_string()
}

/// What `trainer_state.json` in a checkpoint holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct TrainerState {
    step: u64,
    optimizer_steps: u64,
}

/// `step-000100`.
fn checkpoint_name(step: u64) -> String {
    format!("step-{step:06}")
}

/// The checkpoints in `dir`, oldest first.
fn checkpoints(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        let step = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix("step-"))
            .and_then(|n| n.parse::<u64>().ok());
        if let Some(step) = step {
            if path.join("trainer_state.json").is_file() {
                found.push((step, path));
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Saves the policy at the trainer's step: the effective weights as a Hugging
/// Face folder, the optimizer state (and LoRA adapters) and the step count.
/// Written under a temporary name and renamed, then older checkpoints beyond
/// `keep` are deleted.
fn save_checkpoint(trainer: &Trainer, dir: &Path, keep: usize) -> Result<PathBuf> {
    let name = checkpoint_name(trainer.step);
    let tmp = dir.join(format!(".{name}.part"));
    let done = dir.join(&name);
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    }
    save_model_dir(
        &tmp,
        &trainer.policy.params,
        Some(trainer.tokenizer()?),
        trainer.chat_template(),
    )?;
    let state = trainer.policy.training_state();
    let shapes: Vec<Vec<usize>> = state.iter().map(|(_, a)| a.shape().to_vec()).collect();
    let tensors: Vec<(&str, &[usize], &[f32])> = state
        .iter()
        .zip(&shapes)
        .map(|((n, a), shape)| {
            let values = a.as_slice().expect("parameter arrays are contiguous");
            (n.as_str(), shape.as_slice(), values)
        })
        .collect();
    write_safetensors_f32(
        &tmp.join("training_state.safetensors"),
        &tensors,
        &BTreeMap::new(),
    )?;
    let state = TrainerState {
        step: trainer.step,
        optimizer_steps: trainer.policy.optimizer_steps(),
    };
    write_atomically(
        &tmp.join("trainer_state.json"),
        serde_json::to_string_pretty(&state)
            .expect("the state serializes")
            .as_bytes(),
    )?;
    if done.exists() {
        std::fs::remove_dir_all(&done).map_err(|e| Error::io(&done, e))?;
    }
    std::fs::rename(&tmp, &done).map_err(|e| Error::io(&done, e))?;
    let all = checkpoints(dir)?;
    for (_, old) in all.iter().take(all.len().saturating_sub(keep.max(1))) {
        std::fs::remove_dir_all(old).map_err(|e| Error::io(old, e))?;
    }
    Ok(done)
}

/// Loads `checkpoint`'s optimizer state (and LoRA adapters) into `policy`.
fn restore_training_state(policy: &mut Policy, checkpoint: &Path) -> Result<u64> {
    let path = checkpoint.join("trainer_state.json");
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let state: TrainerState = serde_json::from_str(&text)
        .map_err(|e| Error::format(&path, format!("not a trainer state: {e}")))?;
    let file = SafeTensors::open(checkpoint.join("training_state.safetensors"))?;
    for (name, mut array) in policy.training_state_mut() {
        let values = file.tensor_f32(&name)?;
        if values.len() != array.len() {
            return Err(Error::format(
                file.path(),
                format!(
                    "{name} holds {} values, the policy needs {} (was it saved by another model or LoRA rank?)",
                    values.len(),
                    array.len()
                ),
            ));
        }
        array
            .iter_mut()
            .zip(values)
            .for_each(|(slot, value)| *slot = value);
    }
    policy.restore(state.optimizer_steps);
    Ok(state.step)
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

/// Draws `reward.{svg,png}` and `held_out_accuracy.{svg,png}` in a run
/// directory from its `metrics.csv` and `held_out.csv` (`ch05 plot`).
pub fn redraw_plots(dir: &Path) -> Result<()> {
    if !dir.join("metrics.csv").is_file() {
        return Err(Error::InvalidArgument(format!(
            "--out {}: no metrics.csv there (is it a `ch05 train` output folder?)",
            dir.display()
        )));
    }
    draw_plots(&RunFiles {
        dir: dir.to_path_buf(),
    })
}

/// `(step, correct, n)` rows of a `held_out.csv` (`step,correct,n,accuracy`); malformed
/// rows and rows of no problem are left out.
pub fn held_out_rows(csv: &str) -> Vec<(u64, u64, u64)> {
    csv.lines()
        .skip(1)
        .filter_map(|line| {
            let mut fields = line.split(',').map(|f| f.trim().parse::<u64>().ok());
            Some((fields.next()??, fields.next()??, fields.next()??))
        })
        .filter(|&(_, _, n)| n > 0)
        .collect()
}

/// Draws `reward.{svg,png}` and `held_out_accuracy.{svg,png}` from the logs.
fn draw_plots(files: &RunFiles) -> Result<()> {
    let read = |name: &str| std::fs::read_to_string(files.path(name)).unwrap_or_default();
    let rewards: Vec<(f64, f64)> = read("metrics.csv")
        .lines()
        .filter_map(parse_reward)
        .collect();
    let smoothed: Vec<(f64, f64)> = rewards
        .iter()
        .enumerate()
        .map(|(i, &(step, _))| {
            let window = &rewards[i.saturating_sub(REWARD_WINDOW - 1)..=i];
            (
                step,
                window.iter().map(|p| p.1).sum::<f64>() / window.len() as f64,
            )
        })
        .collect();
    save_line_plot(
        &files.path("reward"),
        &LinePlot {
            title: "GRPO: mean reward of each step's group".into(),
            x_label: "step".into(),
            y_label: "reward".into(),
            // The smoothed line first: earlier series are drawn wider.
            series: vec![
                Series {
                    name: format!("mean of the last {REWARD_WINDOW} steps"),
                    points: smoothed,
                },
                Series {
                    name: "group mean".into(),
                    points: rewards,
                },
            ],
        },
    )?;
    let held_out: Vec<(f64, f64)> = held_out_rows(&read("held_out.csv"))
        .into_iter()
        .map(|(step, correct, n)| (step as f64, 100.0 * correct as f64 / n as f64))
        .collect();
    save_line_plot(
        &files.path("held_out_accuracy"),
        &LinePlot {
            title: "Held-out accuracy (greedy, test split)".into(),
            x_label: "step".into(),
            y_label: "accuracy (%)".into(),
            series: vec![Series {
                name: "held-out accuracy".into(),
                points: held_out,
            }],
        },
    )?;
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_out_rows_leave_out_malformed_rows() {
        let rows = held_out_rows("step,correct,n,accuracy\n0,1,2,0.5\nx,1,2\n5,1,0,0\n7,1\n");
        assert_eq!(rows, [(0, 1, 2)]);
    }

    #[test]
    fn resuming_keeps_steps_up_to_the_checkpoint_and_drops_a_cut_line() {
        let dir = std::env::temp_dir().join(format!("rfs-run-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let files = RunFiles { dir: dir.clone() };
        let row = |step: u64, text: &str| format!("{{\"step\":{step},\"text\":\"{text}\"}}\n");
        let mut rollouts = [row(1, "a"), row(2, "東"), row(3, "b")]
            .concat()
            .into_bytes();
        let cut = row(4, "東");
        rollouts.extend_from_slice(&cut.as_bytes()[..cut.find('東').unwrap() + 2]);
        std::fs::write(files.path("rollouts.jsonl"), rollouts).unwrap();
        std::fs::write(files.path("metrics.csv"), "step,loss\n1,0.5\n2,0.25\n2").unwrap();

        files
            .truncate_after("rollouts.jsonl", 2, jsonl_step)
            .unwrap();
        files.truncate_after("metrics.csv", 2, csv_step).unwrap();
        let read = |name| std::fs::read_to_string(files.path(name)).unwrap();
        assert_eq!(read("rollouts.jsonl"), [row(1, "a"), row(2, "東")].concat());
        assert_eq!(read("metrics.csv"), "step,loss\n1,0.5\n2,0.25\n");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
