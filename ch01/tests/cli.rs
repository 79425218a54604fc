//! The command line's `--device`, `--gpu-dtype` and `--quantize`: a bad value is
//! refused by the parser, `--device cuda` on a build without the CUDA backend fails
//! with a clear message (a non-zero exit, no panic), and `--quantize q8_0` says what
//! it quantized.

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
