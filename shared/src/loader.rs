//! Loading a model from disk: a GGUF file or a Hugging Face folder.

use std::path::Path;

use crate::config::ModelConfig;
use crate::io::{GgufFile, SafetensorsModel};
use crate::model::Model;
use crate::weights::{build_model, GgufWeights};
use crate::Result;

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
