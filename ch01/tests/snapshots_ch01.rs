//! Snapshot tests for chapter 1. Edit a chapter function and run
//! `cargo insta test -p ch01` / `cargo insta review` to see how its output changes.

use ch01::{format_distribution, next_token_distribution, toy_causal_attention, toy_softmax};
use shared::fixtures::default_model;
use shared::loader::load_model_files;

#[test]
fn toy_softmax_table() {
    insta::assert_snapshot!(toy_softmax());
}

#[test]
fn toy_causal_attention_weights() {
    insta::assert_snapshot!(toy_causal_attention());
}

#[test]
fn next_token_top5_on_the_default_model() {
    let Some(files) = default_model() else { return };
    let loaded = load_model_files(&files).unwrap();
    let mut report = String::new();
    for prompt in ["The capital of France is", "1 + 1 =", "Once upon a time"] {
        let ids = loaded.encode_prompt(prompt, false).unwrap();
        let top =
            next_token_distribution(&loaded.model, loaded.tokenizer.as_ref(), &ids, 5).unwrap();
        report += &format!("{prompt:?}\n{}\n", format_distribution(&top));
    }
    insta::assert_snapshot!(report);
}
