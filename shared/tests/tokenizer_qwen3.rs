//! Qwen3's real tokenizer (`fixtures/tokenizers/qwen3/tokenizer.json`) against the ids and
//! decoded text of Hugging Face `tokenizers` (`fixtures/tokenizers/qwen3-cases.json`).

use std::sync::OnceLock;

use serde::Deserialize;
use shared::fixtures::fixture;
use shared::tokenizer::{Normalizer, PreTokenizer, StreamDecoder, Tokenizer};

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

/// The tokenizer and the cases, loaded once for all tests (loading takes most of a second).
fn load() -> Option<&'static (Tokenizer, Vec<Case>)> {
    static LOADED: OnceLock<Option<(Tokenizer, Vec<Case>)>> = OnceLock::new();
    LOADED
        .get_or_init(|| {
            let tokenizer_path = fixture("tokenizers/qwen3/tokenizer.json")?;
            let cases_path = fixture("tokenizers/qwen3-cases.json")?;
            let tokenizer =
                Tokenizer::from_tokenizer_json(&tokenizer_path).expect("load tokenizer.json");
            let cases: Cases =
                serde_json::from_str(&std::fs::read_to_string(cases_path).unwrap()).unwrap();
            assert!(!cases.cases.is_empty(), "qwen3-cases.json holds no cases");
            Some((tokenizer, cases.cases))
        })
        .as_ref()
}

#[test]
fn qwen3_matches_hugging_face_on_every_case() {
    let Some((tokenizer, cases)) = load() else {
        return;
    };
    assert!(cases.len() >= 40);
    for case in cases {
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
fn qwen3_streaming_gives_the_same_text() {
    let Some((tokenizer, cases)) = load() else {
        return;
    };
    for case in cases {
        let mut stream = StreamDecoder::new(tokenizer);
        let mut text = String::new();
        for &id in &case.ids {
            let piece = stream.push(id);
            assert!(
                !piece.contains(char::REPLACEMENT_CHARACTER),
                "{:?}",
                case.text
            );
            text.push_str(&piece);
        }
        text.push_str(&stream.finish());
        assert_eq!(text, case.decoded);
    }
}

#[test]
fn qwen3_configuration_is_read() {
    let Some((tokenizer, _)) = load() else {
        return;
    };
    assert_eq!(tokenizer.pre_tokenizer(), PreTokenizer::Qwen2);
    assert_eq!(tokenizer.normalizer(), Normalizer::Nfc);
    assert_eq!(tokenizer.vocab_size(), 151_669);
    let im_end = tokenizer.token_to_id("<|im_end|>").unwrap();
    assert_eq!(
        tokenizer.eos_id(),
        Some(im_end),
        "eos from tokenizer_config.json"
    );
    assert_eq!(tokenizer.bos_id(), None);
    assert!(tokenizer.is_special(im_end));
    let think = tokenizer.token_to_id("<think>").unwrap();
    assert!(!tokenizer.is_special(think));
    assert_eq!(tokenizer.id_to_token(think), Some("<think>"));
    assert_eq!(
        tokenizer.id_to_token(tokenizer.token_to_id("Ġthe").unwrap()),
        Some("Ġthe")
    );
}

#[test]
fn qwen3_ids_past_the_tokenizer_decode_as_nothing() {
    let Some((tokenizer, _)) = load() else {
        return;
    };
    // Qwen3's embedding has 151,936 rows, its tokenizer 151,669 ids: a model may sample one
    // of the padding rows, which HF tokenizers decodes as nothing.
    assert_eq!(
        tokenizer.decode(&[9707, 151_900, 11]),
        tokenizer.decode(&[9707, 11])
    );
    assert!(tokenizer.token_bytes(u32::MAX).is_empty());
}

#[test]
fn qwen3_handles_long_words_and_nfc() {
    let Some((tokenizer, _)) = load() else {
        return;
    };
    let long = "a".repeat(20_000);
    let ids = tokenizer.encode(&long);
    assert_eq!(tokenizer.decode(&ids), long);
    assert_eq!(
        tokenizer.encode("e\u{301}"),
        tokenizer.encode("\u{e9}"),
        "NFC first"
    );
}
