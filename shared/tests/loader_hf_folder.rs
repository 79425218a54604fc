//! Loading a Hugging Face folder end to end: weights, tokenizer, and the chat
//! template from tokenizer_config.json (the Qwen3 layout, offline).

use std::path::PathBuf;

use shared::fixtures::fixture;
use shared::loader::load_model_files;
use shared::models::ModelFiles;
use shared::tokenizer::HandWritten;

/// A temp folder holding qwen3-tiny's weights with the real Qwen3 tokenizer files;
/// `edit_config` may change its `tokenizer_config.json` (e.g. its chat template).
fn qwen3_folder(tag: &str, edit_config: impl FnOnce(&mut serde_json::Value)) -> Option<PathBuf> {
    let model = fixture("tiny/qwen3-tiny")?;
    let tokenizer = fixture("tokenizers/qwen3")?;
    let dir = std::env::temp_dir().join(format!("rfs-loader-qwen3-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (src, name) in [
        (model.join("config.json"), "config.json"),
        (model.join("model.safetensors"), "model.safetensors"),
        (tokenizer.join("tokenizer.json"), "tokenizer.json"),
    ] {
        std::fs::copy(src, dir.join(name)).unwrap();
    }
    let config_text = std::fs::read_to_string(tokenizer.join("tokenizer_config.json")).unwrap();
    let mut config: serde_json::Value = serde_json::from_str(&config_text).unwrap();
    edit_config(&mut config);
    std::fs::write(dir.join("tokenizer_config.json"), config.to_string()).unwrap();
    Some(dir)
}

#[test]
fn qwen3_folder_loads_with_tokenizer_and_its_own_chat_template() {
    let Some(dir) = qwen3_folder("own", |_| {}) else {
        return;
    };
    let loaded = load_model_files(&ModelFiles::HfFolder(dir.clone())).unwrap();
    let template = loaded.chat_template.as_ref().unwrap();
    assert!(
        template.jinja_source().unwrap().contains("enable_thinking"),
        "tokenizer_config.json's template: {template:?}"
    );
    let tokenizer = loaded.tokenizer().unwrap();
    let im_end = tokenizer.token_to_id("<|im_end|>").unwrap();
    assert!(loaded.stop_ids().contains(&im_end));
    let ids = loaded.encode_prompt("What is 2+3?", true).unwrap();
    let text = tokenizer.decode(&ids);
    assert_eq!(
        text,
        "<|im_start|>user\nWhat is 2+3?<|im_end|>\n<|im_start|>assistant\n"
    );
    assert!(
        loaded.encode_prompt("", false).is_err(),
        "an empty prompt is refused"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn qwen3_folder_without_a_template_falls_back_to_the_hand_written_one() {
    let Some(dir) = qwen3_folder("none", |config| {
        config.as_object_mut().unwrap().remove("chat_template");
    }) else {
        return;
    };
    let loaded = load_model_files(&ModelFiles::HfFolder(dir.clone())).unwrap();
    let template = loaded.chat_template.as_ref().unwrap();
    assert_eq!(template.as_hand_written(), Some(HandWritten::Qwen3));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_template_that_does_not_compile_loads_and_fails_only_with_chat() {
    let Some(dir) = qwen3_folder("broken", |config| {
        config["chat_template"] = "{% if messages %}unclosed".into();
    }) else {
        return;
    };
    let loaded = load_model_files(&ModelFiles::HfFolder(dir.clone())).unwrap();
    assert!(loaded.chat_template.is_some(), "kept, to report when used");
    assert!(loaded.encode_prompt("What is 2+3?", false).is_ok());
    let err = loaded
        .encode_prompt("What is 2+3?", true)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&dir.display().to_string()) && err.contains("does not compile"),
        "{err}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn folder_without_tokenizer_loads_and_asks_for_ids() {
    let Some(dir) = fixture("tiny/llama-tiny") else {
        return;
    };
    let loaded = load_model_files(&ModelFiles::HfFolder(dir)).unwrap();
    assert!(loaded.tokenizer.is_none() && loaded.chat_template.is_none());
    let err = loaded.encode_prompt("hi", false).unwrap_err().to_string();
    assert!(err.contains("--ids"), "{err}");
}
