//! The command line: `grade` (one pair and JSON lines), `data arith`, `eval`
//! with `--resume`, `regrade`, and bad input (a clear message, a non-zero
//! exit, no panic).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use shared::fixtures::default_model;

fn ch03(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ch03"))
        .args(args)
        .output()
        .expect("ch03 runs")
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Asserts a clean failure whose stderr contains every one of `needles`.
fn assert_fails_with(out: &Output, needles: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "expected failure; stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "panicked: {stderr}");
    for needle in needles {
        assert!(stderr.contains(needle), "stderr lacks {needle:?}: {stderr}");
    }
}

/// A fresh empty folder under the system temp dir.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rfs-ch03-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn grade_one_pair() {
    let yes = ch03(&[
        "grade",
        "--pred",
        "The answer is \\boxed{\\frac{1}{2}}.",
        "--gt",
        "1/2",
    ]);
    assert_eq!(stdout(&yes).trim(), "correct");
    let no = ch03(&["grade", "--pred", "3", "--gt", "4"]);
    assert_eq!(stdout(&no).trim(), "incorrect");
    let json = ch03(&[
        "grade",
        "--pred",
        "\\boxed{0.5}",
        "--gt",
        "\\frac12",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    assert_eq!(v["extracted"], "0.5");
    assert_eq!(v["correct"], true);
}

#[test]
fn grade_jsonl_answers_each_line_in_order() {
    let dir = temp_dir("jsonl");
    let input = dir.join("pairs.jsonl");
    std::fs::write(
        &input,
        concat!(
            "{\"response\": \"so \\\\boxed{12}\", \"answer\": \"12\"}\n",
            "{\"pred\": \"13\", \"gt\": \"12\"}\n",
            "\n",
            "{\"response\": \"no box, the result is 7\", \"answer\": \"7\"}\n",
        ),
    )
    .unwrap();
    let out = stdout(&ch03(&["grade", "--jsonl", s(&input)]));
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(
        lines[0],
        serde_json::json!({"extracted": "12", "correct": true})
    );
    assert_eq!(
        lines[1],
        serde_json::json!({"extracted": "13", "correct": false})
    );
    assert_eq!(
        lines[2],
        serde_json::json!({"extracted": "7", "correct": true})
    );
}

#[test]
fn grade_jsonl_names_a_bad_line() {
    let dir = temp_dir("badjsonl");
    let input = dir.join("pairs.jsonl");
    std::fs::write(
        &input,
        "{\"pred\": \"1\", \"gt\": \"1\"}\n{\"pred\": \"1\"}\n",
    )
    .unwrap();
    assert_fails_with(
        &ch03(&["grade", "--jsonl", s(&input)]),
        &["line 2", "answer"],
    );
    assert_fails_with(
        &ch03(&["grade", "--jsonl", s(&dir.join("missing.jsonl"))]),
        &["missing.jsonl"],
    );
    // A file with no newline is read a bounded line at a time, not to the end.
    assert_fails_with(
        &ch03(&["grade", "--jsonl", "/dev/zero"]),
        &["/dev/zero", "line 1 is longer than 67108864 bytes"],
    );
}

#[test]
fn data_arith_writes_the_same_problems_for_the_same_seed() {
    let dir = temp_dir("data");
    let (a, b, c) = (dir.join("a.json"), dir.join("b.json"), dir.join("c.json"));
    for (path, seed) in [(&a, "3"), (&b, "3"), (&c, "4")] {
        stdout(&ch03(&[
            "data",
            "arith",
            "--n",
            "20",
            "--seed",
            seed,
            "--out",
            s(path),
        ]));
    }
    let read = |p: &Path| std::fs::read_to_string(p).unwrap();
    assert_eq!(read(&a), read(&b));
    assert_ne!(read(&a), read(&c));
    let problems: Vec<serde_json::Value> = serde_json::from_str(&read(&a)).unwrap();
    assert_eq!(problems.len(), 20);
    for key in [
        "problem",
        "solution",
        "answer",
        "subject",
        "level",
        "unique_id",
    ] {
        assert!(problems[0].get(key).is_some(), "missing {key}");
    }
    assert_fails_with(
        &ch03(&["data", "arith", "--levels", "0-9", "--out", s(&a)]),
        &["--levels"],
    );
}

#[test]
fn eval_refuses_bad_datasets_and_an_existing_log() {
    let dir = temp_dir("evalbad");
    let out = dir.join("o.jsonl");
    let missing = dir.join("nope.json");
    assert_fails_with(
        &ch03(&["eval", "--dataset", s(&missing), "--out", s(&out)]),
        &["nope.json"],
    );
    let garbage = dir.join("garbage.json");
    std::fs::write(&garbage, "[1, 2]").unwrap();
    assert_fails_with(
        &ch03(&["eval", "--dataset", s(&garbage), "--out", s(&out)]),
        &["garbage.json", "problem"],
    );
    let log = dir.join("log.jsonl");
    std::fs::write(&log, "").unwrap();
    assert_fails_with(
        &ch03(&["eval", "--limit", "1", "--out", s(&log)]),
        &["--resume", "log.jsonl"],
    );
    assert_fails_with(
        &ch03(&["regrade", "--log", s(&dir.join("none.jsonl"))]),
        &["none.jsonl"],
    );
    let fresh = dir.join("fresh.jsonl");
    assert_fails_with(
        &ch03(&["eval", "--limit", "2", "--batch", "0", "--out", s(&fresh)]),
        &["--batch <N>", "0 is not in 1..=256"],
    );
    assert_fails_with(
        &ch03(&[
            "eval",
            "--limit",
            "2",
            "--batch",
            "100000",
            "--out",
            s(&fresh),
        ]),
        &["--batch <N>", "100000 is not in 1..=256"],
    );
    assert!(!fresh.exists(), "a refused run must not create its log");
}

/// A log's records without their `seconds` (the one field a batch may change).
fn records_without_seconds(log: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(log)
        .unwrap()
        .lines()
        .map(|l| {
            let mut record: serde_json::Value = serde_json::from_str(l).unwrap();
            record.as_object_mut().unwrap().remove("seconds");
            record
        })
        .collect()
}

#[test]
fn eval_batch_writes_the_records_of_batch_1_and_resumes() {
    if default_model().is_none() {
        return;
    }
    let dir = temp_dir("evalbatch");
    let run = |log: &Path, batch: &str, resume: bool| {
        let mut args = vec![
            "eval",
            "--limit",
            "5",
            "--max-new-tokens",
            "12",
            "--batch",
            batch,
            "--out",
            s(log),
        ];
        if resume {
            args.push("--resume");
        }
        stdout(&ch03(&args))
    };
    let (one, three) = (dir.join("one.jsonl"), dir.join("three.jsonl"));
    run(&one, "1", false);
    run(&three, "3", false);
    let expected = records_without_seconds(&one);
    assert_eq!(expected.len(), 5);
    assert_eq!(records_without_seconds(&three), expected);
    // Killed after two records, mid-write: a batched --resume ends with the same log.
    let text = std::fs::read_to_string(&three).unwrap();
    let kept: String = text.lines().take(2).map(|l| format!("{l}\n")).collect();
    std::fs::write(&three, format!("{kept}{{\"index\": 3, \"pr")).unwrap();
    run(&three, "3", true);
    assert!(std::fs::read_to_string(&three).unwrap().starts_with(&kept));
    assert_eq!(records_without_seconds(&three), expected);
}

#[test]
fn eval_writes_records_resumes_and_regrades() {
    if default_model().is_none() {
        return;
    }
    let dir = temp_dir("eval");
    let log = dir.join("log.jsonl");
    let run = |limit: &str, resume: bool| {
        let mut args = vec![
            "eval",
            "--limit",
            limit,
            "--max-new-tokens",
            "6",
            "--out",
            s(&log),
        ];
        if resume {
            args.push("--resume");
        }
        stdout(&ch03(&args))
    };
    let first = run("2", false);
    assert!(first.contains("all"), "{first}");
    let lines = || std::fs::read_to_string(&log).unwrap().lines().count();
    assert_eq!(lines(), 2);
    // A run killed mid-write leaves a partial line: --resume drops it and goes on.
    let mut text = std::fs::read_to_string(&log).unwrap();
    text.push_str("{\"index\": 3, \"prob");
    std::fs::write(&log, text).unwrap();
    run("3", true);
    let records: Vec<serde_json::Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let indices: Vec<u64> = records
        .iter()
        .map(|r| r["index"].as_u64().unwrap())
        .collect();
    assert_eq!(indices, [1, 2, 3]);
    for key in [
        "problem",
        "gtruth_answer",
        "generated_text",
        "extracted",
        "correct",
        "tokens",
        "seconds",
    ] {
        assert!(records[2].get(key).is_some(), "missing {key}");
    }
    // Another dataset cannot continue this log.
    assert_fails_with(
        &ch03(&[
            "eval",
            "--limit",
            "3",
            "--seed",
            "9",
            "--out",
            s(&log),
            "--resume",
        ]),
        &["another run"],
    );
    let regraded = stdout(&ch03(&["regrade", "--log", s(&log)]));
    assert!(regraded.contains("0 of 3 records changed"), "{regraded}");
}

#[test]
fn device_cuda_fails_cleanly_without_a_gpu() {
    let Some(model) = shared::fixtures::fixture("tiny/llama-tiny") else {
        return;
    };
    let dir = temp_dir("cuda");
    let log = dir.join("log.jsonl");
    for args in [
        vec!["--model", s(&model), "--device", "cuda"],
        vec![
            "eval",
            "--model",
            s(&model),
            "--limit",
            "1",
            "--out",
            s(&log),
            "--device",
            "cuda",
        ],
    ] {
        shared::fixtures::assert_cuda_handled(&args, &ch03(&args));
    }
}

#[test]
fn unknown_device_and_gpu_dtype_are_refused_by_the_parser() {
    for (args, says) in [
        (vec!["--device", "tpu"], "tpu"),
        (vec!["eval", "--limit", "1", "--device", "tpu"], "tpu"),
        (vec!["eval", "--limit", "1", "--gpu-dtype", "int8"], "int8"),
    ] {
        assert_fails_with(&ch03(&args), &[says]);
    }
}

#[test]
fn eval_takes_quantize_q8_0() {
    shared::fixtures::assert_quantize_flag(
        &ch03(&["eval", "--help"]),
        &ch03(&["eval", "--limit", "1", "--quantize", "q4_0"]),
    );
    if default_model().is_none() {
        return;
    }
    let log = temp_dir("quantize").join("log.jsonl");
    let out = ch03(&[
        "eval",
        "--limit",
        "1",
        "--max-new-tokens",
        "4",
        "--out",
        s(&log),
        "--quantize",
        "q8_0",
    ]);
    stdout(&out);
    // The default model is a GGUF of Q4_1 and Q8_0 blocks: nothing to convert.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("quantized nothing to Q8_0"), "{stderr}");
    assert!(
        stderr.contains("already GGUF blocks (Q4_1, Q8_0)"),
        "{stderr}"
    );
}

#[test]
fn eval_preset_book_sets_the_books_defaults_and_given_flags_win() {
    // A model path that does not exist: the run stops after printing the preset.
    let missing = ["--model", "/nonexistent/model.gguf"];
    let out = ch03(&[&["eval", "--preset", "book"], &missing[..]].concat());
    assert!(!out.status.success());
    let line = shared::fixtures::preset_line(&out);
    for setting in [
        "--dataset math500",
        "--limit 10",
        "--prompt plain",
        "--max-new-tokens 2048",
    ] {
        assert!(line.contains(setting), "{line}");
    }
    let out = ch03(
        &[
            &[
                "eval",
                "--preset",
                "book",
                "--limit",
                "3",
                "--max-new-tokens",
                "64",
            ],
            &missing[..],
        ]
        .concat(),
    );
    let line = shared::fixtures::preset_line(&out);
    assert!(line.contains("--dataset math500"), "{line}");
    assert!(
        !line.contains("--limit") && !line.contains("--max-new-tokens"),
        "{line}"
    );
}

#[test]
fn grade_and_regrade_read_the_books_evaluation_logs() {
    let dir = temp_dir("book-log");
    let log = dir.join("math500-base.jsonl");
    // The fields of the book's evaluate_math500.py log (no tokens, seconds or level).
    let lines = [
        r#"{"index": 1, "problem": "What is 1/2 as a decimal?", "gtruth_answer": "0.5", "generated_text": "It is \\boxed{\\frac{1}{2}}.", "extracted": "\\frac{1}{2}", "correct": true}"#,
        r#"{"index": 2, "problem": "2+2?", "gtruth_answer": "4", "generated_text": "The answer is 5", "extracted": "5", "correct": true}"#,
    ];
    std::fs::write(&log, lines.join("\n") + "\n").unwrap();
    let out = ch03(&["grade", "--jsonl", s(&log)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout(&out),
        "{\"correct\":true,\"extracted\":\"\\\\frac{1}{2}\"}\n{\"correct\":false,\"extracted\":\"5\"}\n"
    );
    let out = ch03(&["regrade", "--log", s(&log), "--dry-run"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The second record was marked correct; the verifier says otherwise.
    assert!(
        stdout(&out).contains("1 of 2 records changed"),
        "{}",
        stdout(&out)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
