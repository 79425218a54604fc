//! LoRA adapters: fresh ones leave the model unchanged, their gradients (by the
//! chain rule through the merged weights) match central finite differences, and
//! AdamW on the adapters alone lowers a tiny model's loss.

use ndarray::ArrayD;
use ndarray_rand::rand::distr::StandardUniform;
use ndarray_rand::RandomExt;
use shared::fixtures::fixture;
use shared::loader::load_hf_model;
use shared::rng::Rng;
use shared::train::{
    clip_grad_norm, forward, loss, loss_and_grads, AdamW, AdamWConfig, Lora, LoraConfig,
    LoraTensors, Params, Trainable,
};

const IDS: [u32; 12] = [1, 17, 250, 3, 99, 42, 7, 300, 411, 0, 5, 77];

fn load(family: &str) -> Option<Params> {
    let dir = fixture(&format!("tiny/{family}"))?;
    Some(Params::from_model(&load_hf_model(&dir).unwrap()))
}

/// The loss of `base` with `lora` merged in.
fn loss_with(base: &Params, lora: &Lora) -> f64 {
    let mut merged = base.clone();
    lora.merge_into(&base.tensors, &mut merged.tensors);
    let (logits, _) = forward::forward(&merged, &IDS).unwrap();
    loss::next_token_loss(logits.view(), &IDS).0 as f64
}

/// The adapters' gradients of the loss.
fn lora_grads(base: &Params, lora: &Lora) -> LoraTensors {
    let mut merged = base.clone();
    lora.merge_into(&base.tensors, &mut merged.tensors);
    let (_, grads) = loss_and_grads(&merged, &IDS).unwrap();
    lora.grads_from(&grads.tensors)
}

/// Adapters with `B` random too, so that every gradient is non-zero.
fn random_lora(base: &Params, rank: usize) -> Lora {
    let mut lora = Lora::new(&base.tensors, LoraConfig::with_rank(rank), 7).unwrap();
    let mut rng = Rng::new(11);
    for (_, mut a) in lora.tensors.named_mut() {
        let unit = ArrayD::<f64>::random_using(a.raw_dim(), StandardUniform, &mut rng);
        a += &unit.mapv(|u| ((u - 0.5) * 0.2) as f32);
    }
    lora
}

#[test]
fn fresh_adapters_leave_the_model_unchanged() {
    let Some(base) = load("qwen3-tiny") else {
        return;
    };
    let lora = Lora::new(&base.tensors, LoraConfig::with_rank(4), 1).unwrap();
    let mut merged = base.clone();
    merged.tensors.layers[0].q_proj.fill(9.0);
    lora.merge_into(&base.tensors, &mut merged.tensors);
    assert_eq!(merged.tensors, base.tensors);
    // Two arrays per projection, seven projections per block.
    let names = lora.tensors.named();
    assert_eq!(names.len(), base.tensors.layers.len() * 14);
    assert_eq!(names[0].0, "model.layers.0.self_attn.q_proj.lora_A.weight");
    assert_eq!(names[0].1.shape(), &[4, base.config.hidden_size]);
    assert_eq!(names[1].0, "model.layers.0.self_attn.q_proj.lora_B.weight");
    // A rank larger than a projection is an error that names the flag.
    let err = Lora::new(&base.tensors, LoraConfig::with_rank(100_000), 1).unwrap_err();
    assert!(err.to_string().contains("--lora"), "{err}");
    assert!(Lora::new(&base.tensors, LoraConfig::with_rank(0), 1).is_err());
}

#[test]
fn a_is_the_seeds_stream_scaled_to_the_kaiming_bound() {
    let Some(base) = load("qwen3-tiny") else {
        return;
    };
    let lora = Lora::new(&base.tensors, LoraConfig::with_rank(2), 42).unwrap();
    let mut rng = Rng::new(42);
    for (name, a) in lora.tensors.named() {
        if name.ends_with("lora_A.weight") {
            let bound = 1.0 / (a.shape()[1] as f64).sqrt();
            for &x in &a {
                assert_eq!(x, ((rng.next_f64() * 2.0 - 1.0) * bound) as f32, "{name}");
            }
        }
    }
}

#[test]
fn adapter_gradients_match_finite_differences() {
    for family in ["qwen3-tiny", "qwen2-tiny"] {
        let Some(base) = load(family) else {
            return;
        };
        let lora = random_lora(&base, 3);
        let grads = lora_grads(&base, &lora);
        let mut worst = 0.0f64;
        for (name, g) in grads.named() {
            // Along this array's gradient (unit direction) the slope is its L2 norm.
            let norm = g.iter().map(|&x| (x as f64).powi(2)).sum::<f64>().sqrt();
            let shifted = |sign: f32| {
                let mut moved = lora.clone();
                for (n, mut a) in moved.tensors.named_mut() {
                    if n == name {
                        a.zip_mut_with(&g, |x, &d| *x += sign * 1e-2 * (d as f64 / norm) as f32);
                    }
                }
                loss_with(&base, &moved)
            };
            let slope = (shifted(1.0) - shifted(-1.0)) / 2e-2;
            let rel = (slope - norm).abs() / norm;
            worst = worst.max(rel);
            assert!(rel < 5e-3, "{family} {name}: slope {slope}, |g| = {norm}");
        }
        eprintln!("{family}: LoRA gradients within {worst:.1e} of finite differences");
    }
}

#[test]
fn adamw_on_the_adapters_lowers_the_loss() {
    let Some(base) = load("llama-tiny") else {
        return;
    };
    let mut lora = Lora::new(&base.tensors, LoraConfig::with_rank(4), 3).unwrap();
    let before = loss_with(&base, &lora);
    let config = AdamWConfig {
        lr: 1e-2,
        ..AdamWConfig::default()
    };
    let mut opt = AdamW::new(&lora.tensors, config);
    for _ in 0..5 {
        let mut grads = lora_grads(&base, &lora);
        clip_grad_norm(&mut grads, 1.0);
        opt.step(&mut lora.tensors, &grads);
    }
    let after = loss_with(&base, &lora);
    assert!(after < before - 0.05, "loss {before} → {after}");
    // B started at zero; training moved it.
    assert!(lora.tensors.layers[0][0].b.iter().any(|&x| x != 0.0));
}

#[test]
fn frozen_blocks_get_no_gradient_and_are_not_merged() {
    let Some(base) = load("qwen3-tiny") else {
        return;
    };
    let mut lora = random_lora(&base, 4);
    lora.frozen_layers = 1;
    // Any non-zero arrays serve as the merged weights' gradients here.
    let grads = lora.grads_from(&base.tensors);
    let unfrozen = Lora {
        frozen_layers: 0,
        ..lora.clone()
    }
    .grads_from(&base.tensors);
    for g in &grads.layers[0] {
        assert!(g.a.iter().chain(&g.b).all(|&x| x == 0.0));
    }
    assert_eq!(grads.layers[1..], unfrozen.layers[1..]);
    let mut merged = base.clone();
    lora.merge_into(&base.tensors, &mut merged.tensors);
    assert_eq!(merged.tensors.layers[0], base.tensors.layers[0]);
    assert_ne!(merged.tensors.layers[1], base.tensors.layers[1]);
}
