//! A scoped training step (`shared::train::forward::Scope`) computes exactly the part
//! of the full step it keeps: logits of the scored positions, gradients of the trained
//! blocks; frozen parts get no gradient. Checked on the tiny models of every family.

use ndarray::{s, Array2};
use shared::fixtures::fixture;
use shared::loader::load_hf_model;
use shared::train::backward::{backward, cross_entropy_backward};
use shared::train::forward::{forward, forward_scoped, Scope};
use shared::train::Params;

const FAMILIES: [&str; 4] = [
    "qwen3-tiny",
    "qwen3-tiny-untied",
    "qwen2-tiny",
    "llama-tiny",
];

fn params(family: &str) -> Option<Params> {
    let dir = fixture(&format!("tiny/{family}"))?;
    Some(Params::from_model(&load_hf_model(&dir).unwrap()))
}

/// `|a − b| ≤ 1e-5 · (1 + max|b|)` elementwise: the same sums, blocked differently.
fn assert_close(a: &Array2<f32>, b: &Array2<f32>, what: &str) {
    assert_eq!(a.dim(), b.dim(), "{what}: shapes");
    let scale = 1.0 + b.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() <= 1e-5 * scale, "{what}: {x} vs {y}");
    }
}

#[test]
fn scoped_steps_compute_the_full_steps_part_and_freeze_the_rest() {
    let ids: Vec<u32> = vec![3, 17, 250, 9, 41, 5, 77, 120];
    let mut checked = 0;
    for family in FAMILIES {
        let Some(params) = params(family) else { return };
        let layers = params.tensors.layers.len();
        let (logits, tape) = forward(&params, &ids).unwrap();
        // The loss scores positions 4.. (a "response"), weighting each token.
        let from = 4;
        let targets = &ids[from + 1..];
        let weights: Vec<f32> = (0..targets.len()).map(|i| 0.3 + 0.1 * i as f32).collect();
        let mut full_targets = vec![0u32; from];
        full_targets.extend_from_slice(targets);
        let mut full_weights = vec![0.0f32; from];
        full_weights.extend_from_slice(&weights);
        let dfull = cross_entropy_backward(logits.view(), &full_targets, &full_weights);
        let full = backward(&params, &tape, dfull.view());

        let scope = Scope {
            outputs_from: from,
            frozen_layers: 1,
            frozen_embeddings: true,
        };
        let (scored, scoped_tape) = forward_scoped(&params, &ids, scope).unwrap();
        assert_close(&scored, &logits.slice(s![from.., ..]).to_owned(), family);
        let dscored = cross_entropy_backward(scored.view(), targets, &weights);
        let part = backward(&params, &scoped_tape, dscored.view());
        for l in 0..layers {
            let (got, want) = (&part.tensors.layers[l], &full.tensors.layers[l]);
            if l < scope.frozen_layers {
                assert!(
                    got.q_proj.iter().all(|&v| v == 0.0),
                    "{family}: frozen block {l}"
                );
                assert!(
                    got.down_proj.iter().all(|&v| v == 0.0),
                    "{family}: frozen block {l}"
                );
            } else {
                assert_close(&got.q_proj, &want.q_proj, &format!("{family} block {l} q"));
                assert_close(&got.v_proj, &want.v_proj, &format!("{family} block {l} v"));
                assert_close(
                    &got.down_proj,
                    &want.down_proj,
                    &format!("{family} block {l} down"),
                );
                assert!(
                    want.q_proj.iter().any(|&v| v != 0.0),
                    "{family}: a trained block moves"
                );
            }
        }
        assert!(
            part.tensors.embed_tokens.iter().all(|&v| v == 0.0),
            "{family}: embedding"
        );
        if let Some(head) = &part.tensors.lm_head {
            assert!(head.iter().all(|&v| v == 0.0), "{family}: lm_head");
        }
        checked += 1;
    }
    assert_eq!(checked, FAMILIES.len());
}

#[test]
fn a_scope_past_the_sequence_or_the_blocks_is_an_error() {
    let Some(params) = params("qwen3-tiny") else {
        return;
    };
    let ids = [1u32, 2, 3];
    let layers = params.tensors.layers.len();
    for scope in [
        Scope {
            outputs_from: 3,
            ..Scope::default()
        },
        Scope {
            frozen_layers: layers + 1,
            ..Scope::default()
        },
    ] {
        assert!(forward_scoped(&params, &ids, scope).is_err(), "{scope:?}");
    }
}
