//! The hand-written backward pass against PyTorch autograd on the tiny models of
//! all four families (`fixtures/tiny/*/grads.json`), and against
//! central finite differences of the loss.

use ndarray::{ArrayViewD, Dimension};
use serde_json::Value;
use shared::fixtures::{fixture, fixture_json, json_ids};
use shared::loader::load_hf_model;
use shared::train::{forward, loss, loss_and_grads, Grads, LossReport, Params};

const FAMILIES: [&str; 4] = [
    "qwen3-tiny",
    "qwen3-tiny-untied",
    "qwen2-tiny",
    "llama-tiny",
];

/// The tolerances.
const LOSS_TOL: f64 = 1e-5;
const L2_REL_TOL: f64 = 1e-4;
const HEAD_TOL: f64 = 1e-5;

/// The largest deviations from a fixture, for the report.
#[derive(Debug, Default)]
struct Deviation {
    loss: f64,
    logprob: f64,
    l2_rel: f64,
    l2_rel_name: String,
    head: f64,
    head_name: String,
}

fn load(family: &str) -> Option<(Params, Value)> {
    let reference = fixture_json(&format!("tiny/{family}/grads.json"))?;
    let dir = fixture(&format!("tiny/{family}")).unwrap();
    let model = load_hf_model(&dir).unwrap();
    Some((Params::from_model(&model), reference))
}

fn l2(a: &ArrayViewD<f32>) -> f64 {
    a.iter()
        .map(|&x| (x as f64) * (x as f64))
        .sum::<f64>()
        .sqrt()
}

/// Compares loss, log-probs and every gradient of the fixture with ours at the
/// issue's tolerances; the error names the first parameter that fails.
fn compare(reference: &Value, report: &LossReport, grads: &Grads) -> Result<Deviation, String> {
    let mut dev = Deviation {
        loss: (report.loss as f64 - reference["loss"].as_f64().unwrap()).abs(),
        ..Deviation::default()
    };
    if dev.loss > LOSS_TOL {
        return Err(format!(
            "loss {} vs {} (off by {:e})",
            report.loss, reference["loss"], dev.loss
        ));
    }
    let logprobs = reference["token_logprobs"].as_array().unwrap();
    if logprobs.len() != report.token_logprobs.len() {
        return Err("token_logprobs: lengths differ".into());
    }
    for (ours, theirs) in report.token_logprobs.iter().zip(logprobs) {
        dev.logprob = dev
            .logprob
            .max((*ours as f64 - theirs.as_f64().unwrap()).abs());
    }
    if dev.logprob > LOSS_TOL {
        return Err(format!("token_logprobs off by {:e}", dev.logprob));
    }
    let ours = grads.tensors.named();
    let expected = reference["grads"].as_object().unwrap();
    if expected.is_empty() {
        return Err("the fixture holds no gradients".into());
    }
    for (name, want) in expected {
        let Some((_, got)) = ours.iter().find(|(n, _)| n == name) else {
            return Err(format!("{name}: no gradient computed for this parameter"));
        };
        let shape: Vec<usize> = json_ids(&want["shape"])
            .iter()
            .map(|&d| d as usize)
            .collect();
        if got.shape() != shape.as_slice() {
            return Err(format!("{name}: shape {:?} vs {shape:?}", got.shape()));
        }
        let want_l2 = want["l2"].as_f64().unwrap();
        let rel = (l2(got) - want_l2).abs() / want_l2.max(f64::MIN_POSITIVE);
        if rel > dev.l2_rel {
            dev.l2_rel = rel;
            dev.l2_rel_name = name.clone();
        }
        if rel > L2_REL_TOL {
            return Err(format!(
                "{name}: gradient L2 norm {} vs {want_l2} (relative error {rel:e})",
                l2(got)
            ));
        }
        for (i, (&g, w)) in got.iter().zip(want["head"].as_array().unwrap()).enumerate() {
            let diff = (g as f64 - w.as_f64().unwrap()).abs();
            if diff > dev.head {
                dev.head = diff;
                dev.head_name = name.clone();
            }
            if diff > HEAD_TOL {
                return Err(format!("{name}: gradient value {i} is {g}, expected {w}"));
            }
        }
    }
    if ours.len() != expected.len() {
        let extra: Vec<&str> = ours
            .iter()
            .map(|(n, _)| n.as_str())
            .filter(|n| !expected.contains_key(*n))
            .collect();
        return Err(format!("parameters the fixture does not have: {extra:?}"));
    }
    Ok(dev)
}

#[test]
fn gradients_match_pytorch_autograd_for_every_family() {
    for family in FAMILIES {
        let Some((params, reference)) = load(family) else {
            return;
        };
        let (report, grads) = loss_and_grads(&params, &json_ids(&reference["input_ids"])).unwrap();
        match compare(&reference, &report, &grads) {
            Ok(d) => eprintln!(
                "{family}: loss off by {:.1e}, log-probs by {:.1e}, worst L2 {:.1e} ({}), worst head value {:.1e} ({})",
                d.loss, d.logprob, d.l2_rel, d.l2_rel_name, d.head, d.head_name
            ),
            Err(e) => panic!("{family}: {e}"),
        }
    }
}

#[test]
fn parameters_come_in_pytorch_order() {
    for family in FAMILIES {
        let Some(path) = fixture(&format!("tiny/{family}/grads.json")) else {
            return;
        };
        // serde_json sorts object keys: find each name's place in the raw text.
        let text = std::fs::read_to_string(path).unwrap();
        let dir = fixture(&format!("tiny/{family}")).unwrap();
        let params = Params::from_model(&load_hf_model(&dir).unwrap());
        let mut last = 0;
        for (name, _) in params.tensors.named() {
            let at = text
                .find(&format!("\"{name}\""))
                .unwrap_or_else(|| panic!("{family}: {name} is not in the fixture"));
            assert!(
                at > last,
                "{family}: {name} comes earlier in named_parameters()"
            );
            last = at;
        }
    }
}

#[test]
fn the_comparison_fails_on_a_wrong_or_missing_gradient() {
    let Some((params, reference)) = load("qwen2-tiny") else {
        return;
    };
    let (report, grads) = loss_and_grads(&params, &json_ids(&reference["input_ids"])).unwrap();
    assert!(compare(&reference, &report, &grads).is_ok());

    // One head value off by 1e-4 (ten times the tolerance).
    let name = "model.layers.1.self_attn.k_proj.bias";
    let mut wrong = grads.clone();
    wrong.tensors.get_mut(name).unwrap()[[0]] += 1e-4;
    let err = compare(&reference, &report, &wrong).unwrap_err();
    assert!(err.contains(name), "{err}");

    // A gradient scaled by 1.001 moves its L2 norm by 1e-3 relative.
    let name = "model.layers.0.mlp.down_proj.weight";
    let mut wrong = grads.clone();
    wrong
        .tensors
        .get_mut(name)
        .unwrap()
        .mapv_inplace(|g| g * 1.001);
    let err = compare(&reference, &report, &wrong).unwrap_err();
    assert!(err.contains(name) && err.contains("L2"), "{err}");

    // A parameter the fixture has and we do not.
    let mut extra = reference.clone();
    extra["grads"]["model.layers.2.mlp.up_proj.weight"] =
        reference["grads"]["model.layers.1.mlp.up_proj.weight"].clone();
    let err = compare(&extra, &report, &grads).unwrap_err();
    assert!(err.contains("model.layers.2.mlp.up_proj.weight"), "{err}");

    // A loss off by 1e-4.
    let mut off = report.clone();
    off.loss += 1e-4;
    assert!(compare(&reference, &off, &grads)
        .unwrap_err()
        .contains("loss"));
}

/// The loss at `params`, computed in f32 by the training forward pass.
fn loss_at(params: &Params, ids: &[u32]) -> f64 {
    let (logits, _) = forward::forward(params, ids).unwrap();
    loss::next_token_loss(logits.view(), ids).0 as f64
}

/// `(L(θ + ε·u) − L(θ − ε·u)) / 2ε` where `u` moves the parameter `name` only,
/// along `direction` (same shape).
fn central_difference(
    params: &Params,
    ids: &[u32],
    name: &str,
    direction: &ndarray::ArrayD<f32>,
    eps: f32,
) -> f64 {
    let shifted = |sign: f32| {
        let mut p = params.clone();
        let mut a = p.tensors.get_mut(name).unwrap();
        a.zip_mut_with(direction, |x, &u| *x += sign * eps * u);
        loss_at(&p, ids)
    };
    (shifted(1.0) - shifted(-1.0)) / (2.0 * eps as f64)
}

#[test]
fn gradients_match_finite_differences() {
    for family in ["qwen3-tiny", "qwen2-tiny"] {
        let Some((params, reference)) = load(family) else {
            return;
        };
        let ids = json_ids(&reference["input_ids"]);
        let (_, grads) = loss_and_grads(&params, &ids).unwrap();
        let (mut worst_dir, mut worst_scalar) = (0.0f64, 0.0f64);
        for (name, g) in grads.tensors.named() {
            // Along the gradient of one parameter (unit direction), the slope is its L2 norm.
            let norm = l2(&g);
            let direction = g.mapv(|x| (x as f64 / norm) as f32);
            let slope = central_difference(&params, &ids, &name, &direction, 1e-2);
            let rel = (slope - norm).abs() / norm;
            worst_dir = worst_dir.max(rel);
            assert!(
                rel < 5e-3,
                "{family} {name}: slope along the gradient {slope}, |g| = {norm} (relative error {rel:e})"
            );
            // One scalar: the entry with the largest gradient.
            let (at, &largest) = g
                .indexed_iter()
                .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
                .unwrap();
            let mut unit = ndarray::ArrayD::<f32>::zeros(g.raw_dim());
            unit[&at] = 1.0;
            let slope = central_difference(&params, &ids, &name, &unit, 1e-2);
            let diff = (slope - largest as f64).abs();
            worst_scalar = worst_scalar.max(diff / (largest as f64).abs());
            assert!(
                diff < 1e-3 + 5e-3 * (largest as f64).abs(),
                "{family} {name}{:?}: finite difference {slope}, gradient {largest}",
                at.slice()
            );
        }
        eprintln!(
            "{family}: finite differences within {worst_dir:.1e} (along each gradient), {worst_scalar:.1e} (largest entries), relative"
        );
    }
}

#[test]
fn the_training_forward_matches_the_inference_forward() {
    for family in FAMILIES {
        let Some(dir) = fixture(&format!("tiny/{family}")) else {
            return;
        };
        let model = load_hf_model(&dir).unwrap();
        let params = Params::from_model(&model);
        let ids = [3, 1, 4, 1, 5, 9, 2, 6];
        let (ours, _) = forward::forward(&params, &ids).unwrap();
        let theirs = model.forward(&ids).unwrap();
        let diff = (&ours - &theirs)
            .mapv(f32::abs)
            .fold(0.0, |m: f32, &v| m.max(v));
        assert!(diff < 1e-4, "{family}: logits differ by {diff}");
    }
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let Some((params, _)) = load("llama-tiny") else {
        return;
    };
    for (ids, says) in [
        (vec![], "at least 2"),
        (vec![5], "at least 2"),
        (vec![1, 512], "outside the vocabulary"),
    ] {
        let err = loss_and_grads(&params, &ids).unwrap_err().to_string();
        assert!(err.contains(says), "{ids:?}: {err}");
    }
    let too_long = vec![1; params.config.max_position_embeddings + 1];
    let err = loss_and_grads(&params, &too_long).unwrap_err().to_string();
    assert!(err.contains("longer than the context"), "{err}");
}

#[test]
fn the_training_forward_matches_the_inference_forward_on_the_default_model() {
    let Some(files) = shared::fixtures::default_model() else {
        return;
    };
    let model = shared::loader::load_model_files(&files).unwrap().model;
    let params = Params::from_model(&model);
    let ids = [1, 504, 3458, 282, 1345, 314, 260, 2343];
    let (ours, _) = forward::forward(&params, &ids).unwrap();
    let theirs = model.forward(&ids).unwrap();
    let diff = (&ours - &theirs)
        .mapv(f32::abs)
        .fold(0.0, |m: f32, &v| m.max(v));
    eprintln!("default model: training and inference logits differ by at most {diff:.1e}");
    assert!(diff < 1e-3, "logits differ by {diff}");
}

#[test]
fn a_few_clipped_adamw_steps_lower_the_loss() {
    use shared::train::{clip_grad_norm, AdamW, AdamWConfig};
    let Some((mut params, reference)) = load("qwen3-tiny") else {
        return;
    };
    let ids = json_ids(&reference["input_ids"]);
    let config = AdamWConfig {
        lr: 1e-2,
        ..AdamWConfig::default()
    };
    let mut opt = AdamW::new(&params.tensors, config);
    let start = loss_at(&params, &ids);
    let mut last = start;
    for step in 0..3 {
        let (report, mut grads) = loss_and_grads(&params, &ids).unwrap();
        assert!((f64::from(report.loss) - last).abs() < 1e-5, "step {step}");
        let norm = clip_grad_norm(&mut grads.tensors, 1.0);
        assert!(norm > 0.0);
        opt.step(&mut params.tensors, &grads.tensors);
        let now = loss_at(&params, &ids);
        assert!(
            now < last,
            "step {step}: the loss rose from {last} to {now}"
        );
        last = now;
    }
    assert!(
        last < start - 0.1,
        "3 steps moved the loss only from {start} to {last}"
    );
}
