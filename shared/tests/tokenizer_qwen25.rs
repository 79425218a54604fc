//! Qwen2.5-Coder-0.5B-Instruct's tokenizer built from its GGUF metadata
//! (`tokenizer.ggml.pre = "qwen2"`) against the `input_ids` transformers gave each
//! rendered prompt (`fixtures/qwen25-coder-0.5b/reference.json`), and its chat template
//! against the copy the chat-template tests read.
//!
//! The GGUF (491 MB) is not fetched here: it comes from the cache, as
//! `shared::fixtures::reasoning_model` finds it (a failure naming the fetch command when
//! it is absent, unless `RFS_OFFLINE=1`).

use std::path::PathBuf;

use serde::Deserialize;
use shared::fixtures::{fixture, reasoning_model};
use shared::io::GgufFile;
use shared::loader::load_tokenizer;
use shared::models::ModelFiles;
use shared::tokenizer::PreTokenizer;

/// The Qwen2.5-Coder GGUF from the cache; `None` only under `RFS_OFFLINE=1`.
fn qwen25_gguf() -> Option<PathBuf> {
    match reasoning_model()? {
        ModelFiles::Gguf(path) => Some(path),
        other => panic!("the reasoning model resolved to {other:?}, not a GGUF"),
    }
}

/// A reference case: the text transformers tokenized and the ids it got.
#[derive(Deserialize)]
struct Case {
    rendered: String,
    input_ids: Vec<u32>,
}

#[derive(Deserialize)]
struct Reference {
    cases: Vec<Case>,
}

#[test]
fn qwen25_gguf_tokenizer_encodes_every_reference_prompt_like_transformers() {
    let Some(reference) = fixture("qwen25-coder-0.5b/reference.json") else {
        return;
    };
    let Some(gguf) = qwen25_gguf() else { return };
    let reference: Reference =
        serde_json::from_str(&std::fs::read_to_string(reference).unwrap()).unwrap();
    assert!(!reference.cases.is_empty());
    let tokenizer = load_tokenizer(&gguf).unwrap();
    assert_eq!(tokenizer.pre_tokenizer(), PreTokenizer::Qwen2);
    for (i, case) in reference.cases.iter().enumerate() {
        assert_eq!(
            tokenizer.encode(&case.rendered),
            case.input_ids,
            "case {i}: {:?}",
            case.rendered
        );
        assert_eq!(
            tokenizer.decode(&case.input_ids),
            case.rendered,
            "case {i}: decode"
        );
    }
    eprintln!(
        "checked {} Qwen2.5-Coder prompts' input ids",
        reference.cases.len()
    );
}

#[test]
fn qwen25_special_tokens_are_single_ids() {
    let Some(gguf) = qwen25_gguf() else { return };
    let tokenizer = load_tokenizer(&gguf).unwrap();
    for (token, id) in [("<|im_start|>", 151_644), ("<|im_end|>", 151_645)] {
        assert_eq!(tokenizer.token_to_id(token), Some(id), "{token}");
        assert!(tokenizer.is_special(id), "{token}");
        assert_eq!(tokenizer.encode(token), [id], "{token}");
    }
    assert_eq!(tokenizer.eos_id(), Some(151_645));
}

#[test]
fn qwen25_committed_chat_template_is_the_ggufs_own() {
    let Some(gguf) = qwen25_gguf() else { return };
    let file = GgufFile::open(&gguf).unwrap();
    let own = file
        .get("tokenizer.chat_template")
        .unwrap()
        .as_str()
        .unwrap();
    assert_eq!(
        own,
        include_str!("data/chat-templates/qwen2.5-coder-0.5b-instruct.jinja")
    );
}
