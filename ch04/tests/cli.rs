//! `ch04 eval` end to end on two arith problems: a log per method and N, the
//! results table, both plots; `--resume` reuses the logs; bad input fails cleanly.

use std::path::PathBuf;
use std::process::{Command, Output};

use shared::fixtures::default_model;

fn ch04(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ch04"))
        .args(args)
        .output()
        .expect("ch04 runs")
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rfs-ch04-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn eval_writes_logs_table_and_plots_and_resumes() {
    if default_model().is_none() {
        return;
    }
    let out = temp_dir("eval");
    let dir = out.to_str().unwrap();
    let args = [
        "eval",
        "--limit",
        "2",
        "--method",
        "greedy,self-consistency,best-of-n",
        "--n",
        "1,2",
        "--max-new-tokens",
        "8",
        "--out",
        dir,
    ];
    let first = ch04(&args);
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    for name in [
        "greedy-n1.jsonl",
        "self-consistency-n1.jsonl",
        "self-consistency-n2.jsonl",
        "best-of-n-n2.jsonl",
        "results.md",
        "accuracy_vs_n.svg",
        "accuracy_vs_n.png",
        "accuracy_vs_tokens.svg",
        "accuracy_vs_tokens.png",
    ] {
        assert!(out.join(name).exists(), "missing {name}");
    }
    assert!(!out.join("greedy-n2.jsonl").exists(), "greedy ignores N");
    assert!(stdout.contains("| self-consistency | 2 |"), "{stdout}");
    let log = std::fs::read_to_string(out.join("self-consistency-n2.jsonl")).unwrap();
    let record: serde_json::Value = serde_json::from_str(log.lines().next().unwrap()).unwrap();
    assert_eq!(record["answers"].as_array().unwrap().len(), 2);
    // Without --resume the logs are not overwritten; with it nothing is redone.
    let again = ch04(&args);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("--resume"));
    let mut resumed: Vec<&str> = args.to_vec();
    resumed.push("--resume");
    let third = ch04(&resumed);
    assert!(third.status.success());
    assert_eq!(
        std::fs::read_to_string(out.join("self-consistency-n2.jsonl")).unwrap(),
        log
    );
    // Revoting a self-consistency log needs no model and keeps every record.
    let revoted = out.join("revoted.jsonl");
    let sc_log = out.join("self-consistency-n2.jsonl");
    let revote = |log: &PathBuf| {
        ch04(&[
            "revote",
            "--log",
            log.to_str().unwrap(),
            "--out",
            revoted.to_str().unwrap(),
        ])
    };
    let done = revote(&sc_log);
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    assert!(String::from_utf8_lossy(&done.stdout).contains("self-consistency N=2, 2 problems"));
    let lines = std::fs::read_to_string(&revoted).unwrap();
    assert_eq!(lines.lines().count(), 2);
    let again = revote(&sc_log);
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    std::fs::remove_file(&revoted).unwrap();
    let wrong = revote(&out.join("greedy-n1.jsonl"));
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("not a self-consistency record"));
    // The book's rules, from the same log: exact strings, the best heuristic score among
    // the tied answers, early stop.
    let book = ch04(&[
        "revote",
        "--log",
        sc_log.to_str().unwrap(),
        "--tie-break",
        "heuristic",
        "--grouping",
        "exact",
        "--group-score",
        "max",
        "--early-stop",
    ]);
    let stdout = String::from_utf8_lossy(&book.stdout);
    assert!(
        book.status.success(),
        "{}",
        String::from_utf8_lossy(&book.stderr)
    );
    assert!(
        stdout.contains("broken by heuristic score (exact answers, max group score, early stop)"),
        "{stdout}"
    );
    // Best-of-N ranked from the self-consistency samples is what best-of-N alone
    // generates and picks (all but the time).
    let alone = temp_dir("eval-best-of-n-alone");
    let mut only_best: Vec<&str> = args.to_vec();
    only_best[4] = "best-of-n";
    only_best[10] = alone.to_str().unwrap();
    assert!(ch04(&only_best).status.success());
    let records = |path: PathBuf| -> Vec<serde_json::Value> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| {
                let mut r: serde_json::Value = serde_json::from_str(l).unwrap();
                r["seconds"] = serde_json::Value::Null;
                r
            })
            .collect()
    };
    assert_eq!(
        records(out.join("best-of-n-n2.jsonl")),
        records(alone.join("best-of-n-n2.jsonl"))
    );
}

#[test]
fn bad_arguments_fail_cleanly() {
    let out = temp_dir("bad");
    let dir = out.to_str().unwrap();
    for args in [
        vec![
            "eval",
            "--n",
            "0",
            "--out",
            dir,
            "--method",
            "self-consistency",
        ],
        vec![
            "eval",
            "--temperature",
            "-1",
            "--out",
            dir,
            "--method",
            "best-of-n",
        ],
        vec!["eval", "--dataset", "/nonexistent.json", "--out", dir],
        vec!["eval", "--n", "1000000000", "--out", dir],
        vec!["eval", "--top-p", "NaN", "--out", dir],
        vec!["eval", "--temperature", "inf", "--out", dir],
    ] {
        let o = ch04(&args);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{args:?} succeeded");
        assert!(stderr.contains("error"), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn device_cuda_fails_cleanly_without_a_gpu() {
    let Some(model) = shared::fixtures::fixture("tiny/llama-tiny") else {
        return;
    };
    let model = model.to_str().unwrap();
    let out = temp_dir("cuda");
    let dir = out.to_str().unwrap();
    for args in [
        vec!["--model", model, "--device", "cuda"],
        vec![
            "eval", "--model", model, "--limit", "1", "--out", dir, "--device", "cuda",
        ],
    ] {
        shared::fixtures::assert_cuda_handled(&args, &ch04(&args));
    }
}

#[test]
fn unknown_device_and_gpu_dtype_are_refused_by_the_parser() {
    for (args, says) in [
        (vec!["--device", "tpu"], "tpu"),
        (vec!["eval", "--limit", "1", "--device", "tpu"], "tpu"),
        (vec!["eval", "--limit", "1", "--gpu-dtype", "int8"], "int8"),
    ] {
        let o = ch04(&args);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{args:?} succeeded");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn eval_takes_quantize_q8_0() {
    shared::fixtures::assert_quantize_flag(
        &ch04(&["eval", "--help"]),
        &ch04(&["eval", "--limit", "1", "--quantize", "q4_0"]),
    );
    if default_model().is_none() {
        return;
    }
    let out = temp_dir("quantize");
    let o = ch04(&[
        "eval",
        "--limit",
        "1",
        "--method",
        "greedy",
        "--n",
        "1",
        "--max-new-tokens",
        "4",
        "--out",
        out.to_str().unwrap(),
        "--quantize",
        "q8_0",
    ]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(stderr.contains("already GGUF blocks"), "{stderr}");
    assert!(out.join("greedy-n1.jsonl").exists());
}

#[test]
fn eval_preset_book_sets_the_scripts_defaults_and_given_flags_win() {
    let preset_line = |args: &[&str]| {
        let args = [
            &["eval", "--preset", "book", "--model", "/nonexistent/m.gguf"],
            args,
        ]
        .concat();
        let out = ch04(&args);
        assert!(!out.status.success());
        shared::fixtures::preset_line(&out)
    };
    let line = preset_line(&[]);
    for setting in [
        "--n 3",
        "--temperature 1 ",
        "--top-p 1 ",
        "--seed 42",
        "--tie-break first-seen",
        "--ranking heuristic",
        "--critique-max-new-tokens 192",
    ] {
        assert!(line.contains(setting), "{setting}: {line}");
    }
    let line = preset_line(&["--seed", "7", "--tie-break", "logprob"]);
    assert!(
        !line.contains("--seed") && !line.contains("--tie-break"),
        "{line}"
    );
    assert!(line.contains("--n 3"), "{line}");
}
