//! Checkpoints of a run: `step-000100/`, a Hugging Face folder every chapter loads
//! with `--model`, plus the optimizer state and step count `--resume` needs; written
//! under a temporary name and renamed, the oldest beyond `--keep-checkpoints` deleted.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use shared::io::{write_atomically, write_safetensors_f32, SafeTensors};
use shared::train::checkpoint::save_model_dir;
use shared::{Error, Result};

use crate::policy::Policy;
use crate::trainer::Trainer;

/// What `trainer_state.json` in a checkpoint holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TrainerState {
    step: u64,
    optimizer_steps: u64,
}

/// `step-000100`.
pub(crate) fn checkpoint_name(step: u64) -> String {
    format!("step-{step:06}")
}

/// The checkpoints in `dir`, oldest first.
pub(crate) fn checkpoints(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
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
pub(crate) fn save_checkpoint(trainer: &Trainer, dir: &Path, keep: usize) -> Result<PathBuf> {
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
pub(crate) fn restore_training_state(policy: &mut Policy, checkpoint: &Path) -> Result<u64> {
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
