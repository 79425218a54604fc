//! `ch05 grads` on a tiny fixture model: the JSON matches PyTorch's loss and
//! gradients; bad input fails with a clear message and no panic.

use std::process::{Command, Output};

use serde_json::Value;
use shared::fixtures::fixture;

fn ch05(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ch05"))
        .args(args)
        .output()
        .expect("ch05 runs")
}

fn ids_arg(v: &Value) -> String {
    let ids: Vec<String> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.to_string())
        .collect();
    ids.join(",")
}

#[test]
fn grads_json_matches_pytorch_on_a_tiny_model() {
    let (Some(dir), Some(grads)) = (
        fixture("tiny/qwen2-tiny"),
        fixture("tiny/qwen2-tiny/grads.json"),
    ) else {
        return;
    };
    let reference: Value = serde_json::from_str(&std::fs::read_to_string(grads).unwrap()).unwrap();
    let ids = ids_arg(&reference["input_ids"]);
    let model = dir.to_str().unwrap();
    let out = ch05(&["grads", "--model", model, "--ids", &ids, "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Value = serde_json::from_slice(&out.stdout).expect("one JSON document on stdout");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("{\"loss\":6.45368")
            && text.contains("\"grads\":{\"model.embed_tokens.weight\":"),
        "loss first, then the gradients in Hugging Face order: {text}"
    );
    let loss = got["loss"].as_f64().unwrap();
    assert!(
        (loss - reference["loss"].as_f64().unwrap()).abs() < 1e-5,
        "loss {loss}"
    );
    let expected = reference["grads"].as_object().unwrap();
    assert_eq!(got["grads"].as_object().unwrap().len(), expected.len());
    for (name, want) in expected {
        let g = &got["grads"][name];
        let (l2, want_l2) = (g["l2"].as_f64().unwrap(), want["l2"].as_f64().unwrap());
        assert!(
            (l2 - want_l2).abs() <= 1e-4 * want_l2,
            "{name}: l2 {l2} vs {want_l2}"
        );
        let head = g["head"].as_array().unwrap();
        assert_eq!(head.len(), 8, "{name}");
        for (a, b) in head.iter().zip(want["head"].as_array().unwrap()) {
            assert!(
                (a.as_f64().unwrap() - b.as_f64().unwrap()).abs() < 1e-5,
                "{name}"
            );
        }
    }

    // The table: loss first, then one line per parameter.
    let table = ch05(&["grads", "--model", model, "--ids", &ids]);
    assert!(table.status.success());
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.starts_with("loss 6.45368"), "{text}");
    assert!(
        text.contains("model.layers.1.self_attn.v_proj.bias"),
        "{text}"
    );
}

#[test]
fn grads_rejects_bad_ids_cleanly() {
    let Some(dir) = fixture("tiny/llama-tiny") else {
        return;
    };
    let model = dir.to_str().unwrap();
    for (ids, says) in [
        ("", "empty"),
        (" , ", "empty"),
        ("7", "at least 2"),
        ("1,2,512", "outside the vocabulary"),
        ("1,x", "not a token id"),
    ] {
        let out = ch05(&["grads", "--model", model, "--ids", ids]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{ids:?} should fail");
        assert!(stderr.contains(says), "{ids:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{ids:?}: {stderr}");
    }
}

#[test]
fn without_a_subcommand_it_points_to_grads() {
    let out = ch05(&[]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("coming") && text.contains("ch05 -- grads"),
        "{text}"
    );
}
