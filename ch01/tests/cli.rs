//! The command line's `--device`, `--gpu-dtype` and `--quantize`: a bad value is
//! refused by the parser, `--device cuda` on a build without the CUDA backend fails
//! with a clear message (a non-zero exit, no panic), and `--quantize q8_0` says what
//! it quantized; a chat model gets its template unless `--no-chat` says otherwise.

use std::process::{Command, Output};

use shared::fixtures::fixture;

fn ch01(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ch01"))
        .args(args)
        .output()
        .expect("ch01 runs")
}

#[test]
fn device_cuda_fails_cleanly_without_a_gpu() {
    let Some(model) = fixture("tiny/llama-tiny") else {
        return;
    };
    let model = model.to_str().unwrap();
    for args in [
        vec!["--model", model, "--device", "cuda"],
        vec![
            "next-token",
            "--model",
            model,
            "--ids",
            "1,2",
            "--device",
            "cuda",
        ],
        vec![
            "--device",
            "cuda:0",
            "next-token",
            "--model",
            model,
            "--ids",
            "1,2",
        ],
    ] {
        shared::fixtures::assert_cuda_handled(&args, &ch01(&args));
    }
}

#[test]
fn unknown_device_and_gpu_dtype_are_refused_by_the_parser() {
    for (args, says) in [
        (vec!["--device", "tpu"], "tpu"),
        (vec!["next-token", "--ids", "1", "--device", "tpu"], "tpu"),
        (vec!["--gpu-dtype", "int8"], "int8"),
    ] {
        let out = ch01(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn quantize_q8_0_is_listed_checked_and_applied_by_next_token() {
    shared::fixtures::assert_quantize_flag(
        &ch01(&["next-token", "--help"]),
        &ch01(&["next-token", "--ids", "1", "--quantize", "q4_0"]),
    );
    let Some(model) = fixture("tiny/llama-tiny") else {
        return;
    };
    let args = [
        "next-token",
        "--model",
        model.to_str().unwrap(),
        "--ids",
        "1,17,250",
        "--json",
        "--quantize",
        "q8_0",
    ];
    let out = ch01(&args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // llama-tiny: a tied embedding and 2 blocks of 7 projections.
    assert!(stderr.contains("quantized 15 matrices to Q8_0"), "{stderr}");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(!doc["top"].as_array().unwrap().is_empty(), "{doc}");
}

/// `input_ids` of `ch01 next-token --json` on the default model with `extra` flags.
fn input_ids(model: &str, extra: &[&str]) -> Vec<u64> {
    let args = [
        &[
            "next-token",
            "--model",
            model,
            "--prompt",
            "What is 2+3?",
            "--top",
            "1",
            "--json",
        ][..],
        extra,
    ]
    .concat();
    let out = ch01(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    doc["input_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect()
}

#[test]
fn a_chat_model_gets_its_template_unless_no_chat_says_otherwise() {
    let Some(files) = shared::fixtures::default_model() else {
        return;
    };
    let model = files.path().to_str().unwrap();
    let loaded = shared::loader::load_model_files(&files).unwrap();
    let want = |chat: bool| -> Vec<u64> {
        let ids = loaded.encode_prompt("What is 2+3?", chat).unwrap();
        ids.into_iter().map(u64::from).collect()
    };
    // SmolLM2-135M-Instruct is a chat model: the template by default.
    assert_eq!(input_ids(model, &[]), want(true));
    assert_eq!(input_ids(model, &["--chat"]), want(true));
    assert_eq!(input_ids(model, &["--no-chat"]), want(false));
    // Thinking goes into a template: with raw text it is an error that says so.
    let out = ch01(&[
        "next-token",
        "--model",
        model,
        "--prompt",
        "hi",
        "--no-chat",
        "--thinking",
        "off",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("add --chat"));
    let out = ch01(&[
        "next-token",
        "--model",
        model,
        "--prompt",
        "hi",
        "--chat",
        "--no-chat",
    ]);
    assert!(!out.status.success());
}
