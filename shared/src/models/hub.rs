//! Models from the Hugging Face Hub, kept in the Hub's own cache (shared with Python's
//! `huggingface_hub`): `models--Org--Name/{refs/main, blobs/, snapshots/<commit>/<file>}`.
//! A model is either a Hugging Face folder (config.json, tokenizer.json, safetensors) or
//! one GGUF file of a repo (see [`HubSource`]).
//!
//! The cache is read first, so a model already there loads with no network at all; only
//! then are the missing files downloaded with the `hf-hub` crate, which writes each one
//! to a temporary name and renames it when complete.

use std::collections::BTreeSet;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use hf_hub::api::sync::{ApiBuilder, ApiError, ApiRepo};
use hf_hub::{Cache, Repo};

use super::{ModelFiles, Sources};
use crate::{Error, Result};

/// What a known model takes from the Hugging Face Hub.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HubSource {
    /// A Hugging Face folder: config.json, tokenizer.json and safetensors weights (one
    /// file, or an index and its shards) of the repo `Org/Name`.
    Folder(&'static str),
    /// One GGUF file of a repo. Its checksum is not pinned: the Hub's copy is accepted when
    /// it is not empty and begins with the GGUF magic, and the GGUF reader checks the rest
    /// when it loads (a repo whose files change upstream keeps working, unverified).
    Gguf {
        /// The repo, `Org/Name`.
        repo: &'static str,
        /// The file's name in the repo.
        file: &'static str,
    },
}

impl HubSource {
    /// The repo, `Org/Name`.
    pub fn repo(&self) -> &'static str {
        match self {
            HubSource::Folder(repo) | HubSource::Gguf { repo, .. } => repo,
        }
    }
}

/// The files of `source`: from the Hub cache when there, else downloaded into it (unless
/// `sources.offline`).
pub(super) fn resolve(source: &HubSource, sources: &Sources) -> Result<ModelFiles> {
    match *source {
        HubSource::Folder(repo) => resolve_folder(repo, sources).map(ModelFiles::HfFolder),
        HubSource::Gguf { repo, file } => resolve_gguf(repo, file, sources).map(ModelFiles::Gguf),
    }
}

/// The GGUF `file` of `repo` in the Hub cache, downloaded first where absent, and checked
/// to be a GGUF (see [`HubSource::Gguf`]).
fn resolve_gguf(repo: &str, file: &str, sources: &Sources) -> Result<PathBuf> {
    let cached = Cache::new(sources.hf_cache.clone())
        .model(repo.to_string())
        .get(file);
    let path = match cached {
        Some(path) => path,
        None if sources.offline => {
            return Err(Error::ModelSource(format!(
                "{repo}/{file} is not in the Hub cache {}, and we are offline",
                sources.hf_cache.display()
            )))
        }
        None => get(&api_repo(repo, sources)?, file)?,
    };
    check_gguf_magic(&path)?;
    Ok(path)
}

/// A downloaded file that is empty or lacks the GGUF magic (an HTML error page, a
/// truncated copy) is refused, naming it so that it can be deleted.
fn check_gguf_magic(path: &Path) -> Result<()> {
    let mut start = Vec::new();
    fs::File::open(path)
        .and_then(|file| file.take(4).read_to_end(&mut start))
        .map_err(|err| Error::io(path, err))?;
    if start == b"GGUF" {
        return Ok(());
    }
    Err(Error::format(
        path,
        "downloaded from the Hub but not a GGUF file (empty, or no GGUF magic): \
         delete it and try again",
    ))
}

/// The files every model folder needs besides its weights.
const REQUIRED: [&str; 2] = ["config.json", "tokenizer.json"];
/// Unsharded weights.
const WEIGHTS: &str = "model.safetensors";
/// The index of sharded weights (`weight_map`: tensor name → shard file).
const WEIGHTS_INDEX: &str = "model.safetensors.index.json";

/// The snapshot folder of `repo` at `main`: from the cache when complete, else
/// downloaded (unless `sources.offline`).
fn resolve_folder(repo: &str, sources: &Sources) -> Result<PathBuf> {
    let cache = Cache::new(sources.hf_cache.clone());
    if let Some(folder) = cached_snapshot(&cache, repo) {
        return Ok(folder);
    }
    if sources.offline {
        return Err(Error::ModelSource(format!(
            "{repo} is not (completely) in the Hub cache {}, and we are offline",
            sources.hf_cache.display()
        )));
    }
    download(repo, sources)
}

/// The snapshot folder if config.json, tokenizer.json and all weights are cached.
fn cached_snapshot(cache: &Cache, repo: &str) -> Option<PathBuf> {
    let cached = cache.model(repo.to_string());
    let config = cached.get("config.json")?;
    for file in REQUIRED {
        cached.get(file)?;
    }
    if cached.get(WEIGHTS).is_none() {
        let index = cached.get(WEIGHTS_INDEX)?;
        for shard in shard_names(&index).ok()? {
            cached.get(&shard)?;
        }
    }
    config.parent().map(Path::to_path_buf)
}

/// Downloads config.json, tokenizer.json and the weights (one file, or the index and
/// its shards) into the Hub cache; returns the snapshot folder `main` points to.
fn download(repo: &str, sources: &Sources) -> Result<PathBuf> {
    let remote = api_repo(repo, sources)?;
    let mut files: Vec<String> = REQUIRED.iter().map(|file| file.to_string()).collect();
    for file in &files {
        get(&remote, file)?;
    }
    match get(&remote, WEIGHTS) {
        Ok(_) => files.push(WEIGHTS.to_string()),
        Err(single) => {
            let Ok(index) = get(&remote, WEIGHTS_INDEX) else {
                return Err(single);
            };
            files.push(WEIGHTS_INDEX.to_string());
            files.extend(shard_names(&index)?);
            for shard in &files[REQUIRED.len() + 1..] {
                get(&remote, shard)?;
            }
        }
    }
    gather_in_main_snapshot(&remote, repo, &files, sources)
}

/// The snapshot folder `refs/main` points to, holding every one of `files`.
///
/// Files found in the cache may sit in an older snapshot than those just downloaded
/// (the repo changed upstream in between): those are fetched again for the current one.
fn gather_in_main_snapshot(
    remote: &ApiRepo,
    repo: &str,
    files: &[String],
    sources: &Sources,
) -> Result<PathBuf> {
    let repo_dir = sources
        .hf_cache
        .join(Repo::model(repo.to_string()).folder_name());
    let main = repo_dir.join("refs").join("main");
    let commit = fs::read_to_string(&main).map_err(|err| Error::io(&main, err))?;
    let folder = repo_dir.join("snapshots").join(commit.trim());
    for file in files {
        if !folder.join(file).exists() {
            remote
                .download(file)
                .map_err(|err| hub_error(remote, file, err))?;
        }
    }
    Ok(folder)
}

/// A Hub client for `repo` that downloads into the Hub cache (saying so on stderr).
fn api_repo(repo: &str, sources: &Sources) -> Result<ApiRepo> {
    eprintln!(
        "fetching {repo} from {} into {}",
        sources.hf_endpoint,
        sources.hf_cache.display()
    );
    let api = ApiBuilder::from_cache(Cache::new(sources.hf_cache.clone()))
        .with_endpoint(sources.hf_endpoint.clone())
        .with_progress(true)
        .build()
        .map_err(|err| Error::ModelSource(format!("cannot set up the Hub client: {err}")))?;
    Ok(api.model(repo.to_string()))
}

/// One file from the Hub (or the cache, if there already).
fn get(remote: &ApiRepo, file: &str) -> Result<PathBuf> {
    remote.get(file).map_err(|err| hub_error(remote, file, err))
}

/// A failed Hub request for `file`, naming its URL.
fn hub_error(remote: &ApiRepo, file: &str, err: ApiError) -> Error {
    Error::ModelSource(format!("{}: {err}", remote.url(file)))
}

/// The shard files an index lists, each a plain file name in the same folder.
fn shard_names(index: &Path) -> Result<BTreeSet<String>> {
    let text = fs::read_to_string(index).map_err(|err| Error::io(index, err))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|err| Error::format(index, err.to_string()))?;
    let map = json
        .get("weight_map")
        .and_then(|map| map.as_object())
        .ok_or_else(|| Error::format(index, "no `weight_map` object"))?;
    let mut shards = BTreeSet::new();
    for file in map.values() {
        let name = file
            .as_str()
            .ok_or_else(|| Error::format(index, "a `weight_map` value is not a string"))?;
        if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
            return Err(Error::format(
                index,
                format!("shard `{name}` is not a plain file name"),
            ));
        }
        shards.insert(name.to_string());
    }
    Ok(shards)
}

/// How to put `source` where we look, by hand.
pub(super) fn manual_download_hint(source: &HubSource, sources: &Sources) -> String {
    match *source {
        HubSource::Folder(repo) => folder_download_hint(repo, sources),
        HubSource::Gguf { repo, file } => format!(
            "huggingface-cli download {repo} {file}\n     \
             (it fills the Hub cache {}, which is read first), or download\n     \
             {}/{repo}/resolve/main/{file} and pass --model FILE.gguf",
            sources.hf_cache.display(),
            sources.hf_endpoint
        ),
    }
}

/// How to put the folder of `repo` where we look, by hand.
fn folder_download_hint(repo: &str, sources: &Sources) -> String {
    let url = format!("{}/{repo}/resolve/main", sources.hf_endpoint);
    format!(
        "huggingface-cli download {repo} config.json tokenizer.json {WEIGHTS}\n     \
         (it fills the Hub cache {}, which is read first), or download {url}/config.json,\n     \
         {url}/tokenizer.json and {url}/{WEIGHTS} into a folder and pass --model FOLDER",
        sources.hf_cache.display()
    )
}
