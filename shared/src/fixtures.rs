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
//! `$RFS_FIXTURES` folder (a partial set of other cases) is skipped with a `NOT RUN`
//! line ([`report_not_run`]), except under CI (`CI` set), where it fails too.
//!
//! Models and data that are not in the repo (the cached models, MATH-500) fail the test
//! that needs them when absent, naming the command that gets them ([`missing`]); the one
//! exception is a reader's explicit `RFS_OFFLINE=1`, which turns each such failure into
//! a `NOT RUN` line (`bash shared/tests/offline.sh` runs the suite that way and counts
//! them at the end).

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
    report_not_run(&format!(
        "fixture {} not found in $RFS_FIXTURES (unset it to use the repo's copy)",
        path.display()
    ));
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

/// One section of the book's own function outputs (`book/functions.json`, e.g.
/// `"ch04.top_p_filter"`): its cases, or `None` under [`fixture`]'s skip rule.
///
/// # Panics
/// When the file lacks the section.
pub fn book_section(name: &str) -> Option<Vec<serde_json::Value>> {
    let mut book = fixture_json("book/functions.json")?;
    match book[name].take() {
        serde_json::Value::Array(cases) => Some(cases),
        _ => panic!("book/functions.json lacks the section {name}"),
    }
}

/// Asserts that a loop over a fixture's cases checked all `total` of them, and that
/// there was at least one: an empty or partly skipped case list must not pass.
///
/// # Panics
/// When `total` is 0 or `checked != total`.
#[track_caller]
pub fn assert_all_checked(checked: usize, total: usize, what: &str) {
    assert!(total > 0, "{what}: the fixture holds no cases");
    assert_eq!(checked, total, "{what}: checked {checked} of {total} cases");
    let (abs, rel) = LARGEST_DEVIATION.with(|d| d.replace((0.0, 0.0)));
    eprintln!(
        "{what}: {checked} cases; largest deviation from the reference {abs:.1e} \
         (relative {rel:.1e})"
    );
}

thread_local! {
    /// The largest `(absolute, relative)` deviation [`note_deviation`] saw in this
    /// thread since [`assert_all_checked`] last reported.
    static LARGEST_DEVIATION: std::cell::Cell<(f64, f64)> = const { std::cell::Cell::new((0.0, 0.0)) };
}

/// Notes how far `got` is from the reference's `want`, for the report of
/// [`assert_all_checked`] (run the test with `--nocapture` to see it).
pub fn note_deviation(got: f64, want: f64) {
    let abs = (got - want).abs();
    let rel = if want == 0.0 { abs } else { abs / want.abs() };
    LARGEST_DEVIATION.with(|d| {
        let (a, r) = d.get();
        d.set((a.max(abs), r.max(rel)));
    });
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
/// `<workspace>/../shared/data/<relative>` when it is there. The data never goes into
/// the repo (its license and size); a test that can also find it elsewhere (MATH-500:
/// ch03's cache) looks there next, and calls [`missing`] when neither has it.
pub fn team_data(relative: &str) -> Option<PathBuf> {
    let path = workspace_root().join("../shared/data").join(relative);
    path.exists().then_some(path)
}

/// Whether the reader opted out of what the tests need from the network:
/// `RFS_OFFLINE` set to `1`/`true`/`yes`/`on`, and `CI` not set (under CI nothing may
/// be skipped).
pub fn offline_opt_out() -> bool {
    std::env::var_os("CI").is_none() && crate::models::env_flag("RFS_OFFLINE")
}

/// What a test does when something it needs (a model, a data file) is absent: under
/// [`offline_opt_out`] it reports the skip ([`report_not_run`]) and returns `None`;
/// otherwise it fails, naming `what` and `how_to_get` it.
///
/// # Panics
/// Unless the reader opted out with `RFS_OFFLINE=1`.
pub fn missing<T>(what: &str, how_to_get: &str) -> Option<T> {
    if offline_opt_out() {
        report_not_run(&format!("{what} is missing ({how_to_get})"));
        return None;
    }
    panic!(
        "{what} is missing: {how_to_get}. Offline on purpose? RFS_OFFLINE=1 skips the tests \
         that need it, and `bash shared/tests/offline.sh` counts them"
    )
}

/// Says that a test (or part of one) did not run, and why: a `NOT RUN <test>: <reason>`
/// line written straight to stderr, past the test harness's output capture, so it shows
/// even when the test passes; also appended to the file `$RFS_SKIP_LOG` names, if any
/// (`shared/tests/offline.sh` counts that file's lines at the end of the run).
pub fn report_not_run(reason: &str) {
    use std::io::Write;
    let thread = std::thread::current();
    let line = format!("NOT RUN {}: {reason}\n", thread.name().unwrap_or("a test"));
    // Failing to print or log a notice must not fail the test it is about.
    let _ = std::io::stderr().write_all(line.as_bytes());
    if let Some(log) = std::env::var_os("RFS_SKIP_LOG") {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log);
        if let Ok(mut file) = file {
            let _ = file.write_all(line.as_bytes());
        }
    }
}

/// A named model's files from the cache (tests never download: `.ci/run` fetches the
/// models first, a reader runs the command [`missing`] names). [`missing`] when the
/// cache lacks it.
pub fn cached_model(name: &str) -> Option<crate::models::ModelFiles> {
    let sources = crate::models::Sources {
        offline: true,
        ..crate::models::Sources::from_env()
    };
    match crate::models::resolve_model_in(name, &sources) {
        Ok(files) => Some(files),
        Err(e) => missing(
            &format!("the model `{name}`"),
            &format!(
                "fetch it once with `cargo run -p ch02 -- tokenize --model {name} --text hi` ({e})"
            ),
        ),
    }
}

/// The default model's files (SmolLM2-135M-Instruct GGUF), from the cache:
/// [`cached_model`].
pub fn default_model() -> Option<crate::models::ModelFiles> {
    cached_model(crate::models::DEFAULT_MODEL)
}

/// The reasoning model's files (Qwen2.5-Coder-0.5B-Instruct, a 491 MB GGUF), from the
/// cache: [`cached_model`].
pub fn reasoning_model() -> Option<crate::models::ModelFiles> {
    cached_model(crate::models::REASONING_MODEL)
}

/// Asserts how a chapter binary's `--device cuda` run ended (the chapters' CLI
/// tests). Without the CUDA backend (the default build): an `error:` saying how
/// to rebuild. With it: a run on the GPU
/// ("running on … (cuda:0)"), or an error naming CUDA (no driver or GPU).
/// The `preset book: …` line a command run with `--preset book` printed on stderr
/// (before loading anything, so a run that then fails on a missing model still has it).
///
/// # Panics
/// When there is no such line.
pub fn preset_line(out: &std::process::Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    stderr
        .lines()
        .find(|l| l.starts_with("preset book:"))
        .unwrap_or_else(|| panic!("no `preset book:` line on stderr: {stderr}"))
        .to_string()
}

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
