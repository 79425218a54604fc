//! Snapshot tests for chapter 2 on the default model. Edit a chapter function
//! and run `cargo insta test -p ch02` / `cargo insta review` to see how its output changes.

use ch02::{compare_kv_cache, format_tokenization, tokenize};
use shared::fixtures::default_model;
use shared::generate::generate_text_basic_cache;
use shared::loader::{load_model_files, LoadedModel};

fn model() -> Option<LoadedModel> {
    default_model().map(|files| load_model_files(&files).unwrap())
}

#[test]
fn tokenization_of_fixed_strings() {
    let Some(loaded) = model() else { return };
    let tokenizer = loaded.tokenizer().unwrap();
    let mut report = String::new();
    for text in [
        "Hello, world!",
        "x^2 + 2x + 1 = 0",
        "<|im_start|>user\nWhat is 15% of 80?<|im_end|>",
    ] {
        report += &format!(
            "{text:?}\n{}\n",
            format_tokenization(tokenizer, &tokenize(tokenizer, text))
        );
    }
    insta::assert_snapshot!(report);
}

#[test]
fn greedy_continuations_of_three_prompts() {
    let Some(loaded) = model() else { return };
    let mut report = String::new();
    for (prompt, chat) in [
        ("The capital of France is", false),
        ("def fibonacci(n):", false),
        ("What is 2+3?", true),
    ] {
        let ids = loaded.encode_prompt(prompt, chat).unwrap();
        let g = generate_text_basic_cache(&loaded.model, &ids, 24, &loaded.stop_ids(), &mut |_| {})
            .unwrap();
        let text = loaded.tokenizer().unwrap().decode(&g.ids);
        report += &format!(
            "prompt {prompt:?} (chat: {chat})\n  ids: {:?}\n  text: {text:?}\n  stop: {:?}\n\n",
            g.ids, g.stop
        );
    }
    insta::assert_snapshot!(report);
}

#[test]
fn cache_and_no_cache_give_identical_ids() {
    let Some(loaded) = model() else { return };
    let ids = loaded
        .encode_prompt("Question: What is 12 times 7?\nAnswer:", false)
        .unwrap();
    let comparison = compare_kv_cache(&loaded.model, &ids, 16).unwrap();
    assert_eq!(comparison.without_cache.ids, comparison.with_cache.ids);
    // Each generated id beside the text it decodes to, then the whole continuation.
    let tokenizer = loaded.tokenizer().unwrap();
    let ids = &comparison.with_cache.ids;
    let mut out = String::from("  id  text\n");
    for &id in ids {
        out.push_str(&format!("{id:>4}  {:?}\n", tokenizer.decode(&[id])));
    }
    out.push_str(&format!("\ncontinuation: {:?}\n", tokenizer.decode(ids)));
    insta::assert_snapshot!(out);
}
