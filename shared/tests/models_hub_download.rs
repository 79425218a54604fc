//! The Hub download path against a fake Hub on a loopback port: files land in the Hub
//! cache laid out as Python's `huggingface_hub` lays it out, sharded weights are found
//! through their index, and files cached from an older commit are gathered into the
//! snapshot `main` points to.

mod models_common;

use std::collections::HashMap;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};

use models_common::{checksum_of, offline_sources, TempDir, UNREACHABLE_HUB};
use shared::fixtures::fixture;
use shared::models::{resolve_model_in, ModelFiles, Sources};

const COMMIT: &str = "9a3c4e0f8f1d2b7c6a5e4d3c2b1a0f9e8d7c6b5a";

/// Serves `files` (name → bytes) of `repo` at [`COMMIT`] the way the Hub does for
/// `GET /{repo}/resolve/main/{file}` with a `Range` header; anything else is a 404.
/// Returns the endpoint URL.
fn fake_hub(repo: &str, files: HashMap<String, Vec<u8>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let prefix = format!("/{repo}/resolve/main/");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            serve_one(stream, &prefix, &files);
        }
    });
    endpoint
}

/// Answers one request (then closes the connection).
fn serve_one(mut stream: TcpStream, prefix: &str, files: &HashMap<String, Vec<u8>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    reader.read_line(&mut request_line).unwrap();
    let mut range_start = 0usize;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap() == 0 || header.trim().is_empty() {
            break;
        }
        let lower = header.to_ascii_lowercase();
        if let Some(range) = lower.strip_prefix("range: bytes=") {
            range_start = range.trim().split('-').next().unwrap().parse().unwrap();
        }
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("");
    let file = path.strip_prefix(prefix).and_then(|name| files.get(name));
    let response = match file {
        Some(bytes) => {
            let body = &bytes[range_start.min(bytes.len())..];
            let head = format!(
                "HTTP/1.1 206 Partial Content\r\nx-repo-commit: {COMMIT}\r\netag: \"{}\"\r\n\
                 content-range: bytes {range_start}-{}/{}\r\ncontent-length: {}\r\n\
                 connection: close\r\n\r\n",
                checksum_of(bytes).sha256_hex(),
                bytes.len().saturating_sub(1),
                bytes.len(),
                body.len()
            );
            [head.into_bytes(), body.to_vec()].concat()
        }
        None => {
            b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_vec()
        }
    };
    let _ = stream.write_all(&response);
}

/// The tiny Qwen3 fixture's files by their names in a Hub repo.
fn fixture_repo_files() -> Option<HashMap<String, Vec<u8>>> {
    let mut files = HashMap::new();
    for (name, relative) in [
        ("config.json", "tiny/qwen3-tiny/config.json"),
        ("model.safetensors", "tiny/qwen3-tiny/model.safetensors"),
        ("tokenizer.json", "tokenizers/qwen3/tokenizer.json"),
    ] {
        files.insert(name.to_string(), fs::read(fixture(relative)?).unwrap());
    }
    Some(files)
}

/// Every file under `dir`, recursively.
fn all_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(all_files(&path));
        } else {
            found.push(path);
        }
    }
    found
}

/// Checks the resolved folder holds exactly the served bytes, and that no partial
/// download is left in the cache.
fn assert_snapshot_holds(folder: &Path, files: &HashMap<String, Vec<u8>>, sources: &Sources) {
    for (name, bytes) in files {
        assert_eq!(&fs::read(folder.join(name)).unwrap(), bytes, "{name}");
    }
    let leftovers: Vec<PathBuf> = all_files(&sources.hf_cache)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|ext| ext == "part"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "partial downloads left: {leftovers:?}"
    );
}

#[test]
fn downloads_into_the_hub_cache_then_loads_offline() {
    let Some(files) = fixture_repo_files() else {
        return;
    };
    let tmp = TempDir::new("download-single");
    let sources = Sources {
        hf_endpoint: fake_hub("Qwen/Qwen3-0.6B", files.clone()),
        ..offline_sources(tmp.path())
    };
    let snapshot = sources
        .hf_cache
        .join("models--Qwen--Qwen3-0.6B/snapshots")
        .join(COMMIT);
    let resolved = resolve_model_in("qwen3-0.6b", &sources).unwrap();
    assert_eq!(resolved, ModelFiles::HfFolder(snapshot.clone()));
    assert_snapshot_holds(&snapshot, &files, &sources);

    let offline = Sources {
        hf_endpoint: UNREACHABLE_HUB.to_string(),
        ..sources.clone()
    };
    assert_eq!(resolve_model_in("qwen3-0.6b", &offline).unwrap(), resolved);
}

#[test]
fn sharded_weights_are_found_through_the_index() {
    let Some(mut files) = fixture_repo_files() else {
        return;
    };
    files.remove("model.safetensors");
    let index = br#"{"metadata": {}, "weight_map": {
        "a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}"#;
    files.insert("model.safetensors.index.json".into(), index.to_vec());
    files.insert(
        "model-00001-of-00002.safetensors".into(),
        b"first shard".to_vec(),
    );
    files.insert(
        "model-00002-of-00002.safetensors".into(),
        b"second shard".to_vec(),
    );
    let tmp = TempDir::new("download-sharded");
    let sources = Sources {
        hf_endpoint: fake_hub("Qwen/Qwen3-0.6B-Base", files.clone()),
        ..offline_sources(tmp.path())
    };
    let ModelFiles::HfFolder(folder) = resolve_model_in("qwen3-0.6b-base", &sources).unwrap()
    else {
        panic!("expected a folder");
    };
    assert!(folder.ends_with(COMMIT));
    assert_snapshot_holds(&folder, &files, &sources);
}

#[test]
fn files_cached_from_an_older_commit_are_gathered_into_main() {
    let Some(files) = fixture_repo_files() else {
        return;
    };
    let tmp = TempDir::new("download-gather");
    let sources = Sources {
        hf_endpoint: fake_hub("Qwen/Qwen3-0.6B", files.clone()),
        ..offline_sources(tmp.path())
    };
    let repo_dir = sources.hf_cache.join("models--Qwen--Qwen3-0.6B");
    let old = repo_dir.join("snapshots/0000000000000000000000000000000000000000");
    fs::create_dir_all(&old).unwrap();
    fs::write(old.join("config.json"), &files["config.json"]).unwrap();
    fs::write(old.join("tokenizer.json"), &files["tokenizer.json"]).unwrap();
    fs::create_dir_all(repo_dir.join("refs")).unwrap();
    fs::write(
        repo_dir.join("refs/main"),
        "0000000000000000000000000000000000000000",
    )
    .unwrap();

    let resolved = resolve_model_in("qwen3-0.6b", &sources).unwrap();
    let snapshot = repo_dir.join("snapshots").join(COMMIT);
    assert_eq!(resolved, ModelFiles::HfFolder(snapshot.clone()));
    assert_snapshot_holds(&snapshot, &files, &sources);
}

#[test]
fn qwen25_downloads_the_hubs_gguf_when_pip_fails() {
    let tmp = TempDir::new("download-qwen25");
    let file = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf";
    let bytes = b"GGUF\x03\x00\x00\x00 a small stand-in".to_vec();
    let files = HashMap::from([(file.to_string(), bytes.clone())]);
    let sources = Sources {
        hf_endpoint: fake_hub("Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF", files.clone()),
        ..offline_sources(tmp.path())
    };
    let ModelFiles::Gguf(path) = resolve_model_in("qwen2.5-coder-0.5b-instruct", &sources).unwrap()
    else {
        panic!("expected the Hub's GGUF");
    };
    assert_eq!(
        path,
        sources
            .hf_cache
            .join("models--Qwen--Qwen2.5-Coder-0.5B-Instruct-GGUF/snapshots")
            .join(COMMIT)
            .join(file)
    );
    assert_snapshot_holds(path.parent().unwrap(), &files, &sources);
}
