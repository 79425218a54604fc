//! Saving trained parameters as a Hugging Face model folder, which every chapter loads
//! back with `--model DIR` ([`crate::loader::load_model`]) and `transformers` reads too:
//!
//! ```text
//! DIR/config.json            ModelConfig::to_hf_json
//! DIR/model.safetensors      every array of Tensors::named, f32, under its Hugging Face name
//! DIR/tokenizer.json         Tokenizer::to_tokenizer_json          (with a tokenizer)
//! DIR/tokenizer_config.json  Tokenizer::to_tokenizer_config_json   (with a tokenizer),
//!                            plus `chat_template` (with a Jinja template, e.g. a GGUF's own)
//! ```

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Value};

use super::params::{Params, Tensors};
use crate::io::{write_atomically, write_safetensors_f32};
use crate::tokenizer::{ChatTemplate, Tokenizer};
use crate::{Error, Result};

/// Writes `params` (and `tokenizer`, when given, with `chat_template`'s Jinja source in
/// its `tokenizer_config.json`, so `--chat` renders as before) as a Hugging Face folder `dir`, creating
/// it if needed. Each file is written atomically, so an interrupted save leaves every file
/// either old or new, never partial (`config.json` comes last, so a first save that is
/// interrupted leaves no loadable folder); other files already in `dir` are left as they are.
///
/// Whether the output layer is tied follows the tensors: `tie_word_embeddings` is written
/// as "no `lm_head`" (an untied config without `lm_head` becomes a tied one, the model
/// the loader builds either way). An `lm_head` beside a tied config is an
/// [`Error::InvalidArgument`].
pub fn save_model_dir(
    dir: &Path,
    params: &Params,
    tokenizer: Option<&Tokenizer>,
    chat_template: Option<&ChatTemplate>,
) -> Result<()> {
    params.check_output_layer()?;
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    write_weights(&dir.join("model.safetensors"), &params.tensors)?;
    if let Some(tokenizer) = tokenizer {
        write_json(&dir.join("tokenizer.json"), &tokenizer.to_tokenizer_json())?;
        let mut config = tokenizer.to_tokenizer_config_json();
        if let Some(source) = chat_template.and_then(ChatTemplate::jinja_source) {
            config["chat_template"] = json!(source);
        }
        write_json(&dir.join("tokenizer_config.json"), &config)?;
    }
    let mut config = params.config.to_hf_json();
    config["tie_word_embeddings"] = json!(params.tensors.lm_head.is_none());
    write_json(&dir.join("config.json"), &config)
}

/// Every array as F32 (copied only if not contiguous), in `named_parameters()` order,
/// with `format: pt` metadata (what `transformers` expects of a PyTorch checkpoint).
fn write_weights(path: &Path, tensors: &Tensors) -> Result<()> {
    let arrays: Vec<(String, Vec<usize>, Cow<'_, [f32]>)> = tensors
        .named()
        .into_iter()
        .map(|(name, array)| {
            let shape = array.shape().to_vec();
            let values = match array.to_slice() {
                Some(values) => Cow::Borrowed(values),
                None => Cow::Owned(array.iter().copied().collect()),
            };
            (name, shape, values)
        })
        .collect();
    let list: Vec<(&str, &[usize], &[f32])> = arrays
        .iter()
        .map(|(name, shape, values)| (name.as_str(), shape.as_slice(), values.as_ref()))
        .collect();
    let metadata = BTreeMap::from([("format".to_string(), "pt".to_string())]);
    write_safetensors_f32(path, &list, &metadata)
}

/// `value` as pretty-printed JSON, atomically.
fn write_json(path: &Path, value: &Value) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value)
        .map_err(|e| Error::InvalidArgument(format!("{}: {e}", path.display())))?;
    text.push('\n');
    write_atomically(path, text.as_bytes())
}
