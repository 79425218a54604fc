//! The safetensors reader on the team's tiny models (f32 and their bf16 twins), and the
//! writer read back by the reader.

mod io_support;

use io_support::{safetensors_file, TempDir};
use shared::fixtures::fixture;
use std::collections::BTreeMap;

use shared::io::{write_safetensors_f32, DType, SafeTensors, SafetensorsModel};

#[test]
fn llama_tiny_f32_shapes_and_dtypes() {
    let Some(dir) = fixture("tiny/llama-tiny") else {
        return;
    };
    let model = SafetensorsModel::open_folder(&dir).unwrap();
    assert_eq!(model.names().count(), 20);
    assert_eq!(
        model.shape("model.embed_tokens.weight"),
        Some(&[512, 64][..])
    );
    assert_eq!(
        model.shape("model.layers.1.mlp.down_proj.weight"),
        Some(&[64, 160][..])
    );
    assert_eq!(
        model.shape("model.layers.0.self_attn.k_proj.weight"),
        Some(&[32, 64][..])
    );
    assert_eq!(model.shape("model.norm.weight"), Some(&[64][..]));
    assert_eq!(model.dtype("model.norm.weight"), Some(DType::F32));
    assert!(model.contains("model.layers.0.input_layernorm.weight"));
    assert!(
        !model.contains("lm_head.weight"),
        "llama-tiny ties its embeddings"
    );
    let embed = model.tensor_f32("model.embed_tokens.weight").unwrap();
    assert_eq!(embed.len(), 512 * 64);
    assert!(embed.iter().all(|x| x.is_finite()) && embed.iter().any(|&x| x != 0.0));
}

#[test]
fn llama_tiny_bf16_is_the_f32_model_rounded_to_bf16() {
    let (Some(f32_dir), Some(bf16_dir)) =
        (fixture("tiny/llama-tiny"), fixture("tiny/llama-tiny/bf16"))
    else {
        return;
    };
    let full = SafetensorsModel::open_folder(&f32_dir).unwrap();
    let half = SafetensorsModel::open_folder(&bf16_dir).unwrap();
    assert!(full.names().eq(half.names()));
    for name in full.names() {
        assert_eq!(half.dtype(name), Some(DType::BF16), "{name}");
        assert_eq!(full.shape(name), half.shape(name), "{name}");
        let a = full.tensor_f32(name).unwrap();
        let b = half.tensor_f32(name).unwrap();
        for (i, (&x, &y)) in a.iter().zip(&b).enumerate() {
            // bf16 keeps 8 significant bits: rounding to nearest moves a value by
            // at most half a unit in the last place, 2^-8 of its magnitude.
            assert!(
                (x - y).abs() <= x.abs() * 2f32.powi(-8),
                "{name}[{i}]: f32 {x} vs bf16 {y}"
            );
            assert_eq!(
                y,
                half::bf16::from_f32(x).to_f32(),
                "{name}[{i}] is not x rounded to bf16"
            );
        }
    }
}

#[test]
fn single_file_reader_exposes_bytes_and_metadata() {
    let Some(path) = fixture("tiny/llama-tiny/model.safetensors") else {
        return;
    };
    let file = SafeTensors::open(&path).unwrap();
    assert_eq!(
        file.metadata().get("format").map(String::as_str),
        Some("pt")
    );
    let info = file.info("model.norm.weight").unwrap();
    assert_eq!(info.range.len(), 64 * 4);
    let bytes = file.tensor_bytes("model.norm.weight").unwrap();
    let values = file.tensor_f32("model.norm.weight").unwrap();
    assert_eq!(
        f32::from_le_bytes(bytes[4..8].try_into().unwrap()),
        values[1]
    );
    let err = file.tensor_f32("nope").unwrap_err().to_string();
    assert!(
        err.contains("model.safetensors") && err.contains("no tensor named `nope`"),
        "{err}"
    );
}

#[test]
fn every_tiny_model_opens() {
    for name in [
        "qwen3-tiny",
        "qwen3-tiny-untied",
        "qwen2-tiny",
        "llama-tiny",
    ] {
        for sub in ["", "/bf16"] {
            let Some(dir) = fixture(&format!("tiny/{name}{sub}")) else {
                return;
            };
            let model = SafetensorsModel::open_folder(&dir).unwrap();
            for tensor in model.names() {
                let n: usize = model.shape(tensor).unwrap().iter().product();
                assert_eq!(
                    model.tensor_f32(tensor).unwrap().len(),
                    n,
                    "{name}{sub} {tensor}"
                );
            }
        }
    }
}

/// The raw bytes of every tensor of `model`, in name order.
fn all_tensors(model: &SafetensorsModel) -> Vec<(String, Vec<usize>, Vec<u8>)> {
    model
        .names()
        .map(|n| {
            (
                n.to_string(),
                model.shape(n).unwrap().to_vec(),
                model.tensor_bytes(n).unwrap().to_vec(),
            )
        })
        .collect()
}

/// A safetensors file of F32 tensors.
fn f32_file(tensors: &[(String, Vec<usize>, Vec<u8>)]) -> Vec<u8> {
    let entries: Vec<_> = tensors
        .iter()
        .map(|(n, s, b)| (n.as_str(), "F32", s.as_slice(), b.as_slice()))
        .collect();
    safetensors_file(&entries)
}

#[test]
fn sharded_folder_reads_like_the_single_file() {
    let Some(dir) = fixture("tiny/llama-tiny") else {
        return;
    };
    let single = SafetensorsModel::open_folder(&dir).unwrap();
    let tensors = all_tensors(&single);
    let (first, second) = tensors.split_at(tensors.len() / 2);
    let shards = TempDir::new("sharded");
    shards.write("model-00001-of-00002.safetensors", &f32_file(first));
    shards.write("model-00002-of-00002.safetensors", &f32_file(second));
    let weight_map: serde_json::Map<String, serde_json::Value> = tensors
        .iter()
        .enumerate()
        .map(|(i, (name, _, _))| {
            let shard = if i < first.len() { 1 } else { 2 };
            (
                name.clone(),
                format!("model-0000{shard}-of-00002.safetensors").into(),
            )
        })
        .collect();
    let index = serde_json::json!({"metadata": {"total_size": 0}, "weight_map": weight_map});
    shards.write("model.safetensors.index.json", index.to_string().as_bytes());

    let sharded = SafetensorsModel::open_folder(shards.path()).unwrap();
    assert_eq!(sharded.files().len(), 2);
    assert!(sharded.names().eq(single.names()));
    for name in single.names() {
        assert_eq!(sharded.shape(name), single.shape(name), "{name}");
        assert_eq!(
            sharded.tensor_f32(name).unwrap(),
            single.tensor_f32(name).unwrap(),
            "{name}"
        );
    }

    std::fs::remove_file(shards.path().join("model.safetensors.index.json")).unwrap();
    let without_index = SafetensorsModel::open_folder(shards.path()).unwrap();
    assert!(without_index.names().eq(single.names()));
}

#[test]
fn f16_tensors_convert_exactly() {
    let values = [0.0f32, 1.0, -2.5, 65504.0, 6.1e-5, -3.0e-7, 0.333];
    let bytes: Vec<u8> = values
        .iter()
        .flat_map(|&x| half::f16::from_f32(x).to_bits().to_le_bytes())
        .collect();
    let dir = TempDir::new("f16");
    let path = dir.write(
        "f16.safetensors",
        &safetensors_file(&[("h", "F16", &[values.len()], &bytes)]),
    );
    let file = SafeTensors::open(path).unwrap();
    assert_eq!(file.info("h").unwrap().dtype, DType::F16);
    let expected: Vec<f32> = values
        .iter()
        .map(|&x| half::f16::from_f32(x).to_f32())
        .collect();
    assert_eq!(file.tensor_f32("h").unwrap(), expected);
}

#[test]
fn written_f32_tensors_read_back_identically() {
    let dir = TempDir::new("write");
    let path = dir.path().join("out.safetensors");
    let matrix: Vec<f32> = (0..15).map(|i| i as f32 * 0.37 - 2.0).collect();
    let odd = [f32::MIN_POSITIVE, -0.0, f32::MAX, 1e-45, f32::INFINITY];
    let scalar = [7.5f32];
    let tensors: [(&str, &[usize], &[f32]); 4] = [
        ("b.matrix", &[3, 5], &matrix),
        ("a.odd", &[5], &odd),
        ("c.scalar", &[], &scalar),
        ("d.empty", &[0, 4], &[]),
    ];
    let metadata = BTreeMap::from([("format".to_string(), "pt".to_string())]);
    write_safetensors_f32(&path, &tensors, &metadata).unwrap();

    let bytes = std::fs::read(&path).unwrap();
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    assert_eq!(header_len % 8, 0, "the header is padded to 8 bytes");
    let file = SafeTensors::open(&path).unwrap();
    assert_eq!(file.metadata(), &metadata);
    assert_eq!(file.names().count(), tensors.len());
    for (name, shape, values) in tensors {
        let info = file.info(name).unwrap();
        assert_eq!((info.dtype, info.shape.as_slice()), (DType::F32, shape));
        let read: Vec<u32> = file
            .tensor_f32(name)
            .unwrap()
            .iter()
            .map(|v| v.to_bits())
            .collect();
        let written: Vec<u32> = values.iter().map(|v| v.to_bits()).collect();
        assert_eq!(read, written, "{name}");
    }
    let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(leftovers, 1, "no temporary file is left behind");
}

#[test]
fn writer_rejects_a_shape_that_does_not_fit_and_a_repeated_name() {
    let dir = TempDir::new("write-bad");
    let path = dir.path().join("bad.safetensors");
    let none = BTreeMap::new();
    let err = write_safetensors_f32(&path, &[("w", &[2, 3], &[1.0; 5])], &none).unwrap_err();
    assert!(
        err.to_string().contains("`w`") && err.to_string().contains("bad.safetensors"),
        "{err}"
    );
    let twice: [(&str, &[usize], &[f32]); 2] = [("w", &[1], &[1.0]), ("w", &[1], &[2.0])];
    let err = write_safetensors_f32(&path, &twice, &none).unwrap_err();
    assert!(err.to_string().contains("repeated"), "{err}");
    assert!(!path.exists(), "nothing is written on error");
}
