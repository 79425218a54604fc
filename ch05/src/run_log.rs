//! A run's logs on disk: `metrics.csv` (a row per step), `held_out.csv` and
//! `rollouts.jsonl`, appended as they happen and cut back to a checkpoint on `--resume`.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;

use shared::io::{open_lines, write_atomically, Line};
use shared::{Error, Result};

use crate::rollout::Rollout;
use crate::step::StepMetrics;
use crate::trainer::PosedProblem;

/// The files of a run directory.
pub(crate) struct RunFiles {
    /// The run directory (`--out`).
    pub(crate) dir: PathBuf,
}

impl RunFiles {
    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Appends one line to `name`, creating it with `header` first if new.
    pub(crate) fn append_line(&self, name: &str, header: Option<&str>, line: &str) -> Result<()> {
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
    pub(crate) fn truncate_after(
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
pub(crate) fn csv_step(line: &str) -> Option<u64> {
    line.split(',').next()?.parse().ok()
}

/// The step of a `rollouts.jsonl` line.
pub(crate) fn jsonl_step(line: &str) -> Option<u64> {
    serde_json::from_str::<serde_json::Value>(line).ok()?["step"].as_u64()
}

pub(crate) const METRICS_HEADER: &str = "step,loss,reward_mean,correct_frac,format_frac,response_len,kl,clip_fraction,grad_norm,adv_mean,adv_std,entropy,skipped,seconds";

/// One `metrics.csv` row.
pub(crate) fn metrics_row(m: &StepMetrics) -> String {
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
pub(crate) fn parse_reward(line: &str) -> Option<(f64, f64)> {
    let mut fields = line.split(',');
    let step = fields.next()?.parse().ok()?;
    let reward = fields.nth(1)?.parse().ok()?;
    Some((step, reward))
}

/// One `rollouts.jsonl` line: the problem and every response with its reward.
pub(crate) fn rollouts_line(step: u64, posed: &PosedProblem, rollouts: &[Rollout]) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

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
