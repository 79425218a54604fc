//! A config.json that disagrees with the tensors beside it is refused by name, before
//! anything is allocated for what it claims: more or fewer layers than the file holds,
//! or a `model_type` whose family would silently drop tensors that are there.

use std::path::PathBuf;

use shared::fixtures::fixture;
use shared::loader::load_model_files;
use shared::models::ModelFiles;

/// A temp copy of a tiny fixture model with its config.json edited by `edit`.
fn edited_copy(
    model: &str,
    tag: &str,
    edit: impl FnOnce(&mut serde_json::Value),
) -> Option<PathBuf> {
    let src = fixture(&format!("tiny/{model}"))?;
    let dir = std::env::temp_dir().join(format!("rfs-mismatch-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(src.join("model.safetensors"), dir.join("model.safetensors")).unwrap();
    let text = std::fs::read_to_string(src.join("config.json")).unwrap();
    let mut config: serde_json::Value = serde_json::from_str(&text).unwrap();
    edit(&mut config);
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    Some(dir)
}

/// Loads `dir` and returns the error message (the load must fail, naming `dir`).
fn load_error(dir: PathBuf) -> String {
    let result = load_model_files(&ModelFiles::HfFolder(dir.clone()));
    let message = result.err().expect("the load must fail").to_string();
    assert!(message.contains(&dir.display().to_string()), "{message}");
    let _ = std::fs::remove_dir_all(dir);
    message
}

#[test]
fn a_layer_count_that_is_not_the_files_is_refused() {
    for (layers, says) in [
        (
            16_777_216,
            "says 16777216 layers, but there is no `model.layers.16777215",
        ),
        (1, "says 1 layers, but the file has more (`model.layers.1."),
    ] {
        let Some(dir) = edited_copy("qwen3-tiny", &format!("layers{layers}"), |c| {
            c["num_hidden_layers"] = layers.into();
        }) else {
            return;
        };
        let message = load_error(dir);
        assert!(message.contains(says), "{layers}: {message}");
    }
}

#[test]
fn a_model_type_that_would_drop_tensors_is_refused() {
    for (model, says) in [
        ("qwen3-tiny", "q_norm.weight` (QK-norm"),
        ("qwen2-tiny", "q_proj.bias` (a q/k/v bias"),
    ] {
        let Some(dir) = edited_copy(model, &format!("{model}-as-llama"), |c| {
            c["model_type"] = "llama".into();
        }) else {
            return;
        };
        let message = load_error(dir);
        assert!(message.contains(says), "{model}: {message}");
        assert!(message.contains("model_type"), "{model}: {message}");
    }
}
