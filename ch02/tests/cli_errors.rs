//! Bad input through the command line: a clear message naming the file or
//! argument, a non-zero exit, and no panic.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use shared::fixtures::fixture;
use shared::generate::{generate_text_basic, generate_text_basic_cache};

fn ch02(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ch02"))
        .args(args)
        .output()
        .expect("ch02 runs")
}

/// `ch02 generate --model MODEL --ids IDS`.
fn generate_ids(model: &Path, ids: &str) -> Output {
    ch02(&["generate", "--model", model.to_str().unwrap(), "--ids", ids])
}

/// Asserts a clean failure whose stderr contains every one of `needles`.
fn assert_fails_with(out: &Output, needles: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "expected failure, got success; stderr: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "panicked: {stderr}");
    for needle in needles {
        assert!(stderr.contains(needle), "stderr lacks {needle:?}: {stderr}");
    }
}

/// A fresh empty folder under the system temp dir.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rfs-ch02-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn tiny(family: &str) -> Option<PathBuf> {
    fixture(&format!("tiny/{family}"))
}

#[test]
fn corrupt_gguf_names_the_file() {
    let dir = temp_dir("gguf");
    let path = dir.join("broken.gguf");
    std::fs::write(&path, b"NOPE this is not a gguf file at all").unwrap();
    let out = generate_ids(&path, "1,2");
    assert_fails_with(&out, &["broken.gguf", "magic"]);
}

#[test]
fn truncated_safetensors_names_the_file() {
    let Some(src) = tiny("llama-tiny") else {
        return;
    };
    let dir = temp_dir("safetensors");
    std::fs::copy(src.join("config.json"), dir.join("config.json")).unwrap();
    let bytes = std::fs::read(src.join("model.safetensors")).unwrap();
    std::fs::write(dir.join("model.safetensors"), &bytes[..bytes.len() / 2]).unwrap();
    let out = generate_ids(&dir, "1,2");
    assert_fails_with(&out, &["model.safetensors"]);
}

#[test]
fn unsupported_architecture_is_named() {
    let Some(src) = tiny("llama-tiny") else {
        return;
    };
    let dir = temp_dir("arch");
    let config = std::fs::read_to_string(src.join("config.json")).unwrap();
    std::fs::write(
        dir.join("config.json"),
        config.replace("\"llama\"", "\"gpt_neox\""),
    )
    .unwrap();
    std::fs::copy(src.join("model.safetensors"), dir.join("model.safetensors")).unwrap();
    let out = generate_ids(&dir, "1,2");
    assert_fails_with(&out, &["config.json", "gpt_neox"]);
}

#[test]
fn tokenizer_json_missing_fields_is_named() {
    let dir = temp_dir("tokenizer");
    let path = dir.join("tokenizer.json");
    std::fs::write(&path, r#"{"model": {"type": "BPE"}}"#).unwrap();
    let out = ch02(&[
        "tokenize",
        "--tokenizer",
        path.to_str().unwrap(),
        "--text",
        "hi",
    ]);
    assert_fails_with(&out, &["tokenizer.json", "model.vocab"]);
}

#[test]
fn empty_prompt_is_refused() {
    let Some(src) = tiny("llama-tiny") else {
        return;
    };
    let out = ch02(&["generate", "--model", src.to_str().unwrap(), "--prompt", ""]);
    assert_fails_with(&out, &["empty"]);
}

#[test]
fn prompt_longer_than_the_context_is_refused() {
    let Some(src) = tiny("llama-tiny") else {
        return;
    };
    let ids = vec!["5"; 300].join(",");
    let out = generate_ids(&src, &ids);
    assert_fails_with(&out, &["longer than the context", "256"]);
}

#[test]
fn token_id_outside_the_vocabulary_is_refused() {
    let Some(src) = tiny("llama-tiny") else {
        return;
    };
    let out = generate_ids(&src, "1,999999");
    assert_fails_with(&out, &["999999", "vocabulary"]);
}

#[test]
fn missing_model_path_is_named() {
    let out = generate_ids(Path::new("/no/such/model.gguf"), "1");
    assert_fails_with(&out, &["/no/such/model.gguf"]);
}

#[test]
fn generate_json_on_a_tiny_model_has_the_contract_fields() {
    let Some(src) = tiny("llama-tiny") else {
        return;
    };
    let out = ch02(&[
        "generate",
        "--model",
        src.to_str().unwrap(),
        "--ids",
        "1,17,250",
        "--max-new-tokens",
        "5",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("stdout is one JSON document");
    for key in [
        "input_ids",
        "ids",
        "text",
        "prompt_tokens",
        "new_tokens",
        "load_s",
        "ttft_s",
        "tok_per_s",
    ] {
        assert!(doc.get(key).is_some(), "missing {key}: {doc}");
    }
    assert_eq!(doc["ids"].as_array().unwrap().len(), 5);
    assert!(
        doc["text"].is_null(),
        "a model without a tokenizer has no text"
    );
}

/// `ch02 generate` is the book's `generate_text_basic_cache` (and, with `--no-cache`,
/// `generate_text_basic`): its ids are theirs, so editing either function changes what
/// the command prints.
#[test]
fn generate_prints_the_book_functions_ids() {
    let Some(src) = tiny("qwen3-tiny") else {
        return;
    };
    let model = shared::loader::load_hf_model(&src).unwrap();
    let prompt = [1, 17, 250, 3];
    for (flags, book) in [
        (&[][..], generate_text_basic_cache as Generate),
        (&["--no-cache"][..], generate_text_basic),
    ] {
        let mut args = vec!["generate", "--model", src.to_str().unwrap()];
        args.extend(["--ids", "1,17,250,3", "--max-new-tokens", "12", "--json"]);
        args.extend(flags);
        let out = ch02(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let printed: Vec<u32> = serde_json::from_value(doc["ids"].clone()).unwrap();
        let want = book(
            &model,
            &prompt,
            12,
            &model.config.eos_token_ids,
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(printed, want.ids, "{flags:?}");
    }
}

/// The book's greedy loops' signature.
type Generate = fn(
    &shared::model::Model,
    &[u32],
    usize,
    &[u32],
    &mut dyn FnMut(u32),
) -> shared::Result<shared::generate::Generation>;

#[test]
fn device_cuda_fails_cleanly_without_a_gpu() {
    let Some(src) = tiny("llama-tiny") else {
        return;
    };
    let model = src.to_str().unwrap();
    for args in [
        vec!["--model", model, "--device", "cuda"],
        vec![
            "generate", "--model", model, "--ids", "1,2", "--device", "cuda",
        ],
        vec![
            "--device",
            "cuda:1",
            "--gpu-dtype",
            "f32",
            "generate",
            "--model",
            model,
            "--ids",
            "1,2",
        ],
    ] {
        shared::fixtures::assert_cuda_handled(&args, &ch02(&args));
    }
}

#[test]
fn unknown_device_and_gpu_dtype_are_refused_by_the_parser() {
    for (args, says) in [
        (vec!["--device", "tpu"], "tpu"),
        (vec!["generate", "--ids", "1", "--device", "tpu"], "tpu"),
        (
            vec!["generate", "--ids", "1", "--gpu-dtype", "int8"],
            "int8",
        ),
    ] {
        assert_fails_with(&ch02(&args), &[says]);
    }
}

#[test]
fn generate_takes_quantize_q8_0_and_says_what_it_quantized() {
    shared::fixtures::assert_quantize_flag(
        &ch02(&["generate", "--help"]),
        &ch02(&["generate", "--ids", "1", "--quantize", "q4_0"]),
    );
    let Some(src) = tiny("qwen3-tiny-untied") else {
        return;
    };
    let out = ch02(&[
        "generate",
        "--model",
        src.to_str().unwrap(),
        "--ids",
        "1,17,250",
        "--max-new-tokens",
        "3",
        "--json",
        "--quantize",
        "q8_0",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // Untied: the embedding, 2 blocks of 7 projections and the lm_head.
    assert!(stderr.contains("quantized 16 matrices to Q8_0"), "{stderr}");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["ids"].as_array().unwrap().len(), 3, "{doc}");
}

#[test]
fn ids_with_an_empty_entry_or_with_chat_are_refused() {
    let Some(model) = tiny("llama-tiny") else {
        return;
    };
    assert_fails_with(
        &generate_ids(&model, "1,,2"),
        &["--ids", "entry 2 is empty"],
    );
    let model = model.to_str().unwrap();
    let out = ch02(&["generate", "--model", model, "--ids", "1,2", "--chat"]);
    assert_fails_with(&out, &["--chat", "--ids"]);
}
