//! Helpers shared by the `models_*` tests: temporary folders, offline [`Sources`], fake wheels.
//! (Each test binary uses a different subset, hence the `dead_code` allowance.)
#![allow(dead_code)]

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use sha2::{Digest, Sha256};
use shared::models::{Checksum, Sources};

/// A Hub endpoint that refuses connections at once (loopback discard port): any attempt
/// to use the network fails fast instead of reaching the internet.
pub const UNREACHABLE_HUB: &str = "http://127.0.0.1:9";

/// A fresh folder under the system temp folder, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("rfs-models-{tag}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Sources under `root` with no way out: pip is `false`, the Hub is unreachable.
pub fn offline_sources(root: &Path) -> Sources {
    Sources {
        cache_dir: root.join("rfs-cache"),
        hf_cache: root.join("hf-cache"),
        hf_endpoint: UNREACHABLE_HUB.to_string(),
        pip: vec![vec!["false".to_string()]],
        offline: false,
    }
}

/// The checksum of `bytes`.
pub fn checksum_of(bytes: &[u8]) -> Checksum {
    Checksum {
        size: bytes.len() as u64,
        sha256: Sha256::digest(bytes).into(),
    }
}

/// Writes a zip at `path` holding `member` = `bytes`, deflate-compressed, as a wheel does
/// (with the package's `__init__.py` beside it, in the member's top folder).
pub fn write_fake_wheel(path: &Path, member: &str, bytes: &[u8]) {
    let file = fs::File::create(path).unwrap();
    let mut zip = zip::ZipWriter::new(file);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let package = member.split('/').next().unwrap();
    zip.start_file(format!("{package}/__init__.py"), options)
        .unwrap();
    zip.write_all(b"# fake\n").unwrap();
    zip.start_file(member, options).unwrap();
    zip.write_all(bytes).unwrap();
    zip.finish().unwrap();
}

/// Some bytes that look a little like a model file.
pub fn fake_model_bytes() -> Vec<u8> {
    let mut bytes = b"GGUF".to_vec();
    bytes.extend((0..10_000u32).flat_map(|i| (i.wrapping_mul(2_654_435_761)).to_le_bytes()));
    bytes
}

/// The names in a folder, sorted.
pub fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A stand-in for pip: a shell command line that logs each call's arguments (one line per
/// call) to `log` and copies `<wheels>/<requirement>.whl` into the folder after `-d`; it
/// fails, as pip does for an unknown package, where there is no such file.
#[cfg(unix)]
pub fn fake_pip(wheels: &Path, log: &Path) -> Vec<String> {
    let script = format!(
        "echo \"$@\" >> '{}'; req=; while [ $# -gt 0 ]; do \
         if [ \"$1\" = -d ]; then cp \"{}/$req.whl\" \"$2\"/ || exit 1; exit 0; fi; \
         req=\"$1\"; shift; done; exit 1",
        log.display(),
        wheels.display()
    );
    ["sh", "-c", &script, "fake-pip"]
        .iter()
        .map(|s| s.to_string())
        .collect()
}
