//! `ch02 inspect` through the command line: the `--json` contract on the GGUF fixtures
//! (every block type, values against gguf-py's), on tiny safetensors folders (against
//! the files' bytes, decoded here independently), the readable output as snapshots, and
//! clean errors.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ch02::inspect::JSON_ARRAY_ITEMS;
use serde_json::Value;
use shared::fixtures::{default_model, fixture, fixtures_dir};
use shared::io::{write_safetensors_f32, GgufFile};

/// Relative tolerance against gguf-py's values, over a floor of the smallest normal f32
/// (as in `shared/tests/io_gguf_quants_all.rs`).
const REL_TOL: f64 = 1e-6;

fn ch02(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ch02"))
        .args(args)
        .output()
        .expect("ch02 runs")
}

/// `ch02 inspect --model MODEL ARGS…`, which must succeed; its stdout.
fn inspect(model: &Path, args: &[&str]) -> String {
    let mut all = vec!["inspect", "--model", model.to_str().unwrap()];
    all.extend_from_slice(args);
    let out = ch02(&all);
    assert!(
        out.status.success(),
        "{all:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("stdout is UTF-8")
}

/// `ch02 inspect --model MODEL --json ARGS…`: the JSON document (which must be the
/// whole of stdout) and its `values` read from the text as f32 (each must parse as one).
fn inspect_json(model: &Path, args: &[&str]) -> (Value, Vec<f32>) {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let stdout = inspect(model, &all);
    let doc: Value = serde_json::from_str(&stdout).expect("stdout is one JSON document");
    let values = match doc.get("values") {
        Some(_) => values_as_written(&stdout),
        None => Vec::new(),
    };
    (doc, values)
}

/// The `values` array of a document as written, each number parsed straight to f32
/// (`values` is the document's last key).
fn values_as_written(stdout: &str) -> Vec<f32> {
    let (_, tail) = stdout.rsplit_once("\"values\":[").expect("a values array");
    let list = tail
        .trim_end()
        .strip_suffix("]}")
        .expect("values come last");
    if list.is_empty() {
        return Vec::new();
    }
    list.split(',')
        .map(|t| t.parse().unwrap_or_else(|_| panic!("{t:?} is not an f32")))
        .collect()
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `|a − b| ≤ 1e-6 · max(|b|, smallest normal f32)`.
fn close(a: f32, b: f64) -> bool {
    (f64::from(a) - b).abs() <= REL_TOL * b.abs().max(f64::from(f32::MIN_POSITIVE))
}

/// Bit patterns, so that exact comparisons also tell -0.0 from 0.0.
fn bits(values: &[f32]) -> Vec<u32> {
    values.iter().map(|v| v.to_bits()).collect()
}

/// Asserts a clean failure whose stderr contains every one of `needles`, with nothing on stdout.
fn assert_fails_with(out: &Output, needles: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "expected failure; stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "panicked: {stderr}");
    assert!(out.stdout.is_empty(), "stdout: {:?}", out.stdout);
    for needle in needles {
        assert!(stderr.contains(needle), "stderr lacks {needle:?}: {stderr}");
    }
}

/// The GGUF fixtures with their gguf-py JSON: (gguf, json).
fn gguf_fixtures() -> Vec<(PathBuf, PathBuf)> {
    ["quants", "quants_all"]
        .iter()
        .filter_map(|name| {
            let gguf = fixture(&format!("gguf/{name}.gguf"))?;
            let json = fixture(&format!("gguf/{name}.json"))?;
            Some((gguf, json))
        })
        .collect()
}

#[test]
fn json_lists_every_tensor_with_its_type_and_shape() {
    for (gguf, reference) in gguf_fixtures() {
        let (doc, _) = inspect_json(&gguf, &[]);
        assert_eq!(doc["format"], "gguf");
        assert!(doc.get("values").is_none(), "values only with --tensor");
        let tensors = doc["tensors"].as_array().expect("tensors");
        let expected = read_json(&reference)["tensors"].clone();
        let expected = expected.as_object().expect("fixture tensors");
        assert_eq!(tensors.len(), expected.len(), "{}", gguf.display());
        for t in tensors {
            let name = t["name"].as_str().expect("name");
            let want = &expected[name];
            assert_eq!(t["type"], want["type"], "{name}");
            assert_eq!(t["shape"], want["shape"], "{name}");
            assert_eq!(t.as_object().unwrap().len(), 3, "{t}");
        }
    }
}

#[test]
fn tensor_values_equal_gguf_py_for_every_tensor() {
    for (gguf, reference) in gguf_fixtures() {
        let reference = read_json(&reference);
        let file = GgufFile::open(&gguf).unwrap();
        let mut checked = 0;
        for (name, want) in reference["tensors"].as_object().unwrap() {
            let (doc, values) = inspect_json(&gguf, &["--tensor", name]);
            let want = want["values"].as_array().expect("fixture values");
            assert_eq!(values.len(), want.len(), "{name}");
            for (i, (&a, b)) in values.iter().zip(want).enumerate() {
                let b = b.as_f64().unwrap();
                assert!(close(a, b), "{name}[{i}]: {a} vs gguf-py {b}");
            }
            // Written so that it reads back as exactly the f32 the reader dequantized.
            assert_eq!(bits(&values), bits(&file.tensor_f32(name).unwrap()));
            assert_eq!(
                doc["tensors"].as_array().unwrap().len(),
                file.tensors().len()
            );
            checked += 1;
        }
        assert_eq!(checked, file.tensors().len(), "{}", gguf.display());
    }
}

#[test]
fn gguf_metadata_keeps_every_key_and_value() {
    let Some(gguf) = fixture("gguf/quants.gguf") else {
        return;
    };
    let reference = read_json(&fixture("gguf/quants.json").unwrap());
    let (doc, _) = inspect_json(&gguf, &[]);
    // Every key, with the same value: `fixture.pi` is an f32 and prints as 3.14159, the
    // shortest decimal that reads back as that f32.
    assert_eq!(doc["metadata"], reference["metadata"]);
}

#[test]
fn limit_keeps_the_first_values_across_blocks() {
    let Some(gguf) = fixture("gguf/quants_all.gguf") else {
        return;
    };
    let (_, all) = inspect_json(&gguf, &["--tensor", "q4_k.w"]);
    assert_eq!(all.len(), 1024);
    for (limit, expected) in [(300, 300), (256, 256), (1, 1), (0, 0), (5000, 1024)] {
        let (_, values) = inspect_json(
            &gguf,
            &["--tensor", "q4_k.w", "--limit", &limit.to_string()],
        );
        assert_eq!(bits(&values), bits(&all[..expected]), "--limit {limit}");
    }
}

/// The header of a safetensors file, decoded here without `shared`'s reader.
fn safetensors_header(path: &Path) -> (serde_json::Map<String, Value>, Vec<u8>) {
    let bytes = std::fs::read(path).unwrap();
    let len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header = serde_json::from_slice(&bytes[8..8 + len]).unwrap();
    (header, bytes[8 + len..].to_vec())
}

/// Tensor `name` of a safetensors file, decoded here from its F32 or BF16 bytes.
fn safetensors_values(path: &Path, name: &str) -> Vec<f32> {
    let (header, data) = safetensors_header(path);
    let entry = &header[name];
    let begin = entry["data_offsets"][0].as_u64().unwrap() as usize;
    let end = entry["data_offsets"][1].as_u64().unwrap() as usize;
    let bytes = &data[begin..end];
    match entry["dtype"].as_str().unwrap() {
        "F32" => bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect(),
        "BF16" => bytes
            .chunks_exact(2)
            .map(|b| f32::from_bits(u32::from(u16::from_le_bytes([b[0], b[1]])) << 16))
            .collect(),
        other => panic!("{other}"),
    }
}

fn qwen3_tiny() -> Option<(PathBuf, PathBuf)> {
    let f32_dir = fixture("tiny/qwen3-tiny")?;
    let bf16_dir = fixture("tiny/qwen3-tiny/bf16")?;
    Some((f32_dir, bf16_dir))
}

#[test]
fn safetensors_folder_lists_config_header_and_tensors() {
    let Some((f32_dir, bf16_dir)) = qwen3_tiny() else {
        return;
    };
    for (dir, dtype) in [(f32_dir, "F32"), (bf16_dir, "BF16")] {
        let (doc, _) = inspect_json(&dir, &[]);
        assert_eq!(doc["format"], "safetensors");
        let config = read_json(&dir.join("config.json"));
        for (key, value) in config.as_object().unwrap() {
            assert_eq!(&doc["metadata"][key], value, "{key}");
        }
        let (mut header, _) = safetensors_header(&dir.join("model.safetensors"));
        let file_metadata = header.remove("__metadata__").unwrap();
        assert_eq!(doc["metadata"]["__metadata__"], file_metadata);
        let tensors = doc["tensors"].as_array().unwrap();
        assert_eq!(tensors.len(), header.len());
        for t in tensors {
            let entry = &header[t["name"].as_str().unwrap()];
            assert_eq!(t["type"], dtype);
            assert_eq!(entry["dtype"], dtype);
            assert_eq!(t["shape"], entry["shape"]);
        }
    }
}

#[test]
fn safetensors_values_equal_the_files() {
    let Some((f32_dir, bf16_dir)) = qwen3_tiny() else {
        return;
    };
    for name in [
        "model.layers.0.mlp.gate_proj.weight",
        "model.layers.1.self_attn.q_proj.weight",
        "model.norm.weight",
    ] {
        let (doc32, values32) = inspect_json(&f32_dir, &["--tensor", name]);
        let expected32 = safetensors_values(&f32_dir.join("model.safetensors"), name);
        assert_eq!(bits(&values32), bits(&expected32), "{name}");
        let (_, values16) = inspect_json(&bf16_dir, &["--tensor", name]);
        let expected16 = safetensors_values(&bf16_dir.join("model.safetensors"), name);
        assert_eq!(bits(&values16), bits(&expected16), "{name} (bf16)");
        // The bf16 file holds the f32 weights rounded to 8 significant bits.
        for (a, b) in values16.iter().zip(&values32) {
            assert!((a - b).abs() <= b.abs() / 256.0, "{name}: {a} vs {b}");
        }
        let shape: Vec<usize> = doc32["tensors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == *name)
            .map(|t| serde_json::from_value(t["shape"].clone()).unwrap())
            .unwrap();
        assert_eq!(shape.iter().product::<usize>(), values32.len());
    }
}

/// `n` distinct values for a written tensor.
fn ramp(n: usize) -> Vec<f32> {
    (0..n).map(|i| i as f32 * 0.1 - 0.2).collect()
}

#[test]
fn sharded_folder_merges_its_shards() {
    let dir = std::env::temp_dir().join(format!("rfs-ch02-shards-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config =
        r#"{"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 3}"#;
    std::fs::write(dir.join("config.json"), config).unwrap();
    let shards = [
        (
            "model-00001-of-00002.safetensors",
            "a.weight",
            vec![2, 3],
            "format",
            "pt",
        ),
        (
            "model-00002-of-00002.safetensors",
            "b.bias",
            vec![3],
            "note",
            "second",
        ),
    ];
    let mut weight_map = serde_json::Map::new();
    for (file, name, shape, key, value) in &shards {
        let values = ramp(shape.iter().product());
        let metadata = [(key.to_string(), value.to_string())].into();
        let tensors: &[(&str, &[usize], &[f32])] = &[(name, shape, &values)];
        write_safetensors_f32(&dir.join(file), tensors, &metadata).unwrap();
        weight_map.insert(name.to_string(), (*file).into());
    }
    let index = serde_json::json!({ "weight_map": weight_map });
    std::fs::write(dir.join("model.safetensors.index.json"), index.to_string()).unwrap();

    let (doc, values) = inspect_json(&dir, &["--tensor", "b.bias"]);
    assert_eq!(doc["metadata"]["hidden_size"], 3);
    assert_eq!(
        doc["metadata"]["__metadata__"],
        serde_json::json!({"format": "pt", "note": "second"})
    );
    let listed: Vec<(&str, &Value)> = doc["tensors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["name"].as_str().unwrap(), &t["shape"]))
        .collect();
    assert_eq!(
        listed,
        [
            ("a.weight", &serde_json::json!([2, 3])),
            ("b.bias", &serde_json::json!([3]))
        ]
    );
    assert_eq!(bits(&values), bits(&ramp(3)));
    let text = inspect(&dir, &[]);
    assert!(text.contains("safetensors, 2 files"), "{text}");
    assert!(
        text.contains("LlamaForCausalLM (model_type llama)"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `text` with the fixtures folder written as `<fixtures>`, so snapshots do not depend on
/// where the repository lives.
fn redact(text: &str) -> String {
    text.replace(&fixtures_dir().display().to_string(), "<fixtures>")
}

#[test]
fn readable_summary_of_quants_all() {
    let Some(gguf) = fixture("gguf/quants_all.gguf") else {
        return;
    };
    insta::assert_snapshot!(redact(&inspect(&gguf, &[])));
}

#[test]
fn readable_tensor_of_quants_all() {
    let Some(gguf) = fixture("gguf/quants_all.gguf") else {
        return;
    };
    let mut report = redact(&inspect(&gguf, &["--tensor", "q4_k.w"]));
    report += "\n";
    report += &redact(&inspect(&gguf, &["--tensor", "iq4_nl.w", "--limit", "5"]));
    insta::assert_snapshot!(report);
}

#[test]
fn readable_summary_of_a_safetensors_folder() {
    let Some((_, bf16_dir)) = qwen3_tiny() else {
        return;
    };
    insta::assert_snapshot!(redact(&inspect(&bf16_dir, &[])));
}

#[test]
fn default_model_abbreviates_its_vocabulary_unless_asked() {
    let Some(files) = default_model() else {
        return;
    };
    let path = files.path();
    let (doc, values) = inspect_json(path, &["--tensor", "token_embd.weight", "--limit", "40"]);
    let tokens = &doc["metadata"]["tokenizer.ggml.tokens"];
    let first = tokens["first"].as_array().expect("abbreviated tokens");
    assert_eq!(first.len(), 64);
    let n = tokens["array_len"].as_u64().unwrap() as usize;
    let embedding = doc["tensors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "token_embd.weight")
        .unwrap();
    assert_eq!(embedding["shape"][0], n, "one embedding row per token");
    let file = GgufFile::open(path).unwrap();
    assert_eq!(
        bits(&values),
        bits(&file.tensor_f32("token_embd.weight").unwrap()[..40])
    );

    let (full, _) = inspect_json(path, &["--full-metadata"]);
    let all = full["metadata"]["tokenizer.ggml.tokens"]
        .as_array()
        .unwrap();
    assert_eq!(all.len(), n);
    assert_eq!(&all[..64], first.as_slice());
    assert_eq!(full["metadata"]["general.architecture"], "llama");
}

#[test]
fn unknown_tensor_names_the_file_and_close_names() {
    let Some(gguf) = fixture("gguf/quants_all.gguf") else {
        return;
    };
    for json in [true, false] {
        let model = gguf.to_str().unwrap();
        let mut args = vec!["inspect", "--model", model, "--tensor", "q4_k"];
        if json {
            args.push("--json");
        }
        assert_fails_with(&ch02(&args), &["q4_k", "quants_all.gguf", "q4_k.w"]);
    }
}

#[test]
fn bad_model_paths_are_named() {
    let dir = std::env::temp_dir().join(format!("rfs-ch02-inspect-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let broken = dir.join("broken.gguf");
    std::fs::write(&broken, b"NOPE this is not a gguf file at all").unwrap();
    let weights = dir.join("weights.bin");
    std::fs::write(&weights, b"?").unwrap();
    for (path, says) in [
        (
            Path::new("/no/such/model.gguf"),
            vec!["/no/such/model.gguf"],
        ),
        (broken.as_path(), vec!["broken.gguf", "magic"]),
        (weights.as_path(), vec!["weights.bin", ".gguf"]),
        (dir.as_path(), vec!["config.json"]),
    ] {
        let out = ch02(&["inspect", "--model", path.to_str().unwrap(), "--json"]);
        assert_fails_with(&out, &says);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn limit_needs_a_tensor_and_help_documents_the_contract() {
    let out = ch02(&["inspect", "--limit", "3"]);
    assert_fails_with(&out, &["--tensor"]);
    let help = ch02(&["inspect", "--help"]);
    let help = String::from_utf8_lossy(&help.stdout);
    let abbreviated = format!("longer than {JSON_ARRAY_ITEMS} items");
    for needle in [
        "--limit",
        "un-permut",
        "array_len",
        &abbreviated,
        "--full-metadata",
        "row-major",
    ] {
        assert!(help.contains(needle), "--help lacks {needle:?}");
    }
}
