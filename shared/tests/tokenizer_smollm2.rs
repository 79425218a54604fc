//! SmolLM2's tokenizer built from its GGUF vocabulary, against the ids and decoded text of
//! Hugging Face `tokenizers` (`fixtures/tokenizers/smollm2-cases.json`).

use std::path::PathBuf;

use serde::Deserialize;
use shared::fixtures::{default_model, fixture};
use shared::io::GgufFile;
use shared::tokenizer::{GgufVocab, PreTokenizer, StreamDecoder, Tokenizer};

/// One fixture case: text, the ids Hugging Face gives it, and their decoding.
#[derive(Deserialize)]
struct Case {
    text: String,
    ids: Vec<u32>,
    decoded: String,
}

#[derive(Deserialize)]
struct Cases {
    cases: Vec<Case>,
}

/// SmolLM2-135M-Instruct's vocabulary from the default model's GGUF metadata, and
/// the file's path, or `None` (after printing why).
fn smollm2_vocab() -> Option<(GgufVocab, PathBuf)> {
    let files = default_model()?;
    let gguf = GgufFile::open(files.path()).expect("the default model's GGUF opens");
    Some((
        GgufVocab::from_gguf(&gguf).expect("tokenizer metadata"),
        files.path().to_path_buf(),
    ))
}

fn load() -> Option<(Tokenizer, Vec<Case>)> {
    let cases_path = fixture("tokenizers/smollm2-cases.json")?;
    let (vocab, path) = smollm2_vocab()?;
    let tokenizer = Tokenizer::from_gguf_vocab(vocab, &path).expect("build from GGUF vocab");
    let cases: Cases = serde_json::from_str(&std::fs::read_to_string(cases_path).unwrap()).unwrap();
    assert!(!cases.cases.is_empty(), "smollm2-cases.json holds no cases");
    Some((tokenizer, cases.cases))
}

#[test]
fn smollm2_matches_hugging_face_on_every_case() {
    let Some((tokenizer, cases)) = load() else {
        return;
    };
    assert!(cases.len() >= 40);
    for case in &cases {
        assert_eq!(
            tokenizer.encode(&case.text),
            case.ids,
            "encode {:?}",
            case.text
        );
        assert_eq!(
            tokenizer.decode(&case.ids),
            case.decoded,
            "decode {:?}",
            case.text
        );
    }
}

#[test]
fn smollm2_streaming_gives_the_same_text() {
    let Some((tokenizer, cases)) = load() else {
        return;
    };
    for case in &cases {
        let mut stream = StreamDecoder::new(&tokenizer);
        let mut text = String::new();
        for &id in &case.ids {
            text.push_str(&stream.push(id));
        }
        text.push_str(&stream.finish());
        assert_eq!(text, case.decoded);
    }
}

#[test]
fn smollm2_special_tokens_and_ids() {
    let Some((tokenizer, _)) = load() else {
        return;
    };
    assert_eq!(tokenizer.pre_tokenizer(), PreTokenizer::SmolLm);
    assert_eq!(tokenizer.vocab_size(), 49_152);
    assert_eq!(tokenizer.bos_id(), tokenizer.token_to_id("<|im_start|>"));
    assert_eq!(tokenizer.eos_id(), tokenizer.token_to_id("<|im_end|>"));
    let im_start = tokenizer.token_to_id("<|im_start|>").unwrap();
    assert!(tokenizer.is_special(im_start));
    assert_eq!(tokenizer.encode("<|im_start|>")[..], [im_start]);
}

#[test]
fn gguf_vocab_problems_are_errors() {
    let Some((vocab, _)) = smollm2_vocab() else {
        return;
    };
    let source = PathBuf::from("model.gguf");
    let unknown_pre = GgufVocab {
        pre: "mystery".into(),
        ..vocab.clone()
    };
    let error = Tokenizer::from_gguf_vocab(unknown_pre, &source)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("model.gguf") && error.contains("mystery"),
        "{error}"
    );
    let spm = GgufVocab {
        model: "llama".into(),
        ..vocab.clone()
    };
    let error = Tokenizer::from_gguf_vocab(spm, &source)
        .unwrap_err()
        .to_string();
    assert!(error.contains("tokenizer.ggml.model"), "{error}");
    let short_types = GgufVocab {
        token_types: vec![1; 3],
        ..vocab.clone()
    };
    let error = Tokenizer::from_gguf_vocab(short_types, &source)
        .unwrap_err()
        .to_string();
    assert!(error.contains("token_type"), "{error}");
    let bad_merge = GgufVocab {
        merges: vec!["Ġ zzzzqq".into()],
        ..vocab
    };
    let error = Tokenizer::from_gguf_vocab(bad_merge, &source)
        .unwrap_err()
        .to_string();
    assert!(error.contains("zzzzqq"), "{error}");
}
