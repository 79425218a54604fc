//! A broken or unsupported `tokenizer.json` gives an error naming the file and the field;
//! a small valid one round-trips.

use std::path::PathBuf;

use serde_json::{json, Value};
use shared::tokenizer::{byte_to_char, Tokenizer};
use shared::Error;

/// A tiny but complete byte-level BPE tokenizer.json: the 256 byte tokens (ids 0..=255 in
/// byte order), "ab" (256) from the one merge, and an added `<|end|>` (257).
fn tiny() -> Value {
    let mut vocab = serde_json::Map::new();
    for byte in 0..=255u8 {
        vocab.insert(byte_to_char(byte).to_string(), json!(byte));
    }
    vocab.insert("ab".into(), json!(256));
    json!({
        "version": "1.0",
        "added_tokens": [{"id": 257, "content": "<|end|>", "special": true}],
        "normalizer": null,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true},
        "decoder": {"type": "ByteLevel"},
        "model": {"type": "BPE", "vocab": vocab, "merges": ["a b"]}
    })
}

/// Writes `value` as `<temp>/<name>/tokenizer.json` and loads it.
fn load(name: &str, value: &Value) -> (PathBuf, shared::Result<Tokenizer>) {
    let dir =
        std::env::temp_dir().join(format!("rfs-tokenizer-json-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("tokenizer.json");
    std::fs::write(&path, value.to_string()).unwrap();
    let result = Tokenizer::from_tokenizer_json(&path);
    (path, result)
}

/// Loads `value`, expects an error, and checks that it names the file and `field`.
fn expect_error(name: &str, value: &Value, field: &str) -> Error {
    let (path, result) = load(name, value);
    let error = result.expect_err(name);
    let message = error.to_string();
    assert!(
        message.contains(&path.display().to_string()),
        "{name}: {message}"
    );
    assert!(message.contains(field), "{name}: {message}");
    error
}

#[test]
fn tiny_tokenizer_works() {
    let (_, tokenizer) = load("ok", &tiny());
    let tokenizer = tokenizer.unwrap();
    assert_eq!(
        tokenizer.encode("ab<|end|>ba"),
        [256, 257, u32::from(b'b'), u32::from(b'a')]
    );
    assert_eq!(tokenizer.decode(&[256, 257, 32]), "ab<|end|> ");
    assert_eq!(tokenizer.vocab_size(), 258);
}

#[test]
fn merges_as_pairs_work_too() {
    let mut value = tiny();
    value["model"]["merges"] = json!([["a", "b"]]);
    let (_, tokenizer) = load("pairs", &value);
    assert_eq!(tokenizer.unwrap().encode("ab"), [256]);
}

#[test]
fn missing_fields_are_named() {
    for (name, pointer_parent, key, field) in [
        ("no-model", "", "model", "`model`"),
        ("no-vocab", "/model", "vocab", "`model.vocab`"),
        ("no-merges", "/model", "merges", "`model.merges`"),
        ("no-type", "/model", "type", "`model.type`"),
        ("no-decoder", "", "decoder", "`decoder`"),
        ("no-pre", "", "pre_tokenizer", "`pre_tokenizer`"),
    ] {
        let mut value = tiny();
        value
            .pointer_mut(pointer_parent)
            .unwrap()
            .as_object_mut()
            .unwrap()
            .remove(key);
        let error = expect_error(name, &value, field);
        assert!(matches!(error, Error::Format { .. }), "{name}: {error:?}");
    }
}

#[test]
fn malformed_fields_are_named() {
    let mut value = tiny();
    value["model"]["merges"] = json!(["a b c"]);
    expect_error("bad-merge", &value, "model.merges[0]");
    let mut value = tiny();
    value["model"]["merges"] = json!(["a zz"]);
    expect_error("unknown-merge-token", &value, "\"zz\"");
    let mut value = tiny();
    value["model"]["vocab"]["ab"] = json!(-1);
    expect_error("bad-id", &value, "model.vocab[\"ab\"]");
    let mut value = tiny();
    value["model"]["vocab"]["ab"] = json!(4_000_000_000u64);
    expect_error("huge-id", &value, "4000000000");
    let mut value = tiny();
    value["added_tokens"][0]
        .as_object_mut()
        .unwrap()
        .remove("id");
    expect_error("added-without-id", &value, "added_tokens[0].id");
}

#[test]
fn unsupported_choices_are_named() {
    let mut value = tiny();
    value["model"]["type"] = json!("WordPiece");
    let error = expect_error("wordpiece", &value, "model.type");
    assert!(matches!(error, Error::Unsupported(_)), "{error:?}");
    let mut value = tiny();
    value["normalizer"] = json!({"type": "Lowercase"});
    expect_error("lowercase", &value, "normalizer.type");
    let mut value = tiny();
    value["pre_tokenizer"] = json!({"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": "\\w+"}, "behavior": "Isolated", "invert": false},
        {"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}
    ]});
    expect_error("unknown-regex", &value, "pattern.Regex");
    let mut value = tiny();
    value["pre_tokenizer"]["add_prefix_space"] = json!(true);
    expect_error("prefix-space", &value, "add_prefix_space");
    let mut value = tiny();
    value["decoder"] = json!({"type": "WordPiece"});
    expect_error("decoder", &value, "decoder.type");
    let mut value = tiny();
    value["model"]["byte_fallback"] = json!(true);
    expect_error("byte-fallback", &value, "model.byte_fallback");
}

#[test]
fn a_missing_file_is_an_io_error_naming_it() {
    let path = std::env::temp_dir().join("rfs-no-such-dir/tokenizer.json");
    let error = Tokenizer::from_tokenizer_json(&path).unwrap_err();
    assert!(matches!(error, Error::Io { .. }));
    assert!(error.to_string().contains("rfs-no-such-dir"));
}

#[test]
fn bytes_missing_from_the_vocabulary_become_the_unknown_token() {
    // "ÿ" is the UTF-8 bytes C3 BF; take byte C3's token out and put "<unk>" at its id.
    let mut value = tiny();
    let vocab = value["model"]["vocab"].as_object_mut().unwrap();
    vocab.remove(&byte_to_char(0xC3).to_string());
    vocab.insert("<unk>".into(), json!(0xC3));
    let (_, tokenizer) = load("unk-missing", &value);
    assert_eq!(
        tokenizer.unwrap().encode("a\u{FF}"),
        [97, 0xBF],
        "no unk_token: the byte is dropped"
    );
    value["model"]["unk_token"] = json!("<unk>");
    let (_, tokenizer) = load("unk", &value);
    assert_eq!(tokenizer.unwrap().encode("a\u{FF}"), [97, 0xC3, 0xBF]);
}
