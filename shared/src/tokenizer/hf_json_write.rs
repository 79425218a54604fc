//! Writing a [`Tokenizer`] as a Hugging Face `tokenizer.json` and `tokenizer_config.json`,
//! in the forms [`Tokenizer::from_tokenizer_json`] reads and the `tokenizers` library loads.

use serde_json::{json, Map, Value};

use super::codec::{Normalizer, TokenKind, Tokenizer};
use super::pretokenize::{PreTokenizer, LLAMA3_PATTERN, QWEN2_PATTERN};

impl Tokenizer {
    /// This tokenizer as a `tokenizer.json`: a byte-level `BPE` model whose `vocab` holds
    /// every token (added ones too, so the `tokenizers` library keeps their ids), the merges
    /// in rank order, `added_tokens` with their `special` flag, the normalizer, the
    /// pre-tokenizer in the shape Hugging Face gives it for our split rule, and a
    /// `ByteLevel` decoder. No post-processor: like [`encode`](Tokenizer::encode), it adds
    /// no special tokens. BOS and EOS go in [`to_tokenizer_config_json`](Self::to_tokenizer_config_json).
    pub fn to_tokenizer_json(&self) -> Value {
        json!({
            "version": "1.0",
            "truncation": null,
            "padding": null,
            "added_tokens": self.added_tokens_json(),
            "normalizer": normalizer_json(self.normalizer()),
            "pre_tokenizer": pre_tokenizer_json(self.pre_tokenizer()),
            "post_processor": null,
            "decoder": byte_level(true),
            "model": self.bpe_model_json(),
        })
    }

    /// The `tokenizer_config.json` beside it: `bos_token` and `eos_token` (the token texts)
    /// where this tokenizer has them, so [`Tokenizer::from_tokenizer_json`] picks them up.
    pub fn to_tokenizer_config_json(&self) -> Value {
        let mut config = Map::new();
        config.insert("tokenizer_class".into(), json!("PreTrainedTokenizerFast"));
        config.insert("add_bos_token".into(), json!(false));
        config.insert("clean_up_tokenization_spaces".into(), json!(false));
        for (name, id) in [("bos_token", self.bos_id()), ("eos_token", self.eos_id())] {
            if let Some(text) = id.and_then(|id| self.id_to_token(id)) {
                config.insert(name.into(), json!(text));
            }
        }
        Value::Object(config)
    }

    /// `added_tokens`: `{id, content, special, …}` for every added token, by id.
    fn added_tokens_json(&self) -> Vec<Value> {
        self.entries()
            .filter_map(|entry| match entry.kind {
                TokenKind::Added { special } => Some(json!({
                    "id": entry.id,
                    "content": entry.text,
                    "single_word": false,
                    "lstrip": false,
                    "rstrip": false,
                    "normalized": false,
                    "special": special,
                })),
                TokenKind::Normal => None,
            })
            .collect()
    }

    /// `model`: plain byte-level BPE.
    fn bpe_model_json(&self) -> Value {
        let vocab: Map<String, Value> = self
            .entries()
            .map(|entry| (entry.text, json!(entry.id)))
            .collect();
        let unk = self.unk_id().and_then(|id| self.id_to_token(id));
        json!({
            "type": "BPE",
            "dropout": null,
            "unk_token": unk,
            "continuing_subword_prefix": null,
            "end_of_word_suffix": null,
            "fuse_unk": false,
            "byte_fallback": false,
            "ignore_merges": self.ignore_merges(),
            "vocab": vocab,
            "merges": merges_json(&self.merges()),
        })
    }
}

/// Merges as `"left right"` lines, the form every `tokenizers` version reads; as
/// `["left", "right"]` pairs (all of them: the library wants one form) when a token
/// holds a space and a line would be ambiguous.
fn merges_json(merges: &[(&str, &str)]) -> Value {
    if merges
        .iter()
        .any(|(left, right)| left.contains(' ') || right.contains(' '))
    {
        json!(merges)
    } else {
        let lines: Vec<String> = merges
            .iter()
            .map(|(left, right)| format!("{left} {right}"))
            .collect();
        json!(lines)
    }
}

/// `normalizer`: null or NFC.
fn normalizer_json(normalizer: Normalizer) -> Value {
    match normalizer {
        Normalizer::None => Value::Null,
        Normalizer::Nfc => json!({"type": "NFC"}),
    }
}

/// `pre_tokenizer`, as Hugging Face writes each rule: GPT-2 is `ByteLevel` with its regex,
/// SmolLM2 puts `Digits` before it, Qwen2 and Llama 3 `Split` on their regex first.
fn pre_tokenizer_json(rule: PreTokenizer) -> Value {
    let split = |pattern: &str| {
        json!({
            "type": "Split",
            "pattern": {"Regex": pattern},
            "behavior": "Isolated",
            "invert": false,
        })
    };
    let sequence =
        |first: Value| json!({"type": "Sequence", "pretokenizers": [first, byte_level(false)]});
    match rule {
        PreTokenizer::Gpt2 => byte_level(true),
        PreTokenizer::SmolLm => json!({
            "type": "Sequence",
            "pretokenizers": [{"type": "Digits", "individual_digits": true}, byte_level(true)],
        }),
        PreTokenizer::Qwen2 => sequence(split(QWEN2_PATTERN)),
        PreTokenizer::Llama3 => sequence(split(LLAMA3_PATTERN)),
    }
}

/// A `ByteLevel` component without a prefix space, applying GPT-2's regex or not.
fn byte_level(use_regex: bool) -> Value {
    json!({
        "type": "ByteLevel",
        "add_prefix_space": false,
        "trim_offsets": true,
        "use_regex": use_regex,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_are_lines_unless_a_token_holds_a_space() {
        assert_eq!(
            merges_json(&[("Ġ", "t"), ("a", "b")]),
            json!(["Ġ t", "a b"])
        );
        assert_eq!(
            merges_json(&[("Ġ", "t"), ("a", " b")]),
            json!([["Ġ", "t"], ["a", " b"]])
        );
    }
}
