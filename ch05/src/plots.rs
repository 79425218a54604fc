//! A run's plots: the reward per step with its moving mean, and the held-out
//! accuracy, as SVG and PNG (drawn with ch04's plotting), from the run's logs.

use std::path::Path;

use ch04::plot::{save_line_plot, LinePlot, Series};
use shared::{Error, Result};

use crate::run_log::{parse_reward, RunFiles};

/// Steps averaged in the reward plot's smoothed line.
const REWARD_WINDOW: usize = 20;

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
pub(crate) fn draw_plots(files: &RunFiles) -> Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_out_rows_leave_out_malformed_rows() {
        let rows = held_out_rows("step,correct,n,accuracy\n0,1,2,0.5\nx,1,2\n5,1,0,0\n7,1\n");
        assert_eq!(rows, [(0, 1, 2)]);
    }
}
