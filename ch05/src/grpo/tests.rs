//! Unit tests of the GRPO loss on hand-made groups.

use super::*;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6 * (1.0 + b.abs())
}

/// A hand-made group of two responses.
fn batch<'a>(
    logprobs: &'a [Vec<f32>; 2],
    old: &'a [Vec<f32>; 2],
    reference: &'a [Vec<f32>; 2],
) -> Vec<ResponseLogprobs<'a>> {
    vec![
        ResponseLogprobs {
            logprobs: &logprobs[0],
            old_logprobs: &old[0],
            ref_logprobs: Some(&reference[0]),
            advantage: 1.0,
        },
        ResponseLogprobs {
            logprobs: &logprobs[1],
            old_logprobs: &old[1],
            ref_logprobs: Some(&reference[1]),
            advantage: -1.0,
        },
    ]
}

#[test]
fn the_basic_loss_is_minus_mean_advantage_times_sequence_logprob() {
    let logprobs = [vec![-0.5, -1.0], vec![-2.0]];
    let responses = batch(&logprobs, &logprobs, &logprobs);
    let config = GrpoLossConfig {
        objective: PolicyObjective::Basic,
        kl_beta: 0.0,
        kl_estimator: KlEstimator::K3PerToken,
    };
    let out = compute_grpo_loss(&responses, GroupShape::of(&responses), &config);
    // −(1·(−1.5) + (−1)·(−2)) / 2 = −0.25.
    assert!(close(out.loss, -0.25), "{}", out.loss);
    assert_eq!(out.dlogprobs, vec![vec![-0.5, -0.5], vec![0.5]]);
    assert_eq!((out.clip_fraction, out.kl), (0.0, 0.0));
}

#[test]
fn the_clipped_loss_flattens_outside_the_trust_region() {
    let ln = |x: f64| x.ln() as f32;
    // Response 0 (A = +1): ratios 1.5 (clipped at 1.2) and 0.9.
    // Response 1 (A = −1): ratio 0.5 (clipped at 0.8).
    let logprobs = [vec![ln(0.3), ln(0.18)], vec![ln(0.1)]];
    let old = [vec![ln(0.2), ln(0.2)], vec![ln(0.2)]];
    let responses = batch(&logprobs, &old, &logprobs);
    let config = GrpoLossConfig {
        objective: PolicyObjective::Clipped { eps: 0.2 },
        kl_beta: 0.0,
        kl_estimator: KlEstimator::K3PerToken,
    };
    let out = compute_grpo_loss(&responses, GroupShape::of(&responses), &config);
    // −(1.2 + 0.9 − 0.8) / 2.
    assert!(close(out.loss, -0.65), "{}", out.loss);
    let d = &out.dlogprobs;
    assert_eq!(d[0][0], 0.0);
    assert!(close(d[0][1] as f64, -0.45), "{d:?}");
    assert_eq!(d[1][0], 0.0);
    assert!(close(out.clip_fraction, 2.0 / 3.0));
}

#[test]
fn the_kl_penalty_and_its_derivative() {
    let logprobs = [vec![-1.0, -1.0], vec![-1.0]];
    let reference = [vec![-1.0, -2.0], vec![-0.5]];
    let responses = batch(&logprobs, &logprobs, &reference);
    let config = GrpoLossConfig {
        objective: PolicyObjective::Basic,
        kl_beta: 0.1,
        kl_estimator: KlEstimator::K3PerToken,
    };
    let out = compute_grpo_loss(&responses, GroupShape::of(&responses), &config);
    let k3 = |d: f64| d.exp() - d - 1.0;
    let kl = [k3(0.0), k3(-1.0), k3(0.5)];
    let policy = -(1.0 * -2.0 + -1.0 * -1.0) / 2.0;
    let want = policy + 0.1 * kl.iter().sum::<f64>() / 2.0;
    assert!(close(out.loss, want), "{} vs {want}", out.loss);
    assert!(close(out.kl, kl.iter().sum::<f64>() / 3.0));
    // ∂/∂log π of β·k3/G is β(1 − e^(ref − log π))/G.
    let d_kl = |d: f64| 0.1 * (1.0 - d.exp()) / 2.0;
    assert!(close(out.dlogprobs[0][1] as f64, -0.5 + d_kl(-1.0)));
    assert!(close(out.dlogprobs[1][0] as f64, 0.5 + d_kl(0.5)));
}

#[test]
fn derivatives_match_finite_differences() {
    let logprobs = [vec![-0.7f32, -1.3], vec![-0.4]];
    let old = [vec![-0.6f32, -1.5], vec![-0.45]];
    let reference = [vec![-0.9f32, -1.1], vec![-0.2]];
    for objective in [
        PolicyObjective::Basic,
        PolicyObjective::Clipped { eps: 0.2 },
        PolicyObjective::BookClipRatio { eps: 0.2 },
        PolicyObjective::Olmo3 {
            eps_low: 0.2,
            eps_high: 0.3,
        },
    ] {
        let config = GrpoLossConfig {
            objective,
            kl_beta: 0.3,
            kl_estimator: KlEstimator::K3PerToken,
        };
        let loss_at = |lp: &[Vec<f32>; 2]| {
            let group = batch(lp, &old, &reference);
            compute_grpo_loss(&group, GroupShape::of(&group), &config).loss
        };
        let group = batch(&logprobs, &old, &reference);
        let d = compute_grpo_loss(&group, GroupShape::of(&group), &config).dlogprobs;
        for (i, t) in [(0, 0), (0, 1), (1, 0)] {
            let (mut up, mut down) = (logprobs.clone(), logprobs.clone());
            up[i][t] += 1e-3;
            down[i][t] -= 1e-3;
            let slope = (loss_at(&up) - loss_at(&down)) / 2e-3;
            assert!(
                (slope - d[i][t] as f64).abs() < 1e-4,
                "{objective:?} ({i},{t}): {slope} vs {}",
                d[i][t]
            );
        }
    }
}
