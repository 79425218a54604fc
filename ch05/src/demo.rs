//! `cargo run -p ch05`: a few GRPO steps printed as they go, then the lesson as the
//! measured run recorded it.

use shared::cli::{load_model_on, DeviceArgs};
use shared::train::Params;
use shared::Result;

use crate::objective::Objective;
use crate::options::TrainOptions;
use crate::plots::held_out_rows;
use crate::reward::think_markers;
use crate::run::{format_step, new_policy, run_problems};
use crate::trainer::Trainer;

/// Steps of the demo.
const DEMO_STEPS: u64 = 4;

/// A few GRPO steps with the measured run's settings (level 1–2 arith, one-shot
/// prompt, LoRA rank 16 on the top 4 blocks, β = 0.02) but G = 4, printed as they go
/// (rollouts on `device`, training on the CPU); then the lesson as that run measured it.
pub fn demo(model: &str, device: DeviceArgs) -> Result<()> {
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
