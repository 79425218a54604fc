//! The GGUF reader and every dequantizer against gguf-py (llama.cpp's own Python
//! package): `fixtures/gguf/quants.gguf` holds one small tensor of each type and
//! metadata of several kinds; `quants.json` holds what gguf-py reads from it.

use serde_json::Value;
use shared::fixtures::fixture;
use shared::io::{GgufFile, GgufValue};

/// The reference JSON and our reading of the GGUF, or `None` when the fixtures are absent.
fn load() -> Option<(Value, GgufFile)> {
    let json_path = fixture("gguf/quants.json")?;
    let gguf_path = fixture("gguf/quants.gguf")?;
    let json: Value = serde_json::from_str(&std::fs::read_to_string(json_path).unwrap()).unwrap();
    Some((json, GgufFile::open(gguf_path).unwrap()))
}

/// Whether a GGUF value equals a JSON value (numbers compared as f32 when the GGUF holds a float).
fn same_value(ours: &GgufValue, reference: &Value) -> bool {
    match (ours, reference) {
        (GgufValue::String(s), Value::String(r)) => s == r,
        (GgufValue::Bool(b), Value::Bool(r)) => b == r,
        (GgufValue::F32(x), Value::Number(r)) => *x == r.as_f64().unwrap() as f32,
        (GgufValue::F64(x), Value::Number(r)) => Some(*x) == r.as_f64(),
        (GgufValue::Array(items), Value::Array(r)) => {
            items.len() == r.len() && items.iter().zip(r).all(|(a, b)| same_value(a, b))
        }
        (v, Value::Number(r)) => v.as_i64().is_some() && v.as_i64() == r.as_i64(),
        _ => false,
    }
}

#[test]
fn metadata_matches_gguf_py() {
    let Some((json, gguf)) = load() else { return };
    assert_eq!(gguf.version(), 3);
    let reference = json["metadata"].as_object().unwrap();
    let keys: Vec<&String> = gguf.metadata().keys().collect();
    let mut expected: Vec<&String> = reference.keys().collect();
    expected.sort();
    assert_eq!(keys, expected);
    for (key, value) in reference {
        let ours = gguf.get(key).unwrap();
        assert!(
            same_value(ours, value),
            "{key}: ours {ours:?}, gguf-py {value}"
        );
    }
}

#[test]
fn typed_getters() {
    let Some((json, gguf)) = load() else { return };
    let meta = &json["metadata"];
    for key in ["general.architecture", "general.name", "fixture.note"] {
        assert_eq!(
            gguf.get_str(key).unwrap(),
            meta[key].as_str().unwrap(),
            "{key}"
        );
    }
    let answer = meta["fixture.answer"].as_u64().unwrap();
    assert_eq!(u64::from(gguf.get_u32("fixture.answer").unwrap()), answer);
    assert_eq!(gguf.get_usize("fixture.answer").unwrap() as u64, answer);
    let pi = meta["fixture.pi"].as_f64().unwrap() as f32;
    assert_eq!(gguf.get_f32("fixture.pi").unwrap(), pi);
    let list: Vec<i32> = serde_json::from_value(meta["fixture.list"].clone()).unwrap();
    assert_eq!(gguf.get_i32_array("fixture.list").unwrap(), list);
    let err = gguf.get_str("fixture.answer").unwrap_err().to_string();
    assert!(
        err.contains("quants.gguf")
            && err.contains("`fixture.answer` has type u32, expected a string"),
        "{err}"
    );
    let err = gguf.get_u32("no.such.key").unwrap_err().to_string();
    assert!(
        err.contains("quants.gguf") && err.contains("`no.such.key` is missing"),
        "{err}"
    );
    assert!(gguf.get_str_array("fixture.list").is_err());
    assert!(gguf.get_bool("fixture.pi").is_err());
}

#[test]
fn every_tensor_dequantizes_like_gguf_py() {
    let Some((json, gguf)) = load() else { return };
    let reference = json["tensors"].as_object().unwrap();
    assert_eq!(gguf.tensors().len(), reference.len());
    for (name, tensor) in reference {
        let info = gguf.tensor_info(name).unwrap();
        assert_eq!(
            format!("{:?}", info.dtype),
            tensor["type"].as_str().unwrap(),
            "{name}"
        );
        let shape: Vec<usize> = serde_json::from_value(tensor["shape"].clone()).unwrap();
        assert_eq!(info.shape(), shape, "{name}");
        assert_eq!(info.n_elements(), shape.iter().product::<usize>(), "{name}");
        let expected: Vec<f64> = serde_json::from_value(tensor["values"].clone()).unwrap();
        let ours = gguf.tensor_f32(name).unwrap();
        assert_eq!(ours.len(), expected.len(), "{name}");
        for (i, (&a, &b)) in ours.iter().zip(&expected).enumerate() {
            let tolerance = 1e-6 * b.abs().max(f64::from(f32::MIN_POSITIVE));
            assert!(
                (f64::from(a) - b).abs() <= tolerance,
                "{name}[{i}]: ours {a}, gguf-py {b}"
            );
        }
    }
}

#[test]
fn tensor_bytes_have_the_stored_size() {
    let Some((_, gguf)) = load() else { return };
    for info in gguf.tensors() {
        let bytes = gguf.tensor_bytes(&info.name).unwrap();
        assert_eq!(
            bytes.len(),
            info.dtype.bytes_for(info.n_elements()).unwrap(),
            "{}",
            info.name
        );
        assert_eq!(bytes.len(), info.n_bytes());
    }
}
