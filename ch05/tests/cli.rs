//! `ch05 grads` on a tiny fixture model: the JSON matches PyTorch's loss and
//! gradients; bad input (and `--device cuda` without the CUDA backend) fails
//! with a clear message and no panic; a run resumes on another device.

use std::process::{Command, Output};

use serde_json::Value;
use shared::fixtures::fixture;

fn ch05(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ch05"))
        .args(args)
        .output()
        .expect("ch05 runs")
}

fn ids_arg(v: &Value) -> String {
    let ids: Vec<String> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.to_string())
        .collect();
    ids.join(",")
}

#[test]
fn grads_json_matches_pytorch_on_a_tiny_model() {
    let (Some(dir), Some(grads)) = (
        fixture("tiny/qwen2-tiny"),
        fixture("tiny/qwen2-tiny/grads.json"),
    ) else {
        return;
    };
    let reference: Value = serde_json::from_str(&std::fs::read_to_string(grads).unwrap()).unwrap();
    let ids = ids_arg(&reference["input_ids"]);
    let model = dir.to_str().unwrap();
    let out = ch05(&["grads", "--model", model, "--ids", &ids, "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Value = serde_json::from_slice(&out.stdout).expect("one JSON document on stdout");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("{\"loss\":6.45368")
            && text.contains("\"grads\":{\"model.embed_tokens.weight\":"),
        "loss first, then the gradients in Hugging Face order: {text}"
    );
    let loss = got["loss"].as_f64().unwrap();
    assert!(
        (loss - reference["loss"].as_f64().unwrap()).abs() < 1e-5,
        "loss {loss}"
    );
    let expected = reference["grads"].as_object().unwrap();
    assert_eq!(got["grads"].as_object().unwrap().len(), expected.len());
    for (name, want) in expected {
        let g = &got["grads"][name];
        let (l2, want_l2) = (g["l2"].as_f64().unwrap(), want["l2"].as_f64().unwrap());
        assert!(
            (l2 - want_l2).abs() <= 1e-4 * want_l2,
            "{name}: l2 {l2} vs {want_l2}"
        );
        let head = g["head"].as_array().unwrap();
        assert_eq!(head.len(), 8, "{name}");
        for (a, b) in head.iter().zip(want["head"].as_array().unwrap()) {
            assert!(
                (a.as_f64().unwrap() - b.as_f64().unwrap()).abs() < 1e-5,
                "{name}"
            );
        }
    }

    // The table: loss first, then one line per parameter.
    let table = ch05(&["grads", "--model", model, "--ids", &ids]);
    assert!(table.status.success());
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.starts_with("loss 6.45368"), "{text}");
    assert!(
        text.contains("model.layers.1.self_attn.v_proj.bias"),
        "{text}"
    );
}

#[test]
fn grads_rejects_bad_ids_cleanly() {
    let Some(dir) = fixture("tiny/llama-tiny") else {
        return;
    };
    let model = dir.to_str().unwrap();
    for (ids, says) in [
        ("", "empty"),
        (" , ", "empty"),
        ("7", "at least 2"),
        ("1,2,512", "outside the vocabulary"),
        ("1,x", "not a token id"),
    ] {
        let out = ch05(&["grads", "--model", model, "--ids", ids]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{ids:?} should fail");
        assert!(stderr.contains(says), "{ids:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{ids:?}: {stderr}");
    }
}

#[test]
fn train_rejects_bad_settings_cleanly() {
    let out_dir = std::env::temp_dir().join(format!("ch05-bad-{}", std::process::id()));
    let out = out_dir.to_str().unwrap();
    for (args, says) in [
        (vec!["--group", "1"], "1 is not in 2..=1024"),
        (vec!["--group", "1000000000"], "is not in 2..=1024"),
        (vec!["--kl-beta", "NaN"], "not a finite number"),
        (vec!["--format-weight", "inf"], "not a finite number"),
        (vec!["--temperature=-1"], "give a number ≥ 0"),
        (
            vec!["--objective", "ppo"],
            "invalid value 'ppo' for '--objective",
        ),
        (vec!["--dataset", "math500"], "--dataset math500"),
        (vec!["--lr", "0"], "give a number > 0"),
        (
            vec!["--prompt", "fancy"],
            "invalid value 'fancy' for '--prompt",
        ),
        (vec!["--top-p", "0"], "top-p"),
        (vec!["--levels", "7"], "level"),
        (vec!["--train-layers", "2"], "needs --lora"),
        (
            vec!["--lora", "4", "--train-layers", "0"],
            "--train-layers 0",
        ),
    ] {
        let mut all = vec!["train", "--out", out, "--steps", "1"];
        all.extend(&args);
        let result = ch05(&all);
        let stderr = String::from_utf8_lossy(&result.stderr);
        assert!(!result.status.success(), "{args:?} should fail");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    let _ = std::fs::remove_dir_all(&out_dir);
}

/// Rows of a CSV file below its header.
fn csv_rows(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .skip(1)
        .map(str::to_owned)
        .collect()
}

#[test]
fn train_logs_checkpoints_and_resumes_on_the_default_model() {
    let Some(shared::models::ModelFiles::Gguf(model)) = shared::fixtures::default_model() else {
        eprintln!("skipped: the default model is not in the cache (cargo run -p ch02 fetches it)");
        return;
    };
    let model = model.to_str().unwrap();
    let dir = std::env::temp_dir().join(format!("ch05-train-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = dir.to_str().unwrap();
    let train = |steps: &str, extra: &[&str]| {
        let mut args = vec![
            "train",
            "--model",
            model,
            "--out",
            out,
            "--steps",
            steps,
            "--group",
            "2",
            "--max-new-tokens",
            "6",
            "--eval-n",
            "2",
            "--eval-every",
            "1",
            "--lora",
            "2",
            "--checkpoint-every",
            "1",
            "--keep-checkpoints",
            "1",
            "--format-weight",
            "0.2",
        ];
        args.extend(extra);
        ch05(&args)
    };
    let run = |steps: &str, extra: &[&str]| {
        let result = train(steps, extra);
        assert!(
            result.status.success(),
            "{}",
            String::from_utf8_lossy(&result.stderr)
        );
    };
    run("1", &[]);
    // The same --out again without --resume is refused: a run is never overwritten.
    let again = ch05(&["train", "--model", model, "--out", out, "--steps", "1"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("--resume"));
    if !shared::device::CUDA_BUILT {
        // The device is not a setting of the run: resuming on another one passes
        // the settings check, and fails here only for want of the CUDA backend.
        let elsewhere = train("2", &["--resume", "--device", "cuda"]);
        let stderr = String::from_utf8_lossy(&elsewhere.stderr);
        assert!(!elsewhere.status.success(), "{stderr}");
        assert!(stderr.contains("no CUDA backend"), "{stderr}");
        assert!(!stderr.contains("other settings"), "{stderr}");
    }
    run("2", &["--resume"]);
    let metrics = csv_rows(&dir.join("metrics.csv"));
    assert_eq!(metrics.len(), 2, "{metrics:?}");
    assert!(metrics[0].starts_with("1,") && metrics[1].starts_with("2,"));
    let held_out = csv_rows(&dir.join("held_out.csv"));
    let steps: Vec<&str> = held_out
        .iter()
        .map(|r| r.split(',').next().unwrap())
        .collect();
    assert_eq!(steps, ["0", "1", "2"], "{held_out:?}");
    for file in [
        "reward.svg",
        "reward.png",
        "held_out_accuracy.svg",
        "rollouts.jsonl",
    ] {
        assert!(dir.join(file).is_file(), "{file}");
    }
    // Only the newest checkpoint is kept, and every chapter can load it.
    assert!(!dir.join("step-000001").exists());
    let checkpoint = dir.join("step-000002");
    let grads = ch05(&[
        "grads",
        "--model",
        checkpoint.to_str().unwrap(),
        "--ids",
        "1,2,3",
    ]);
    assert!(
        grads.status.success(),
        "{}",
        String::from_utf8_lossy(&grads.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn device_cuda_fails_cleanly_without_a_gpu() {
    let Some(model) = fixture("tiny/llama-tiny") else {
        return;
    };
    let model = model.to_str().unwrap();
    let out_dir = std::env::temp_dir().join(format!("ch05-cuda-{}", std::process::id()));
    let out = out_dir.to_str().unwrap();
    for args in [
        vec!["--model", model, "--device", "cuda"],
        vec![
            "train", "--model", model, "--out", out, "--steps", "1", "--device", "cuda",
        ],
    ] {
        shared::fixtures::assert_cuda_handled(&args, &ch05(&args));
    }
    assert!(
        !out_dir.join("train_config.json").exists(),
        "a run that could not start writes no settings"
    );
    let _ = std::fs::remove_dir_all(&out_dir);
}

#[test]
fn grads_runs_on_the_cpu_whatever_the_device() {
    let Some(model) = fixture("tiny/llama-tiny") else {
        return;
    };
    let args = [
        "grads",
        "--model",
        model.to_str().unwrap(),
        "--ids",
        "1,2,3",
        "--device",
        "cuda",
    ];
    let out = ch05(&args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("grads runs on the CPU"), "{stderr}");
}

#[test]
fn unknown_device_and_gpu_dtype_are_refused_by_the_parser() {
    for (args, says) in [
        (vec!["--device", "tpu"], "tpu"),
        (vec!["grads", "--ids", "1,2", "--device", "tpu"], "tpu"),
        (vec!["train", "--out", "x", "--gpu-dtype", "int8"], "int8"),
    ] {
        let out = ch05(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn quantize_is_refused_because_ch05_trains_f32_weights() {
    let Some(model) = fixture("tiny/llama-tiny") else {
        return;
    };
    let model = model.to_str().unwrap();
    for args in [
        vec![
            "grads",
            "--model",
            model,
            "--ids",
            "1,2,3",
            "--quantize",
            "q8_0",
        ],
        vec![
            "train",
            "--model",
            model,
            "--out",
            "x",
            "--quantize",
            "q8_0",
        ],
    ] {
        let out = ch05(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(
            stderr.contains("--quantize q8_0: ch05 trains the model's f32 weights"),
            "{args:?}: {stderr}"
        );
    }
    let help = ch05(&["--help"]);
    assert!(String::from_utf8_lossy(&help.stdout).contains("`--quantize` is refused"));
}

#[test]
fn train_preset_book_sets_the_scripts_defaults_and_given_flags_win() {
    let out_dir = std::env::temp_dir().join(format!("rfs-ch05-preset-{}", std::process::id()));
    let preset_line = |args: &[&str]| {
        let fixed = [
            "train",
            "--preset",
            "book",
            "--model",
            "/nonexistent/m.gguf",
            "--out",
            out_dir.to_str().unwrap(),
        ];
        let out = ch05(&[&fixed[..], args].concat());
        assert!(!out.status.success());
        shared::fixtures::preset_line(&out)
    };
    let line = preset_line(&[]);
    for setting in [
        "--temperature 0.8",
        "--top-p 0.9",
        "--seed 42",
        "--max-new-tokens 512",
        "--weight-decay 0.01",
        "--kl-beta 0",
        "--no-skip-zero-advantage",
    ] {
        assert!(line.contains(setting), "{setting}: {line}");
    }
    // A chapter-7 objective keeps its script's β; a given flag wins.
    let line = preset_line(&["--objective", "plus-kl", "--temperature", "0.5"]);
    assert!(
        !line.contains("--kl-beta") && !line.contains("--temperature"),
        "{line}"
    );
    let _ = std::fs::remove_dir_all(&out_dir);
}

#[test]
fn every_objective_prints_the_settings_it_trains_with() {
    let out_dir = std::env::temp_dir().join(format!("rfs-ch05-objective-{}", std::process::id()));
    for (objective, says) in [
        ("basic", "objective basic: KL β 0.02, 1 inner epoch"),
        (
            "plus-kl",
            "objective plus-kl: clip ε 10, KL β 0.001, 2 inner epochs, each on new rollouts",
        ),
        (
            "olmo3",
            "objective olmo3: clip ε_low 0.2, ε_high 10, KL β 0, 2 inner epochs",
        ),
        (
            "gdpo",
            "objective gdpo: clip ε 10, KL β 0.02, format bonus 0.1",
        ),
        ("deepseek-v32", "off-policy δ 0.1"),
        ("plus-format-reward", "think-format reward 1, 1 inner epoch"),
    ] {
        let out = ch05(&[
            "train",
            "--objective",
            objective,
            "--model",
            "/nonexistent/m.gguf",
            "--out",
            out_dir.to_str().unwrap(),
        ]);
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{objective}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    let _ = std::fs::remove_dir_all(&out_dir);
}

/// The book's objectives train a step on the default model, sampling new rollouts in
/// each inner epoch (2 epochs × G = 2 responses logged), while ours reuse them. Two of
/// the book's (a per-token and a sequence-level loss; the off-policy mask) and ours: each
/// step takes 10–15 s here, so the rest run in ch05/results/objectives-smollm2/.
#[test]
fn the_book_objectives_resample_each_inner_epoch_on_the_default_model() {
    let Some(files) = shared::fixtures::default_model() else {
        return;
    };
    let model = files.path().to_str().unwrap();
    for (objective, responses) in [("clipped", 2), ("olmo3", 4), ("deepseek-v32", 4)] {
        let dir = std::env::temp_dir().join(format!("ch05-{objective}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let out = ch05(&[
            "train",
            "--model",
            model,
            "--objective",
            objective,
            "--out",
            dir.to_str().unwrap(),
            "--steps",
            "1",
            "--group",
            "2",
            "--inner-epochs",
            "2",
            "--max-new-tokens",
            "4",
            "--prompt",
            "plain",
            "--eval-n",
            "0",
            "--lora",
            "2",
            "--train-layers",
            "1",
            "--no-skip-zero-advantage",
            "--checkpoint-every",
            "0",
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{objective}: {stderr}");
        let metrics = csv_rows(&dir.join("metrics.csv"));
        assert_eq!(metrics.len(), 1, "{objective}: {metrics:?}");
        let rollouts = std::fs::read_to_string(dir.join("rollouts.jsonl")).unwrap();
        let line: Value = serde_json::from_str(rollouts.lines().next().unwrap()).unwrap();
        assert_eq!(
            line["responses"].as_array().unwrap().len(),
            responses,
            "{objective}: {line}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// `--dataset math-train` reads the book's MATH training set (here a small file in its
/// layout: "Level N" levels, numeric ids, `type`) and visits it in order.
#[test]
fn train_on_a_local_copy_of_the_books_math_training_set() {
    let Some(files) = shared::fixtures::default_model() else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("ch05-math-train-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let data = dir.join("math_train.json");
    std::fs::write(
        &data,
        r#"[{"problem": "If $x + 2 = 8$, what is $x$?", "solution": "$x = \\boxed{6}$.", "answer": "6", "level": "Level 1", "type": "Algebra", "unique_id": 0},
            {"problem": "What is $3 \\cdot 4$?", "solution": "$\\boxed{12}$", "answer": "12", "level": "Level 1", "type": "Prealgebra", "unique_id": 1}]"#,
    )
    .unwrap();
    let out_dir = dir.join("run");
    let out = ch05(&[
        "train",
        "--model",
        files.path().to_str().unwrap(),
        "--dataset",
        "math-train",
        "--data",
        data.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
        "--steps",
        "2",
        "--group",
        "2",
        "--max-new-tokens",
        "4",
        "--eval-n",
        "0",
        "--lora",
        "2",
        "--train-layers",
        "1",
        "--checkpoint-every",
        "2",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rollouts = std::fs::read_to_string(out_dir.join("rollouts.jsonl")).unwrap();
    let problems: Vec<String> = rollouts
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["answer"].to_string())
        .collect();
    assert_eq!(problems, ["\"6\"", "\"12\""]);
    // Without the file, offline, the error says where to put it.
    let missing = ch05(&[
        "train",
        "--dataset",
        "math-train",
        "--data",
        dir.join("nope.json").to_str().unwrap(),
        "--out",
        dir.join("run2").to_str().unwrap(),
    ]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("nope.json"));
    let _ = std::fs::remove_dir_all(&dir);
}
