//! Loading a model from disk: a GGUF file or a Hugging Face folder, with its
//! tokenizer and chat template when it has them.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::config::{Family, ModelConfig};
use crate::io::{GgufFile, SafetensorsModel};
use crate::model::Model;
use crate::models::{resolve_model, ModelFiles};
use crate::quantize::{QuantizeMode, QuantizeReport, QuantizingSource};
use crate::tokenizer::{ChatTemplate, HandWritten, Message, Tokenizer};
use crate::weights::{build_model, GgufWeights, WeightSource};
use crate::{Error, Result};

/// A model ready to run: weights, tokenizer (if the files have one) and chat template.
pub struct LoadedModel {
    /// The weights and the forward pass.
    pub model: Model,
    /// Text ↔ ids, when the files have a tokenizer.
    pub tokenizer: Option<Tokenizer>,
    /// How `--chat` wraps a prompt: the model's own template, else a hand-written one
    /// for its family; `None` when neither is known.
    pub chat_template: Option<ChatTemplate>,
    /// The file or folder it came from.
    pub location: PathBuf,
    /// Seconds spent reading and preparing the weights and tokenizer.
    pub load_s: f64,
    /// What `--quantize` converted while loading, when it was asked for.
    pub quantized: Option<QuantizeReport>,
}

/// How a text prompt reaches the model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PromptMode {
    /// Wrap it as a user message in the model's chat template (else: raw text).
    pub chat: bool,
    /// Qwen3's `enable_thinking` (`None`: the template's default, thinking on).
    pub thinking: Option<bool>,
}

/// How to load a model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// Quantize the f32/bf16 weight matrices to this format as they are read
    /// (`--quantize`; see [`crate::quantize`]).
    pub quantize: Option<QuantizeMode>,
}

/// Resolves `name_or_path` (a known model name, a `.gguf` file or a Hugging
/// Face folder; see [`crate::models`]) and loads it.
pub fn load_model(name_or_path: &str) -> Result<LoadedModel> {
    load_model_with(name_or_path, LoadOptions::default())
}

/// [`load_model`] with `options`.
pub fn load_model_with(name_or_path: &str, options: LoadOptions) -> Result<LoadedModel> {
    let files = resolve_model(name_or_path)?;
    load_model_files_with(&files, options)
}

/// Loads a model whose files are already on disk.
pub fn load_model_files(files: &ModelFiles) -> Result<LoadedModel> {
    load_model_files_with(files, LoadOptions::default())
}

/// [`load_model_files`] with `options`.
pub fn load_model_files_with(files: &ModelFiles, options: LoadOptions) -> Result<LoadedModel> {
    let start = Instant::now();
    let ((mut model, quantized), tokenizer, template_source, location) = match files {
        ModelFiles::Gguf(path) => {
            let file = GgufFile::open(path)?;
            let config = ModelConfig::from_gguf(&file)?;
            let model = build(&config, &GgufWeights::new(&file, &config), options)?;
            let tokenizer = Tokenizer::from_gguf(&file)?;
            let template = file
                .get("tokenizer.chat_template")
                .and_then(|v| v.as_str())
                .map(str::to_owned);
            (model, Some(tokenizer), template, path.clone())
        }
        ModelFiles::HfFolder(dir) => {
            let config = ModelConfig::from_hf_json(&dir.join("config.json"))?;
            let tensors = SafetensorsModel::open_folder(dir)?;
            let model = build(&config, &tensors, options)?;
            let tokenizer_path = dir.join("tokenizer.json");
            let tokenizer = tokenizer_path
                .exists()
                .then(|| Tokenizer::from_tokenizer_json(&tokenizer_path))
                .transpose()?;
            (model, tokenizer, hf_chat_template(dir), dir.clone())
        }
    };
    model.source = Some(location.clone());
    let chat_template = choose_chat_template(
        &location,
        &model.config,
        tokenizer.as_ref(),
        template_source.as_deref(),
    );
    Ok(LoadedModel {
        model,
        tokenizer,
        chat_template,
        location,
        load_s: start.elapsed().as_secs_f64(),
        quantized,
    })
}

/// Builds the model from `source`, through a [`QuantizingSource`] when `options` ask
/// for quantizing, so each matrix is converted as soon as it is read.
fn build(
    config: &ModelConfig,
    source: &dyn WeightSource,
    options: LoadOptions,
) -> Result<(Model, Option<QuantizeReport>)> {
    match options.quantize {
        None => Ok((build_model(config, source)?, None)),
        Some(mode) => {
            let quantizing = QuantizingSource::new(source, mode);
            let model = build_model(config, &quantizing)?;
            Ok((model, Some(quantizing.into_report())))
        }
    }
}

/// Loads the model of a Hugging Face folder (`config.json` + `*.safetensors`).
pub fn load_hf_model(dir: &Path) -> Result<Model> {
    let config = ModelConfig::from_hf_json(&dir.join("config.json"))?;
    let tensors = SafetensorsModel::open_folder(dir)?;
    build_model(&config, &tensors)
}

/// Loads the model of a GGUF file.
pub fn load_gguf_model(file: &GgufFile) -> Result<Model> {
    let config = ModelConfig::from_gguf(file)?;
    build_model(&config, &GgufWeights::new(file, &config))
}

/// The Jinja chat template in a folder's `tokenizer_config.json`, if any.
fn hf_chat_template(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("tokenizer_config.json")).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    json["chat_template"].as_str().map(str::to_owned)
}

/// The model's own chat template (compiled now; one that does not compile reports its
/// error when used); without one, a hand-written template guessed from the family and
/// vocabulary (Qwen3, or ChatML tokens in a Llama vocabulary = SmolLM2).
fn choose_chat_template(
    location: &Path,
    config: &ModelConfig,
    tokenizer: Option<&Tokenizer>,
    source: Option<&str>,
) -> Option<ChatTemplate> {
    if let Some(source) = source {
        let name = location.display().to_string();
        let bos = tokenizer.and_then(|t| t.id_to_token(t.bos_id()?));
        let eos = tokenizer.and_then(|t| t.id_to_token(t.eos_id()?));
        return Some(
            ChatTemplate::from_jinja_or_unusable(name, source).with_special_tokens(bos, eos),
        );
    }
    let has_chatml = tokenizer.is_some_and(|t| t.token_to_id("<|im_start|>").is_some());
    let template = match config.family {
        Family::Qwen3 if has_chatml => HandWritten::Qwen3,
        Family::Llama if has_chatml => HandWritten::SmolLm2,
        _ => return None,
    };
    Some(ChatTemplate::hand_written(template))
}

impl LoadedModel {
    /// The tokenizer, or an error saying the model has none (use token ids instead).
    pub fn tokenizer(&self) -> Result<&Tokenizer> {
        self.tokenizer.as_ref().ok_or_else(|| {
            Error::InvalidArgument(format!(
                "{} has no tokenizer (no tokenizer.json): pass token ids with --ids instead",
                self.location.display()
            ))
        })
    }

    /// Token ids of a prompt; with `chat`, wrapped as one user message in the
    /// model's chat template with the generation prompt (book ch. 2).
    pub fn encode_prompt(&self, prompt: &str, chat: bool) -> Result<Vec<u32>> {
        self.encode_prompt_as(
            prompt,
            PromptMode {
                chat,
                thinking: None,
            },
        )
    }

    /// Token ids of a prompt as `mode` says: raw, or one user message in the
    /// model's chat template with the generation prompt and, for Qwen3, thinking on
    /// or off.
    pub fn encode_prompt_as(&self, prompt: &str, mode: PromptMode) -> Result<Vec<u32>> {
        if prompt.is_empty() {
            return Err(Error::InvalidArgument(
                "--prompt is empty: give some text to continue".into(),
            ));
        }
        let text = if mode.chat {
            let template = self.chat_template.as_ref().ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "--chat: no chat template is known for {}",
                    self.location.display()
                ))
            })?;
            template.render(&[Message::user(prompt)], true, mode.thinking)?
        } else {
            prompt.to_owned()
        };
        Ok(self.tokenizer()?.encode(&text))
    }

    /// Whether this is a base (pretrained, not instruction-tuned) model, which the
    /// book prompts with raw text: its file or folder names say `base` as a word
    /// (`Qwen3-0.6B-Base`, `models--Qwen--Qwen3-0.6B-Base/…`).
    pub fn is_base_model(&self) -> bool {
        names_a_base_model(&self.location)
    }

    /// How a prompt is given to this model when no flag says: chat and reasoning
    /// models get their chat template, base models (and models without a template)
    /// the raw text.
    pub fn default_prompt_mode(&self) -> PromptMode {
        PromptMode {
            chat: self.chat_template.is_some() && !self.is_base_model(),
            thinking: None,
        }
    }

    /// The ids that end an answer: the config's and tokenizer's EOS, plus
    /// `<|im_end|>` and `<|endoftext|>` where the vocabulary has them.
    pub fn stop_ids(&self) -> Vec<u32> {
        let mut ids = self.model.config.eos_token_ids.clone();
        if let Some(tok) = &self.tokenizer {
            ids.extend(tok.eos_id());
            ids.extend(
                ["<|im_end|>", "<|endoftext|>"]
                    .iter()
                    .filter_map(|t| tok.token_to_id(t)),
            );
        }
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

/// Whether a model's path names a base model: a component with `base` as a word.
fn names_a_base_model(path: &Path) -> bool {
    path.components().any(|c| {
        let name = c.as_os_str().to_string_lossy().to_lowercase();
        name.split(|ch: char| !ch.is_ascii_alphanumeric())
            .any(|word| word == "base")
    })
}

/// Loads only a tokenizer: from a `tokenizer.json`, a folder holding one, or
/// a `.gguf` file (its metadata), without reading any weights.
pub fn load_tokenizer(path: &Path) -> Result<Tokenizer> {
    if path.is_dir() {
        let file = path.join("tokenizer.json");
        if !file.exists() {
            return Err(Error::ModelSource(format!(
                "{}: no tokenizer.json in this folder",
                path.display()
            )));
        }
        return Tokenizer::from_tokenizer_json(&file);
    }
    if path.extension().is_some_and(|e| e == "gguf") {
        return Tokenizer::from_gguf(&GgufFile::open(path)?);
    }
    Tokenizer::from_tokenizer_json(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_models_are_named_so_in_their_path() {
        for (path, base) in [
            ("/c/hub/models--Qwen--Qwen3-0.6B-Base/snapshots/abc", true),
            ("/runs/qwen3-0.6b-base/step-000100", true),
            ("/m/base/model.gguf", true),
            (
                "/c/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf",
                false,
            ),
            ("/c/hub/models--Qwen--Qwen3-0.6B/snapshots/abc", false),
            ("/home/me/database/model.gguf", false),
            ("/m/baseline-7b.gguf", false),
        ] {
            assert_eq!(names_a_base_model(Path::new(path)), base, "{path}");
        }
    }
}
