//! Finding the reference fixtures from tests.
//!
//! The repo carries the public fixtures its tests read in `shared/tests/fixtures/`
//! (outputs of PyTorch/transformers, Hugging Face `tokenizers`, gguf-py and the book's
//! own Python code; `shared/tests/fixtures/README.md` says what each file is), so a
//! fresh clone runs every parity test. `$RFS_FIXTURES` overrides that folder (another
//! set of cases in the same layout).
//!
//! The copy comes from the team's folder `../shared/fixtures` (beside the workspace);
//! `shared/tests/fixtures_copy.rs` checks that the copy equals it whenever it is there.
//! A fixture missing from the repo's copy is a failure. One missing from an
//! `$RFS_FIXTURES` folder is skipped with a line saying so, except under CI (`CI` set),
//! where it fails too. The team's data (`../shared/data`, e.g. MATH-500) is not a
//! fixture and never goes into the repo: [`team_data`] finds it when it is there.

use std::path::PathBuf;

/// The folder tests read fixtures from: `$RFS_FIXTURES`, else the repo's copy
/// ([`repo_fixtures_dir`]).
pub fn fixtures_dir() -> PathBuf {
    match std::env::var_os("RFS_FIXTURES") {
        Some(dir) => PathBuf::from(dir),
        None => repo_fixtures_dir(),
    }
}

/// The repo's copy of the fixtures: `shared/tests/fixtures`.
pub fn repo_fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The team's fixtures, the source of the repo's copy: `<workspace>/../shared/fixtures`
/// (present on the team's machines and in CI, absent from a reader's clone).
pub fn team_fixtures_dir() -> PathBuf {
    workspace_root().join("../shared/fixtures")
}

/// The workspace root (the folder holding the top-level `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The path of one fixture, e.g. `fixture("tiny/llama-tiny/config.json")`, or
/// `None` (after printing a skip reason) when an `$RFS_FIXTURES` folder lacks it
/// outside CI.
///
/// # Panics
/// When the repo's copy lacks the fixture (`$RFS_FIXTURES` unset: the copy is
/// incomplete), and under CI (the `CI` environment variable set) whenever it is
/// missing, so the test fails instead of silently skipping.
pub fn fixture(relative: &str) -> Option<PathBuf> {
    let path = fixtures_dir().join(relative);
    if path.exists() {
        return Some(path);
    }
    if std::env::var_os("RFS_FIXTURES").is_none() {
        panic!(
            "fixture {} is missing from the repo's copy (copy it from ../shared/fixtures)",
            path.display()
        );
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "fixture {} is missing (CI is set, so this is a failure, not a skip)",
            path.display()
        );
    }
    eprintln!(
        "skipping: fixture {} not found in $RFS_FIXTURES (unset it to use the repo's copy)",
        path.display()
    );
    None
}

/// A JSON fixture read and parsed: [`fixture`]'s path (and its skip rule), then
/// the file as a [`serde_json::Value`].
///
/// # Panics
/// As [`fixture`]; also when the file cannot be read or is not JSON.
pub fn fixture_json(relative: &str) -> Option<serde_json::Value> {
    let path = fixture(relative)?;
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    Some(
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display())),
    )
}

/// A fixture's JSON array of token ids.
///
/// # Panics
/// When `v` is not an array of non-negative integers.
pub fn json_ids(v: &serde_json::Value) -> Vec<u32> {
    let items = v.as_array().expect("a JSON array of ids");
    items
        .iter()
        .map(|x| x.as_u64().expect("an id") as u32)
        .collect()
}

/// A fixture's JSON array of numbers, as f32.
///
/// # Panics
/// When `v` is not an array of numbers.
pub fn json_floats(v: &serde_json::Value) -> Vec<f32> {
    let items = v.as_array().expect("a JSON array of numbers");
    items
        .iter()
        .map(|x| x.as_f64().expect("a number") as f32)
        .collect()
}

/// A file of the team's data folder, e.g. `team_data("math500_test.json")`:
/// `<workspace>/../shared/data/<relative>`, or `None` (after printing a skip reason)
/// when it is absent outside CI. The data never goes into the repo (its license and
/// size), so a reader's clone skips the tests that need it.
///
/// # Panics
/// Under CI (where `../shared` is beside the repo) a missing file is a failure.
pub fn team_data(relative: &str) -> Option<PathBuf> {
    let path = workspace_root().join("../shared/data").join(relative);
    if path.exists() {
        return Some(path);
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "team data {} is missing (CI is set, so this is a failure, not a skip)",
            path.display()
        );
    }
    eprintln!(
        "skipping: team data {} not found (it is not in the repo: put ../shared beside it)",
        path.display()
    );
    None
}

/// The default model's files (SmolLM2-135M-Instruct GGUF), fetched into the
/// cache on first use. `None`, after printing why, when that fails outside CI.
///
/// # Panics
/// Under CI a model that cannot be fetched is a failure.
pub fn default_model() -> Option<crate::models::ModelFiles> {
    match crate::models::resolve_model(crate::models::DEFAULT_MODEL) {
        Ok(files) => Some(files),
        Err(e) if std::env::var_os("CI").is_some() => {
            panic!("default model unavailable under CI: {e}")
        }
        Err(e) => {
            eprintln!("skipping: the default model is unavailable: {e}");
            None
        }
    }
}

/// The default model's files when they are already on disk: never downloads outside CI.
/// `None`, after printing why, when they are absent. Under CI this is [`default_model`]
/// (fetched if needed, a failure if that fails).
pub fn cached_default_model() -> Option<crate::models::ModelFiles> {
    if std::env::var_os("CI").is_some() {
        return default_model();
    }
    let sources = crate::models::Sources {
        offline: true,
        ..crate::models::Sources::from_env()
    };
    match crate::models::resolve_model_in(crate::models::DEFAULT_MODEL, &sources) {
        Ok(files) => Some(files),
        Err(e) => {
            eprintln!("skipping: the default model is not on disk (no download in tests): {e}");
            None
        }
    }
}

/// The reasoning model's files (Qwen2.5-Coder-0.5B-Instruct, a 491 MB GGUF): under CI
/// fetched if needed (a failure if that fails); elsewhere only when already in the
/// cache (`cargo run -p ch02 -- tokenize --model qwen2.5-coder-0.5b-instruct --text hi`
/// fetches it), else `None` after printing why.
///
/// # Panics
/// Under CI a model that cannot be fetched is a failure.
pub fn reasoning_model() -> Option<crate::models::ModelFiles> {
    let name = crate::models::REASONING_MODEL;
    if std::env::var_os("CI").is_some() {
        return match crate::models::resolve_model(name) {
            Ok(files) => Some(files),
            Err(e) => panic!("{name} unavailable under CI: {e}"),
        };
    }
    let sources = crate::models::Sources {
        offline: true,
        ..crate::models::Sources::from_env()
    };
    match crate::models::resolve_model_in(name, &sources) {
        Ok(files) => Some(files),
        Err(_) => {
            eprintln!(
                "skipping: {name} is not in the cache (fetch it once: cargo run -p ch02 -- tokenize --model {name} --text hi)"
            );
            None
        }
    }
}

/// Asserts how a chapter binary's `--device cuda` run ended (the chapters' CLI
/// tests). Without the CUDA backend (the default build): an `error:` saying how
/// to rebuild. With it: a run on the GPU
/// ("running on … (cuda:0)"), or an error naming CUDA (no driver or GPU).
pub fn assert_cuda_handled(args: &[&str], out: &std::process::Output) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
    if !crate::device::CUDA_BUILT {
        assert!(!out.status.success(), "{args:?} succeeded: {stderr}");
        for needle in ["error: ", "no CUDA backend", "--features shared/cuda"] {
            assert!(
                stderr.contains(needle),
                "{args:?}: lacks {needle:?}: {stderr}"
            );
        }
    } else if out.status.success() {
        assert!(stderr.contains("running on"), "{args:?}: {stderr}");
    } else {
        let lower = stderr.to_lowercase();
        assert!(lower.contains("cuda"), "{args:?}: {stderr}");
    }
}

/// Asserts that a chapter binary takes `--quantize <MODE>` (the chapters' CLI tests):
/// `help` (a subcommand's `--help`) lists it with its one value, `q8_0`, and
/// `unknown` (a run with `--quantize q4_0`) fails in the parser, naming the bad value
/// and the allowed ones.
pub fn assert_quantize_flag(help: &std::process::Output, unknown: &std::process::Output) {
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(help.status.success(), "--help failed");
    assert!(
        text.contains("--quantize <MODE>") && text.contains("q8_0"),
        "--help lacks --quantize: {text}"
    );
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(!unknown.status.success(), "--quantize q4_0 succeeded");
    for needle in ["'q4_0'", "--quantize", "[possible values: q8_0]"] {
        assert!(stderr.contains(needle), "lacks {needle:?}: {stderr}");
    }
}
