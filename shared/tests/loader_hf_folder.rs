//! Loading a Hugging Face folder end to end: weights, tokenizer, and the chat
//! template recognized from tokenizer_config.json (the Qwen3 layout, offline).

use std::path::PathBuf;

use shared::fixtures::fixture;
use shared::loader::load_model_files;
use shared::models::ModelFiles;
use shared::tokenizer::ChatTemplate;

/// A temp folder holding qwen3-tiny's weights with the real Qwen3 tokenizer files.
fn qwen3_folder() -> Option<PathBuf> {
    let model = fixture("tiny/qwen3-tiny")?;
    let tokenizer = fixture("tokenizers/qwen3")?;
    let dir = std::env::temp_dir().join(format!("rfs-loader-qwen3-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (src, name) in [
        (model.join("config.json"), "config.json"),
        (model.join("model.safetensors"), "model.safetensors"),
        (tokenizer.join("tokenizer.json"), "tokenizer.json"),
        (
            tokenizer.join("tokenizer_config.json"),
            "tokenizer_config.json",
        ),
    ] {
        std::fs::copy(src, dir.join(name)).unwrap();
    }
    Some(dir)
}

#[test]
fn qwen3_folder_loads_with_tokenizer_and_chat_template() {
    let Some(dir) = qwen3_folder() else { return };
    let loaded = load_model_files(&ModelFiles::HfFolder(dir.clone())).unwrap();
    assert_eq!(loaded.chat_template, Some(ChatTemplate::Qwen3));
    let tokenizer = loaded.tokenizer().unwrap();
    let im_end = tokenizer.token_to_id("<|im_end|>").unwrap();
    assert!(loaded.stop_ids().contains(&im_end));
    let ids = loaded.encode_prompt("What is 2+3?", true).unwrap();
    let text = tokenizer.decode(&ids).unwrap();
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
fn folder_without_tokenizer_loads_and_asks_for_ids() {
    let Some(dir) = fixture("tiny/llama-tiny") else {
        return;
    };
    let loaded = load_model_files(&ModelFiles::HfFolder(dir)).unwrap();
    assert!(loaded.tokenizer.is_none() && loaded.chat_template.is_none());
    let err = loaded.encode_prompt("hi", false).unwrap_err().to_string();
    assert!(err.contains("--ids"), "{err}");
}
