//! Reading a Hugging Face `tokenizer.json` (the `tokenizers` library's serialization) with
//! a byte-level BPE model, and the `tokenizer_config.json` beside it for BOS/EOS.

use std::path::Path;

use serde_json::{Map, Value};

use super::codec::{Entry, Normalizer, Spec, TokenKind, Tokenizer};
use super::pretokenize::PreTokenizer;
use crate::{Error, Result};

impl Tokenizer {
    /// Loads a Hugging Face `tokenizer.json` with a `BPE` model, a byte-level
    /// pre-tokenizer we recognize and a `ByteLevel` decoder. BOS and EOS come from a
    /// `tokenizer_config.json` in the same folder, when there is one. Added tokens are
    /// matched verbatim: their `lstrip`/`rstrip`/`single_word`/`normalized` options are not
    /// applied (all false in Qwen's and SmolLM2's files), and the post-processor is ignored
    /// ([`encode`](Tokenizer::encode) adds no special tokens).
    ///
    /// A missing or malformed field is an [`Error::Format`] naming the file and the field;
    /// a model, normalizer or pre-tokenizer we do not implement is an
    /// [`Error::Unsupported`] naming them too.
    pub fn from_tokenizer_json(path: &Path) -> Result<Tokenizer> {
        let root = read_json(path)?;
        let file = JsonFile { path };
        let mut spec = file.spec(&root)?;
        let config = path.with_file_name("tokenizer_config.json");
        if config.is_file() {
            let config_root = read_json(&config)?;
            let config_file = JsonFile { path: &config };
            spec.bos_id = config_file.special_id(&config_root, "bos_token", &spec.entries)?;
            spec.eos_id = config_file.special_id(&config_root, "eos_token", &spec.entries)?;
        }
        Tokenizer::from_spec(spec)
    }
}

/// Reads and parses a JSON file.
fn read_json(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| Error::format(path, format!("not valid JSON: {e}")))
}

/// A JSON file being read, so every error names it and the field.
struct JsonFile<'a> {
    path: &'a Path,
}

impl JsonFile<'_> {
    /// Everything `tokenizer.json` says about the tokenizer.
    fn spec(&self, root: &Value) -> Result<Spec> {
        let model = self.required(root, "model", "")?;
        self.as_object(model, "model")?;
        let model_type = self.string(model, "type", "model")?;
        if model_type != "BPE" {
            return Err(self.unsupported(format!(
                "model.type {model_type:?} (only byte-level \"BPE\" is implemented)"
            )));
        }
        self.check_plain_bpe(model)?;
        let mut entries = self.vocab(model)?;
        entries.extend(self.added_tokens(root)?);
        let unk_id = self.unk_id(model, &entries)?;
        self.check_decoder(root)?;
        Ok(Spec {
            source: self.path.to_path_buf(),
            entries,
            merges: self.merges(model)?,
            normalizer: self
                .normalizer(root.get("normalizer").unwrap_or(&Value::Null), "normalizer")?,
            pre_tokenizer: self.pre_tokenizer(root)?,
            ignore_merges: self
                .optional_bool(model, "ignore_merges", "model")?
                .unwrap_or(false),
            bos_id: None,
            eos_id: None,
            unk_id,
        })
    }

    /// Rejects BPE options that change the algorithm (dropout, byte fallback, word affixes).
    fn check_plain_bpe(&self, model: &Value) -> Result<()> {
        let unset = |name: &str| match model.get(name) {
            None | Some(Value::Null) | Some(Value::Bool(false)) => true,
            Some(Value::String(s)) => s.is_empty(),
            Some(_) => false,
        };
        for name in [
            "dropout",
            "byte_fallback",
            "continuing_subword_prefix",
            "end_of_word_suffix",
        ] {
            if !unset(name) {
                return Err(self.unsupported(format!("model.{name} = {}", model[name])));
            }
        }
        Ok(())
    }

    /// `model.vocab`: token text → id.
    fn vocab(&self, model: &Value) -> Result<Vec<Entry>> {
        let vocab = self.object(model, "vocab", "model")?;
        vocab
            .iter()
            .map(|(text, id)| {
                Ok(Entry {
                    text: text.clone(),
                    id: self.id(id, &format!("model.vocab[{text:?}]"))?,
                    kind: TokenKind::Normal,
                })
            })
            .collect()
    }

    /// `model.unk_token` (a token text, or null) as an id.
    fn unk_id(&self, model: &Value, entries: &[Entry]) -> Result<Option<u32>> {
        match model.get("unk_token") {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => entries
                .iter()
                .find(|e| &e.text == text)
                .map(|e| Some(e.id))
                .ok_or_else(|| {
                    self.bad(
                        "model.unk_token",
                        &format!("{text:?} is not in the vocabulary"),
                    )
                }),
            Some(_) => Err(self.bad("model.unk_token", "is not a string")),
        }
    }

    /// `model.merges`: `"a b"` strings (older files) or `["a", "b"]` pairs (newer ones).
    fn merges(&self, model: &Value) -> Result<Vec<(String, String)>> {
        let merges = self.array(model, "merges", "model")?;
        merges
            .iter()
            .enumerate()
            .map(|(i, merge)| {
                let field = format!("model.merges[{i}]");
                match merge {
                    Value::String(line) => split_merge(line).ok_or_else(|| {
                        self.bad(
                            &field,
                            &format!("{line:?} is not two tokens separated by one space"),
                        )
                    }),
                    Value::Array(pair) => match pair.as_slice() {
                        [Value::String(a), Value::String(b)] => Ok((a.clone(), b.clone())),
                        _ => Err(self.bad(&field, "is not a pair of strings")),
                    },
                    _ => Err(self.bad(&field, "is neither a string nor a pair")),
                }
            })
            .collect()
    }

    /// `added_tokens`: `{id, content, special}` objects (absent means none).
    fn added_tokens(&self, root: &Value) -> Result<Vec<Entry>> {
        let Some(list) = root.get("added_tokens") else {
            return Ok(Vec::new());
        };
        let list = list
            .as_array()
            .ok_or_else(|| self.bad("added_tokens", "is not an array"))?;
        list.iter()
            .enumerate()
            .map(|(i, token)| {
                let field = format!("added_tokens[{i}]");
                Ok(Entry {
                    text: self.string(token, "content", &field)?.to_string(),
                    id: self.id(self.required(token, "id", &field)?, &join(&field, "id"))?,
                    kind: TokenKind::Added {
                        special: self
                            .optional_bool(token, "special", &field)?
                            .unwrap_or(false),
                    },
                })
            })
            .collect()
    }

    /// `normalizer`: null, `NFC`, or a `Sequence` of those.
    fn normalizer(&self, value: &Value, field: &str) -> Result<Normalizer> {
        if value.is_null() {
            return Ok(Normalizer::None);
        }
        match self.string(value, "type", field)? {
            "NFC" => Ok(Normalizer::Nfc),
            "Sequence" => {
                let list = self.array(value, "normalizers", field)?;
                let mut result = Normalizer::None;
                for (i, item) in list.iter().enumerate() {
                    if self.normalizer(item, &format!("{field}.normalizers[{i}]"))?
                        == Normalizer::Nfc
                    {
                        result = Normalizer::Nfc;
                    }
                }
                Ok(result)
            }
            other => {
                Err(self.unsupported(format!("{field}.type {other:?} (only NFC is implemented)")))
            }
        }
    }

    /// `pre_tokenizer`: one of the shapes our split rules cover.
    fn pre_tokenizer(&self, root: &Value) -> Result<PreTokenizer> {
        let pre = root
            .get("pre_tokenizer")
            .filter(|v| !v.is_null())
            .ok_or_else(|| self.missing("pre_tokenizer"))?;
        let parts: Vec<(&Value, String)> = match self.string(pre, "type", "pre_tokenizer")? {
            "Sequence" => self
                .array(pre, "pretokenizers", "pre_tokenizer")?
                .iter()
                .enumerate()
                .map(|(i, p)| (p, format!("pre_tokenizer.pretokenizers[{i}]")))
                .collect(),
            _ => vec![(pre, "pre_tokenizer".to_string())],
        };
        let unsupported = || {
            self.unsupported(format!("pre_tokenizer {pre} (we implement GPT-2's ByteLevel regex, Digits + ByteLevel as in SmolLM2, and Split with the Qwen2 or Llama 3 regex + ByteLevel)"))
        };
        match parts.as_slice() {
            [(byte_level, field)] => {
                self.byte_level(byte_level, field, true)?;
                Ok(PreTokenizer::Gpt2)
            }
            [(first, first_field), (byte_level, field)] => {
                match self.string(first, "type", first_field)? {
                    "Digits"
                        if self.optional_bool(first, "individual_digits", first_field)?
                            == Some(true) =>
                    {
                        self.byte_level(byte_level, field, true)?;
                        Ok(PreTokenizer::SmolLm)
                    }
                    "Split" => {
                        let rule = self.split_rule(first, first_field)?;
                        self.byte_level(byte_level, field, false)?;
                        Ok(rule)
                    }
                    _ => Err(unsupported()),
                }
            }
            _ => Err(unsupported()),
        }
    }

    /// A `Split` pre-tokenizer: an `Isolated` regex we recognize.
    fn split_rule(&self, split: &Value, field: &str) -> Result<PreTokenizer> {
        let pattern = self.required(split, "pattern", field)?;
        let regex = self.string(pattern, "Regex", &join(field, "pattern"))?;
        let rule = PreTokenizer::from_pattern(regex).ok_or_else(|| {
            self.unsupported(format!(
                "{field}.pattern.Regex {regex:?} is not one of our split rules"
            ))
        })?;
        let behavior = self.string(split, "behavior", field)?;
        let invert = self.optional_bool(split, "invert", field)?.unwrap_or(false);
        if behavior != "Isolated" || invert {
            return Err(
                self.unsupported(format!("{field}: behavior {behavior:?}, invert {invert}"))
            );
        }
        Ok(rule)
    }

    /// A `ByteLevel` pre-tokenizer without a prefix space, using its regex or not as expected.
    fn byte_level(&self, value: &Value, field: &str, use_regex: bool) -> Result<()> {
        let kind = self.string(value, "type", field)?;
        let regex = self
            .optional_bool(value, "use_regex", field)?
            .unwrap_or(true);
        let prefix = self
            .optional_bool(value, "add_prefix_space", field)?
            .unwrap_or(true);
        if kind != "ByteLevel" || regex != use_regex || prefix {
            return Err(self.unsupported(format!(
                "{field}: expected ByteLevel with use_regex {use_regex} and add_prefix_space false, found {value}"
            )));
        }
        Ok(())
    }

    /// `decoder` must be `ByteLevel`.
    fn check_decoder(&self, root: &Value) -> Result<()> {
        let decoder = root
            .get("decoder")
            .filter(|v| !v.is_null())
            .ok_or_else(|| self.missing("decoder"))?;
        match self.string(decoder, "type", "decoder")? {
            "ByteLevel" => Ok(()),
            other => Err(self.unsupported(format!("decoder.type {other:?} (only ByteLevel)"))),
        }
    }

    /// `tokenizer_config.json`'s `bos_token`/`eos_token` (a string or `{content}`), as an id.
    fn special_id(&self, root: &Value, name: &str, entries: &[Entry]) -> Result<Option<u32>> {
        let content = match root.get(name) {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::String(s)) => s.as_str(),
            Some(value) => self.string(value, "content", name)?,
        };
        let entry = entries.iter().rev().find(|e| e.text == content);
        entry.map(|e| Some(e.id)).ok_or_else(|| {
            self.bad(
                name,
                &format!("{content:?} is not a token of the tokenizer"),
            )
        })
    }

    /// `parent.name`, which must be there (`at` is the parent's field path, for errors).
    fn required<'v>(&self, parent: &'v Value, name: &str, at: &str) -> Result<&'v Value> {
        parent
            .get(name)
            .ok_or_else(|| self.missing(&join(at, name)))
    }

    /// `parent.name` as an object.
    fn object<'v>(
        &self,
        parent: &'v Value,
        name: &str,
        at: &str,
    ) -> Result<&'v Map<String, Value>> {
        self.as_object(self.required(parent, name, at)?, &join(at, name))
    }

    /// `value` as an object.
    fn as_object<'v>(&self, value: &'v Value, field: &str) -> Result<&'v Map<String, Value>> {
        value
            .as_object()
            .ok_or_else(|| self.bad(field, "is not an object"))
    }

    /// `parent.name` as an array.
    fn array<'v>(&self, parent: &'v Value, name: &str, at: &str) -> Result<&'v Vec<Value>> {
        self.required(parent, name, at)?
            .as_array()
            .ok_or_else(|| self.bad(&join(at, name), "is not an array"))
    }

    /// `parent.name` as a string.
    fn string<'v>(&self, parent: &'v Value, name: &str, at: &str) -> Result<&'v str> {
        self.required(parent, name, at)?
            .as_str()
            .ok_or_else(|| self.bad(&join(at, name), "is not a string"))
    }

    /// `parent.name` as a boolean, `None` when absent or null.
    fn optional_bool(&self, parent: &Value, name: &str, at: &str) -> Result<Option<bool>> {
        match parent.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(self.bad(&join(at, name), "is not a boolean")),
        }
    }

    /// A token id: an integer that fits `u32`.
    fn id(&self, value: &Value, field: &str) -> Result<u32> {
        value
            .as_u64()
            .and_then(|id| u32::try_from(id).ok())
            .ok_or_else(|| self.bad(field, &format!("{value} is not a token id")))
    }

    /// A missing field.
    fn missing(&self, field: &str) -> Error {
        Error::format(self.path, format!("missing field `{field}`"))
    }

    /// A field with the wrong shape.
    fn bad(&self, field: &str, problem: &str) -> Error {
        Error::format(self.path, format!("field `{field}` {problem}"))
    }

    /// Something well-formed that we do not implement.
    fn unsupported(&self, what: String) -> Error {
        Error::Unsupported(format!("{}: {what}", self.path.display()))
    }
}

/// `at.name`, or `name` at the top level.
fn join(at: &str, name: &str) -> String {
    if at.is_empty() {
        name.to_string()
    } else {
        format!("{at}.{name}")
    }
}

/// `"a b"` → `("a", "b")`: exactly one space, as Hugging Face requires.
fn split_merge(line: &str) -> Option<(String, String)> {
    let (left, right) = line.split_once(' ')?;
    (!right.contains(' ')).then(|| (left.to_string(), right.to_string()))
}
