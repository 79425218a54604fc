//! MATH-500 (book ch. 3.8): 500 competition problems with ground-truth answers, and
//! the book's MATH training set (ch. 6, 12,000 problems), each read from a local file,
//! else from the cache, else downloaded once from where the book gets it into the cache.

use std::io::Read;
use std::path::{Path, PathBuf};

use shared::{Error, Result};

use crate::problem::{load_problems, parse_problems, Problem, MAX_PROBLEMS_FILE_BYTES};

/// Where the book's repository serves MATH-500 (the book's `load_math500_test`).
pub const MATH500_URL: &str = "https://raw.githubusercontent.com/rasbt/reasoning-from-scratch/main/ch03/01_main-chapter-code/math500_test.json";

/// A problem set the book downloads: where from, and where the cache keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BookDataset {
    /// What it is, for messages.
    pub name: &'static str,
    /// The file name in `<cache>/data/` (and the book's local name).
    pub file_name: &'static str,
    /// Where to download it, tried in order (the book's main URL, then its backup).
    pub urls: &'static [&'static str],
}

/// MATH-500, the book's test set (`load_math500_test`, ch. 3).
pub const MATH500: BookDataset = BookDataset {
    name: "MATH-500",
    file_name: "math500_test.json",
    urls: &[MATH500_URL],
};

/// The book's MATH training set: the 12,000 MATH problems outside MATH-500, with their
/// `answer` extracted from the solution (`load_math_train`, ch. 6), for GRPO.
pub const MATH_TRAIN: BookDataset = BookDataset {
    name: "the MATH training set",
    file_name: "math_train.json",
    urls: &[
        "https://raw.githubusercontent.com/rasbt/math_full_minus_math500/refs/heads/main/math_full_minus_math500.json",
        "https://f001.backblazeb2.com/file/reasoning-from-scratch/MATH/math_full_minus_math500.json",
    ],
};

impl BookDataset {
    /// The cached copy: `<cache>/data/<file_name>` (`$RFS_HOME` or the user's cache dir).
    pub fn cache_path(&self) -> PathBuf {
        shared::models::cache_dir()
            .join("data")
            .join(self.file_name)
    }

    /// The problems from `local` when given, else from the cache, else downloaded into
    /// the cache.
    pub fn load(&self, local: Option<&Path>) -> Result<Vec<Problem>> {
        if let Some(path) = local {
            return load_problems(path);
        }
        let cached = self.cache_path();
        if !cached.exists() {
            self.download(self.urls, &cached)?;
            eprintln!("saved {}", cached.display());
        }
        load_problems(&cached)
    }

    /// Downloads the set from the first of `urls` that answers to `dest`: to a temporary
    /// name first, checked to parse as problems, then renamed, so a failed download
    /// leaves nothing.
    pub fn download(&self, urls: &[&str], dest: &Path) -> Result<()> {
        let mut failures = Vec::new();
        for url in urls {
            eprintln!("downloading {} from {url} ...", self.name);
            match fetch_text(url) {
                Ok(body) => {
                    let problems = parse_problems(&body).map_err(|msg| {
                        Error::ModelSource(format!("{url} did not return {}: {msg}", self.name))
                    })?;
                    if let Some(dir) = dest.parent() {
                        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
                    }
                    shared::io::write_atomically(dest, body.as_bytes())?;
                    eprintln!("{} problems", problems.len());
                    return Ok(());
                }
                Err(e) => failures.push(format!("{url}: {e}")),
            }
        }
        Err(Error::ModelSource(format!(
            "could not download {}: {}. Offline? Pass --data PATH with a local copy, or put it \
             at {}",
            self.name,
            failures.join("; "),
            dest.display()
        )))
    }
}

/// MATH-500 from `local` when given, else from the cache, else downloaded into
/// the cache (the book's `load_math500_test`).
pub fn load_math500_test(local: Option<&Path>) -> Result<Vec<Problem>> {
    MATH500.load(local)
}

/// The book's MATH training set from `local` when given, else from the cache, else
/// downloaded into the cache (the book's `load_math_train`).
pub fn load_math_train(local: Option<&Path>) -> Result<Vec<Problem>> {
    MATH_TRAIN.load(local)
}

/// The body of `url` as text, refusing anything larger than a problems file may be.
fn fetch_text(url: &str) -> std::result::Result<String, String> {
    let response = ureq::get(url)
        .timeout(std::time::Duration::from_secs(30))
        .call()
        .map_err(|e| e.to_string())?;
    let mut body = String::new();
    response
        .into_reader()
        .take(MAX_PROBLEMS_FILE_BYTES)
        .read_to_string(&mut body)
        .map_err(|e| e.to_string())?;
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_download_says_what_to_do_and_leaves_no_file() {
        let dir = std::env::temp_dir().join(format!("rfs-math500-{}", std::process::id()));
        let dest = dir.join("math500_test.json");
        // Port 9 (discard) on localhost: refused at once, offline or not.
        let urls = ["http://127.0.0.1:9/a.json", "http://127.0.0.1:9/b.json"];
        let err = MATH_TRAIN.download(&urls, &dest).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("--data PATH"), "{msg}");
        assert!(
            msg.contains("the MATH training set") && msg.contains("b.json"),
            "{msg}"
        );
        assert!(!dest.exists());
        assert!(!dir.join("math500_test.json.part").exists());
    }
}
