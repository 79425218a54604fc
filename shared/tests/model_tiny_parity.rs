//! The decoder against PyTorch/transformers on the tiny random-weight models of
//! all four families (`fixtures/tiny/*/reference.json`).

use serde_json::Value;
use shared::fixtures::{fixture, fixture_json, json_floats, json_ids};
use shared::generate::{generate_text_basic, generate_text_basic_cache, Generation};
use shared::loader::load_hf_model;
use shared::model::Model;
use shared::tensor::argmax;
use shared::Result;

type Generate = fn(&Model, &[u32], usize, &[u32], &mut dyn FnMut(u32)) -> Result<Generation>;
const CACHED: Generate = generate_text_basic_cache;
const UNCACHED: Generate = generate_text_basic;

const FAMILIES: [&str; 4] = [
    "qwen3-tiny",
    "qwen3-tiny-untied",
    "qwen2-tiny",
    "llama-tiny",
];

fn reference(family: &str) -> Option<Value> {
    fixture_json(&format!("tiny/{family}/reference.json"))
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Last-position logits within `tol`, argmax at every position and 12 greedy tokens equal.
fn check_family(family: &str, weights_dir: &str, logits_key: &str, tol: f32) {
    let Some(reference) = reference(family) else {
        return;
    };
    let dir = fixture(&format!("tiny/{family}/{weights_dir}")).unwrap();
    let model = load_hf_model(&dir).unwrap();
    let cases = reference["cases"].as_array().unwrap();
    assert!(
        cases.len() >= 3,
        "{family}: {} cases in the fixture",
        cases.len()
    );
    for case in cases {
        let input = json_ids(&case["input_ids"]);
        let logits = model.forward(&input).unwrap();
        let last = logits.row(logits.nrows() - 1).to_vec();
        let diff = max_abs_diff(&last, &json_floats(&case[logits_key]));
        assert!(
            diff <= tol,
            "{family}/{weights_dir} {input:?}: last logits differ by {diff}"
        );
        let argmaxes: Vec<u32> = logits
            .rows()
            .into_iter()
            .map(|r| argmax(r.as_slice().unwrap()) as u32)
            .collect();
        if logits_key == "last_logits" {
            let head = json_floats(&case["first_logits_head"]);
            let first = &logits.row(0).to_vec()[..head.len()];
            assert!(
                max_abs_diff(first, &head) <= tol,
                "{family}: first-position logits"
            );
            assert_eq!(
                argmaxes,
                json_ids(&case["argmax_per_position"]),
                "{family}: argmax per position"
            );
            for (use_cache, generate) in [(true, CACHED), (false, UNCACHED)] {
                let greedy = generate(&model, &input, 12, &[], &mut |_| {}).unwrap();
                assert_eq!(
                    greedy.ids,
                    json_ids(&case["greedy_12"]),
                    "{family}: greedy_12 (cache: {use_cache})"
                );
            }
        }
    }
}

#[test]
fn f32_weights_match_transformers() {
    for family in FAMILIES {
        check_family(family, "", "last_logits", 1e-4);
    }
}

#[test]
fn bf16_weights_match_transformers() {
    for family in FAMILIES {
        check_family(family, "bf16", "bf16_weights_last_logits", 1e-3);
    }
}
