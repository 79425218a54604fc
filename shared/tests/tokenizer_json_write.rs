//! `Tokenizer::to_tokenizer_json` (+ `to_tokenizer_config_json`) read back with
//! `Tokenizer::from_tokenizer_json`: the same tokenizer, on Qwen3's real `tokenizer.json`
//! and on SmolLM2's GGUF vocabulary, checked against Hugging Face's ids where fixtures have them.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use shared::fixtures::{default_model, fixture};
use shared::io::{write_atomically, GgufFile};
use shared::models::ModelFiles;
use shared::tokenizer::Tokenizer;

/// Texts that exercise every stage: added tokens, normalization, each split rule, bytes.
const TEXTS: &[&str] = &[
    "Hello, world! The quick brown fox.",
    "12345 and 3.14159, 1,000,000",
    "  leading, trailing   \t\t  and   runs  ",
    "line one\nline two\r\n\n\nindented\n    code()",
    "naïve café 日本語 🙂 Ελληνικά",
    "cafe\u{301} (a decomposed é)",
    "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n",
    "<think>\nI'll reason: it's 2+3=5.\n</think>",
    "DON'T we'LL 've 're",
    "",
];

/// One Hugging Face reference case.
#[derive(Deserialize)]
struct Case {
    text: String,
    ids: Vec<u32>,
}

#[derive(Deserialize)]
struct Cases {
    cases: Vec<Case>,
}

/// A fresh folder under the system temp folder, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("rfs-tokjson-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes `tokenizer` as tokenizer.json + tokenizer_config.json into `dir` and reads it back.
fn write_and_read(tokenizer: &Tokenizer, dir: &Path) -> Tokenizer {
    let json = |v: serde_json::Value| serde_json::to_vec_pretty(&v).unwrap();
    let path = dir.join("tokenizer.json");
    write_atomically(&path, &json(tokenizer.to_tokenizer_json())).unwrap();
    write_atomically(
        &dir.join("tokenizer_config.json"),
        &json(tokenizer.to_tokenizer_config_json()),
    )
    .unwrap();
    Tokenizer::from_tokenizer_json(&path).unwrap()
}

/// Everything observable about the two tokenizers is the same.
fn assert_same(original: &Tokenizer, reread: &Tokenizer, extra_texts: &[&str]) {
    assert_eq!(reread.vocab_size(), original.vocab_size());
    assert!(
        reread.entries().eq(original.entries()),
        "vocabulary and kinds"
    );
    for id in 0..original.vocab_size() as u32 {
        assert_eq!(
            reread.is_special(id),
            original.is_special(id),
            "special flag of {id}"
        );
    }
    assert_eq!(reread.merges(), original.merges(), "merges in rank order");
    assert_eq!(
        (reread.bos_id(), reread.eos_id(), reread.unk_id()),
        (original.bos_id(), original.eos_id(), original.unk_id())
    );
    assert_eq!(reread.normalizer(), original.normalizer());
    assert_eq!(reread.pre_tokenizer(), original.pre_tokenizer());
    assert_eq!(reread.ignore_merges(), original.ignore_merges());
    for text in TEXTS.iter().chain(extra_texts) {
        assert_eq!(
            reread.encode(text),
            original.encode(text),
            "encode {text:?}"
        );
    }
    let all: Vec<u32> = original.entries().map(|e| e.id).collect();
    assert_eq!(reread.decode(&all), original.decode(&all));
}

/// The reference cases in `fixtures/tokenizers/<name>-cases.json`, if present.
fn cases(name: &str) -> Vec<Case> {
    let Some(path) = fixture(&format!("tokenizers/{name}-cases.json")) else {
        return Vec::new();
    };
    let cases: Cases = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert!(!cases.cases.is_empty(), "{name}-cases.json holds no cases");
    cases.cases
}

/// Round trip, then the reread tokenizer against Hugging Face's ids.
fn check(name: &str, original: &Tokenizer) {
    let dir = TempDir::new(name);
    let reread = write_and_read(original, &dir.0);
    let cases = cases(name);
    let texts: Vec<&str> = cases.iter().map(|c| c.text.as_str()).collect();
    assert_same(original, &reread, &texts);
    for case in &cases {
        assert_eq!(
            reread.encode(&case.text),
            case.ids,
            "HF ids of {:?}",
            case.text
        );
    }
}

#[test]
fn qwen3_tokenizer_json_round_trips() {
    let Some(path) = fixture("tokenizers/qwen3/tokenizer.json") else {
        return;
    };
    let original = Tokenizer::from_tokenizer_json(&path).unwrap();
    assert!(
        original.eos_id().is_some(),
        "the fixture's config names an EOS"
    );
    check("qwen3", &original);
}

#[test]
fn smollm2_gguf_tokenizer_round_trips() {
    let Some(files) = default_model() else {
        return;
    };
    let ModelFiles::Gguf(path) = files else {
        panic!("the default model resolved to {files:?}, not a GGUF");
    };
    let original = Tokenizer::from_gguf(&GgufFile::open(&path).unwrap()).unwrap();
    assert!(original.bos_id().is_some() && original.eos_id().is_some());
    check("smollm2", &original);
}

#[test]
fn written_tokenizer_json_has_the_standard_fields() {
    let Some(path) = fixture("tokenizers/qwen3/tokenizer.json") else {
        return;
    };
    let json = Tokenizer::from_tokenizer_json(&path)
        .unwrap()
        .to_tokenizer_json();
    for field in [
        "version",
        "truncation",
        "padding",
        "added_tokens",
        "normalizer",
    ] {
        assert!(json.get(field).is_some(), "{field}");
    }
    for field in ["pre_tokenizer", "post_processor", "decoder", "model"] {
        assert!(json.get(field).is_some(), "{field}");
    }
    let model = &json["model"];
    assert_eq!(model["type"], "BPE");
    assert_eq!(
        model["merges"][0], "Ġ Ġ",
        "merges as HF's rank order, `left right` lines"
    );
    let first_added = &json["added_tokens"][0];
    assert_eq!(first_added["content"], "<|endoftext|>");
    assert_eq!(first_added["special"], true);
    for field in ["id", "single_word", "lstrip", "rstrip", "normalized"] {
        assert!(first_added.get(field).is_some(), "added_tokens[0].{field}");
    }
}
