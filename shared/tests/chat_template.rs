//! Hand-written chat templates against transformers' rendering of the real Jinja
//! templates (`fixtures/chat-templates/cases.json`).

use serde::Deserialize;
use shared::fixtures::fixture;
use shared::tokenizer::{ChatTemplate, Message};

/// One rendering by transformers' `apply_chat_template`.
#[derive(Deserialize)]
struct Case {
    family: String,
    messages: Vec<Message>,
    add_generation_prompt: bool,
    enable_thinking: Option<bool>,
    rendered: String,
}

#[derive(Deserialize)]
struct Cases {
    cases: Vec<Case>,
}

#[test]
fn every_fixture_case_renders_identically() {
    let Some(path) = fixture("chat-templates/cases.json") else {
        return;
    };
    let cases: Cases = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert!(!cases.cases.is_empty());
    for case in &cases.cases {
        let template = ChatTemplate::for_family(&case.family).unwrap();
        let rendered = template.render(
            &case.messages,
            case.add_generation_prompt,
            case.enable_thinking,
        );
        assert_eq!(
            rendered, case.rendered,
            "{} {:?}",
            case.family, case.enable_thinking
        );
    }
}

#[test]
fn user_prompt_shortcut_is_one_user_message_with_generation_prompt() {
    for template in [ChatTemplate::SmolLm2, ChatTemplate::Qwen3] {
        assert_eq!(
            template.render_user_prompt("What is 2+3?"),
            template.render(&[Message::user("What is 2+3?")], true, None)
        );
    }
    assert!(ChatTemplate::SmolLm2
        .render_user_prompt("hi")
        .starts_with("<|im_start|>system\nYou are a helpful AI assistant named SmolLM"));
}

#[test]
fn the_real_qwen3_template_is_detected() {
    let Some(path) = fixture("tokenizers/qwen3/tokenizer_config.json") else {
        return;
    };
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let source = config["chat_template"].as_str().unwrap();
    assert_eq!(ChatTemplate::detect(source), Some(ChatTemplate::Qwen3));
}
