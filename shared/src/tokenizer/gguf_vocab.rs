//! A tokenizer from GGUF metadata (llama.cpp's `tokenizer.ggml.*` keys; see the GGUF spec,
//! "Tokenizer" section).

use std::path::Path;

use super::codec::{Entry, Normalizer, Spec, TokenKind, Tokenizer};
use super::pretokenize::PreTokenizer;
use crate::io::GgufFile;
use crate::{Error, Result};

/// GGUF token type 3: a control token such as `<|im_start|>`.
const TOKEN_TYPE_CONTROL: i32 = 3;
/// GGUF token type 4: a user-defined token, matched in text like a control token.
const TOKEN_TYPE_USER_DEFINED: i32 = 4;

/// The tokenizer keys of a GGUF file's metadata, as the GGUF reader returns them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GgufVocab {
    /// `tokenizer.ggml.model`: `"gpt2"` for byte-level BPE (the only kind we implement).
    pub model: String,
    /// `tokenizer.ggml.pre`: the split rule: `"gpt2"`, `"smollm"`, `"qwen2"`, `"llama-bpe"`.
    pub pre: String,
    /// `tokenizer.ggml.tokens`: token texts, indexed by id.
    pub tokens: Vec<String>,
    /// `tokenizer.ggml.merges`: `"a b"` rules, best first.
    pub merges: Vec<String>,
    /// `tokenizer.ggml.token_type`: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte.
    pub token_types: Vec<i32>,
    /// `tokenizer.ggml.bos_token_id`.
    pub bos_id: Option<u32>,
    /// `tokenizer.ggml.eos_token_id`.
    pub eos_id: Option<u32>,
    /// `tokenizer.ggml.unknown_token_id`: stands for bytes the vocabulary lacks.
    pub unk_id: Option<u32>,
}

impl GgufVocab {
    /// Reads the `tokenizer.ggml.*` keys of a GGUF file.
    pub fn from_gguf(file: &GgufFile) -> Result<GgufVocab> {
        let optional_id = |key: &str| -> Result<Option<u32>> {
            file.get(key).map(|_| file.get_u32(key)).transpose()
        };
        let strings = |key: &str| -> Result<Vec<String>> {
            Ok(file
                .get_str_array(key)?
                .into_iter()
                .map(str::to_owned)
                .collect())
        };
        Ok(GgufVocab {
            model: file.get_str("tokenizer.ggml.model")?.to_owned(),
            pre: match file.get("tokenizer.ggml.pre") {
                Some(_) => file.get_str("tokenizer.ggml.pre")?.to_owned(),
                None => "gpt2".to_owned(),
            },
            tokens: strings("tokenizer.ggml.tokens")?,
            merges: strings("tokenizer.ggml.merges")?,
            token_types: file.get_i32_array("tokenizer.ggml.token_type")?,
            bos_id: optional_id("tokenizer.ggml.bos_token_id")?,
            eos_id: optional_id("tokenizer.ggml.eos_token_id")?,
            unk_id: optional_id("tokenizer.ggml.unknown_token_id")?,
        })
    }
}

impl Tokenizer {
    /// Builds the tokenizer stored in a GGUF file's metadata.
    pub fn from_gguf(file: &GgufFile) -> Result<Tokenizer> {
        Tokenizer::from_gguf_vocab(GgufVocab::from_gguf(file)?, file.path())
    }

    /// Builds a tokenizer from GGUF metadata; `source` (the .gguf file) is named in errors.
    ///
    /// Control and user-defined tokens become added tokens, recognized in the text.
    /// `pre` picks the split rule; `qwen2` also normalizes to NFC, as Qwen's
    /// `tokenizer.json` does. An unknown `model` or `pre` is [`Error::Unsupported`].
    pub fn from_gguf_vocab(vocab: GgufVocab, source: &Path) -> Result<Tokenizer> {
        if vocab.model != "gpt2" {
            return Err(Error::Unsupported(format!(
                "{}: tokenizer.ggml.model {:?} (only \"gpt2\", byte-level BPE, is implemented)",
                source.display(),
                vocab.model
            )));
        }
        let (pre_tokenizer, normalizer) = split_rule(&vocab.pre).ok_or_else(|| {
            Error::Unsupported(format!(
                "{}: tokenizer.ggml.pre {:?} (known: gpt2, smollm, qwen2, llama-bpe)",
                source.display(),
                vocab.pre
            ))
        })?;
        if vocab.token_types.len() != vocab.tokens.len() {
            return Err(Error::format(
                source,
                format!(
                    "tokenizer.ggml.token_type has {} entries for {} tokens",
                    vocab.token_types.len(),
                    vocab.tokens.len()
                ),
            ));
        }
        let merges = vocab
            .merges
            .iter()
            .enumerate()
            .map(|(i, line)| {
                line.split_once(' ')
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .ok_or_else(|| {
                        Error::format(
                            source,
                            format!("tokenizer.ggml.merges[{i}] {line:?} has no space"),
                        )
                    })
            })
            .collect::<Result<Vec<_>>>()?;
        let entries = vocab
            .tokens
            .into_iter()
            .zip(vocab.token_types)
            .enumerate()
            .map(|(id, (text, token_type))| Entry {
                text,
                id: id as u32,
                kind: match token_type {
                    TOKEN_TYPE_CONTROL => TokenKind::Added { special: true },
                    TOKEN_TYPE_USER_DEFINED => TokenKind::Added { special: false },
                    _ => TokenKind::Normal,
                },
            })
            .collect();
        Tokenizer::from_spec(Spec {
            source: source.to_path_buf(),
            entries,
            merges,
            normalizer,
            pre_tokenizer,
            ignore_merges: vocab.pre == "llama-bpe",
            bos_id: vocab.bos_id,
            eos_id: vocab.eos_id,
            unk_id: vocab.unk_id,
        })
    }
}

/// llama.cpp's `tokenizer.ggml.pre` name → our split rule and normalizer.
fn split_rule(pre: &str) -> Option<(PreTokenizer, Normalizer)> {
    match pre {
        "gpt2" => Some((PreTokenizer::Gpt2, Normalizer::None)),
        "smollm" => Some((PreTokenizer::SmolLm, Normalizer::None)),
        "qwen2" => Some((PreTokenizer::Qwen2, Normalizer::Nfc)),
        "llama-bpe" | "llama3" => Some((PreTokenizer::Llama3, Normalizer::None)),
        _ => None,
    }
}
