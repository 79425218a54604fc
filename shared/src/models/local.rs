//! `--model PATH`: telling a GGUF file from a Hugging Face folder, with errors that say
//! what was expected.

use std::fs;
use std::path::Path;

use super::ModelFiles;
use crate::{Error, Result};

/// What `--model` accepts besides a known name (for error messages).
const EXPECTED: &str = "expected a .gguf file, or a folder with config.json and *.safetensors";

/// Whether `--model` got a path rather than a name: it exists, contains a path
/// separator, or ends with `.gguf`.
pub(super) fn looks_like_path(name_or_path: &str) -> bool {
    name_or_path.contains('/')
        || name_or_path.contains(std::path::MAIN_SEPARATOR)
        || has_gguf_extension(Path::new(name_or_path))
        || Path::new(name_or_path).exists()
}

/// Classifies a local path: a `.gguf` file or a Hugging Face folder.
pub(super) fn classify(path: &Path) -> Result<ModelFiles> {
    let meta = fs::metadata(path).map_err(|err| {
        Error::ModelSource(format!("model path {}: {err} ({EXPECTED})", path.display()))
    })?;
    if meta.is_file() {
        return classify_file(path);
    }
    classify_folder(path)
}

/// A file must be a `.gguf`.
fn classify_file(path: &Path) -> Result<ModelFiles> {
    if has_gguf_extension(path) {
        Ok(ModelFiles::Gguf(path.to_path_buf()))
    } else {
        Err(Error::ModelSource(format!(
            "model path {} is a file without the .gguf extension ({EXPECTED})",
            path.display()
        )))
    }
}

/// A folder must hold config.json and weights (*.safetensors or the shard index).
fn classify_folder(path: &Path) -> Result<ModelFiles> {
    let names = folder_entries(path)?;
    if !names.iter().any(|name| name == "config.json") {
        let ggufs: Vec<&String> = names
            .iter()
            .filter(|name| has_gguf_extension(Path::new(name)))
            .collect();
        let hint = match ggufs.as_slice() {
            [] => String::new(),
            found => format!(
                "; it holds {}: pass that file instead",
                found
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        return Err(Error::ModelSource(format!(
            "model folder {} has no config.json ({EXPECTED}){hint}",
            path.display()
        )));
    }
    if !names.iter().any(|name| name.ends_with(".safetensors")) {
        return Err(Error::ModelSource(format!(
            "model folder {} has config.json but no *.safetensors weights ({EXPECTED})",
            path.display()
        )));
    }
    Ok(ModelFiles::HfFolder(path.to_path_buf()))
}

/// The names in a folder (those that are valid UTF-8).
fn folder_entries(path: &Path) -> Result<Vec<String>> {
    let entries = fs::read_dir(path).map_err(|err| Error::io(path, err))?;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|err| Error::io(path, err))?;
        if let Ok(name) = entry.file_name().into_string() {
            names.push(name);
        }
    }
    Ok(names)
}

/// `*.gguf`, any case.
fn has_gguf_extension(path: &Path) -> bool {
    path.extension()
        .is_some_and(|ext| ext.eq_ignore_ascii_case("gguf"))
}
