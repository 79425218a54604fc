//! The safetensors reader on the team's tiny models (f32 and their bf16 twins).

use shared::fixtures::fixture;
use shared::io::{DType, SafeTensors, SafetensorsModel};

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
