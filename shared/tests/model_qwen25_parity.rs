//! The reasoning model (Qwen2.5-Coder-0.5B-Instruct, Q4_K_M GGUF: Q5_0, Q8_0, Q4_K, Q6_K
//! and F32 tensors, all multiplied by our native kernels) against transformers running
//! the same weights dequantized to f32 by gguf-py
//! (`fixtures/qwen25-coder-0.5b/reference.json`): the chat template from the
//! GGUF and our tokenizer give the same input ids; the last position's top-10 ids are
//! the same set with logits within 0.02; 32 greedy tokens are the same.

use serde_json::Value;
use shared::fixtures::{fixture_json, json_ids, reasoning_model};
use shared::loader::load_model_files;
use shared::model::Model;
use shared::tensor::argmax;
use shared::tokenizer::Message;

/// The messages of a reference case: its `messages`, or its `text` as one user message.
fn messages(prompt: &Value) -> Vec<Message> {
    match prompt["messages"].as_array() {
        Some(list) => list
            .iter()
            .map(|m| {
                let content = m["content"].as_str().unwrap();
                match m["role"].as_str().unwrap() {
                    "system" => Message::system(content),
                    "assistant" => Message::assistant(content),
                    _ => Message::user(content),
                }
            })
            .collect(),
        None => vec![Message::user(prompt["text"].as_str().unwrap())],
    }
}

/// A plain argmax loop over the whole sequence, as the reference's `greedy_32` was made
/// (no stop tokens), with the KV cache.
fn greedy(model: &Model, input: &[u32], n: usize) -> Vec<u32> {
    let mut state = model.new_decode_state(input.len() + n);
    let mut logits = Vec::new();
    for &t in input {
        logits = model.forward_step(t, &mut state).to_vec();
    }
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let next = argmax(&logits) as u32;
        out.push(next);
        logits = model.forward_step(next, &mut state).to_vec();
    }
    out
}

#[test]
fn template_ids_logits_and_greedy_tokens_match_transformers() {
    let Some(reference) = fixture_json("qwen25-coder-0.5b/reference.json") else {
        return;
    };
    let Some(files) = reasoning_model() else {
        return;
    };
    let loaded = load_model_files(&files).unwrap();
    let tokenizer = loaded.tokenizer().unwrap();
    let template = loaded
        .chat_template
        .as_ref()
        .expect("the GGUF carries a template");
    let cases = reference["cases"].as_array().unwrap();
    let mut worst = 0.0f64;
    for case in cases {
        let prompt = &case["prompt"];
        let text = if prompt["chat"].as_bool().unwrap() {
            template.render(&messages(prompt), true, None).unwrap()
        } else {
            prompt["text"].as_str().unwrap().to_owned()
        };
        assert_eq!(text, case["rendered"].as_str().unwrap(), "rendered text");
        let input = json_ids(&case["input_ids"]);
        assert_eq!(tokenizer.encode(&text), input, "{text:?}: input_ids");

        let logits = loaded.model.forward(&input).unwrap();
        let last = logits.row(logits.nrows() - 1).to_vec();
        let mut order: Vec<usize> = (0..last.len()).collect();
        order.sort_by(|&a, &b| last[b].total_cmp(&last[a]));
        let mut top10: Vec<u32> = order[..10].iter().map(|&i| i as u32).collect();
        let mut expected = json_ids(&case["top10_ids"]);
        let expected_logits = case["top10_logits"].as_array().unwrap();
        assert_eq!(expected.len(), expected_logits.len());
        for (&id, want) in expected.iter().zip(expected_logits) {
            let (got, want) = (f64::from(last[id as usize]), want.as_f64().unwrap());
            worst = worst.max((got - want).abs());
            // Measured 1.16e-5 at most; the fixture prints 6 significant digits.
            assert!(
                (got - want).abs() <= 2e-4,
                "{text:?}: logit of {id}: {got} vs {want}"
            );
        }
        top10.sort_unstable();
        expected.sort_unstable();
        assert_eq!(top10, expected, "{text:?}: top-10 ids");

        let want = json_ids(&case["greedy_32"]);
        assert_eq!(
            greedy(&loaded.model, &input, want.len()),
            want,
            "{text:?}: greedy"
        );
    }
    assert!(cases.len() >= 4, "only {} cases", cases.len());
    println!(
        "{} cases: largest top-10 logit difference {worst:.2e}",
        cases.len()
    );
}
