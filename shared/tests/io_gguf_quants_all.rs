//! Every other block type gguf-py dequantizes, against gguf-py (llama.cpp's own Python
//! package): `fixtures/gguf/quants_all.gguf` holds one tensor per type (Q5_0, Q5_1,
//! Q2_K..Q6_K, IQ1_S..IQ4_XS, TQ1_0, TQ2_0, MXFP4), and `quants_all.json` what gguf-py
//! reads from it. The test walks the JSON generically, so the same check runs on any file
//! of that schema.

use serde_json::Value;
use shared::fixtures::fixture;
use shared::io::{DType, GgufFile};
use std::collections::BTreeMap;

/// Relative tolerance against gguf-py's values.
const REL_TOL: f64 = 1e-6;

/// The floor of the scale the tolerance is relative to: `|a − b| ≤ 1e-6 · max(|b|, FLOOR)`.
/// The values are f32s, so the smallest normal f32 keeps the check relative over the whole
/// normal range. A larger floor such as 1e-12 would not do: MXFP4's E8M0 scales reach
/// 2^-127 (and an f16 scale times a small code reaches ~1e-8), so real values below it
/// would only be checked absolutely. Where gguf-py has an exact zero (a zero code, a zero
/// scale, an exact cancellation of scale·q − min), ours must be within 1.2e-44 of zero:
/// zero up to a few subnormal steps. We compute in ggml's order of operations, so zeros
/// come out exactly.
const FLOOR: f64 = f32::MIN_POSITIVE as f64;

/// The largest relative deviation seen per type, printed by the test (`--nocapture`).
type Deviations = BTreeMap<String, f64>;

#[test]
fn every_block_type_dequantizes_like_gguf_py() {
    let (Some(json_path), Some(gguf_path)) = (
        fixture("gguf/quants_all.json"),
        fixture("gguf/quants_all.gguf"),
    ) else {
        return;
    };
    let json: Value = serde_json::from_str(&std::fs::read_to_string(json_path).unwrap()).unwrap();
    let gguf = GgufFile::open(&gguf_path).unwrap();
    let reference = json["tensors"].as_object().expect("`tensors` is an object");
    assert!(!reference.is_empty(), "the fixture lists no tensors");
    let mut deviations = Deviations::new();
    let mut checked = 0;
    for (name, tensor) in reference {
        check_tensor(&gguf, name, tensor, &mut deviations);
        checked += 1;
    }
    assert_eq!(checked, reference.len());
    assert_eq!(gguf.tensors().len(), reference.len(), "tensors in the GGUF");
    for (dtype, dev) in &deviations {
        println!("{dtype:8} max relative deviation {dev:.3e}");
    }
}

/// Check one tensor's type, shape and every value against its JSON entry.
fn check_tensor(gguf: &GgufFile, name: &str, tensor: &Value, deviations: &mut Deviations) {
    let info = gguf
        .tensor_info(name)
        .unwrap_or_else(|| panic!("{name}: not in the GGUF"));
    let type_name = tensor["type"].as_str().expect("`type` is a string");
    let ggml_type = tensor["ggml_type"]
        .as_u64()
        .expect("`ggml_type` is a number");
    assert_eq!(info.dtype.name(), type_name, "{name}");
    assert_eq!(u64::from(info.dtype.ggml_id()), ggml_type, "{name}");
    assert_eq!(
        DType::from_ggml_id(ggml_type as u32),
        Some(info.dtype),
        "{name}"
    );
    // The JSON's shape is outermost first (rows, cols); GGUF stores dims innermost first.
    let shape: Vec<usize> = serde_json::from_value(tensor["shape"].clone()).unwrap();
    assert_eq!(info.shape(), shape, "{name}");
    let mut dims = shape.clone();
    dims.reverse();
    assert_eq!(info.dims, dims, "{name}");
    let n: usize = shape.iter().product();
    assert_eq!(
        gguf.tensor_bytes(name).unwrap().len(),
        info.dtype.bytes_for(n).unwrap(),
        "{name}"
    );

    let expected: Vec<f64> = serde_json::from_value(tensor["values"].clone()).unwrap();
    let ours = gguf.tensor_f32(name).unwrap();
    assert_eq!(expected.len(), n, "{name}: values in the JSON");
    assert_eq!(ours.len(), n, "{name}");
    let cols = shape.last().copied().unwrap_or(1).max(1);
    let mut worst = 0.0f64;
    for (i, (&a, &b)) in ours.iter().zip(&expected).enumerate() {
        let a = f64::from(a);
        let scale = b.abs().max(FLOOR);
        assert!(
            (a - b).abs() <= REL_TOL * scale,
            "{name} ({type_name})[{i}] (row {}, col {}): ours {a}, gguf-py {b}",
            i / cols,
            i % cols,
        );
        worst = worst.max((a - b).abs() / scale);
    }
    let entry = deviations.entry(type_name.to_string()).or_insert(0.0);
    *entry = entry.max(worst);
}
