//! MATH-500 (book ch. 3.8): 500 competition problems with ground-truth answers,
//! read from a local file, else from the cache, else downloaded once from the
//! book's repository into the cache.

use std::io::Read;
use std::path::{Path, PathBuf};

use shared::{Error, Result};

use crate::problem::{load_problems, parse_problems, Problem, MAX_PROBLEMS_FILE_BYTES};

/// Where the book's repository serves MATH-500 (the book's `load_math500_test`).
pub const MATH500_URL: &str = "https://raw.githubusercontent.com/rasbt/reasoning-from-scratch/main/ch03/01_main-chapter-code/math500_test.json";

/// The cached copy: `<cache>/data/math500_test.json` (`$RFS_HOME` or the user's cache dir).
pub fn math500_cache_path() -> PathBuf {
    shared::models::cache_dir()
        .join("data")
        .join("math500_test.json")
}

/// MATH-500 from `local` when given, else from the cache, else downloaded into
/// the cache (the book's `load_math500_test`).
pub fn load_math500_test(local: Option<&Path>) -> Result<Vec<Problem>> {
    if let Some(path) = local {
        return load_problems(path);
    }
    let cached = math500_cache_path();
    if !cached.exists() {
        eprintln!("downloading MATH-500 from {MATH500_URL} ...");
        download_math500(MATH500_URL, &cached)?;
        eprintln!("saved {}", cached.display());
    }
    load_problems(&cached)
}

/// Downloads MATH-500 from `url` to `dest`: to a temporary name first, checked
/// to parse as problems, then renamed, so a failed download leaves nothing.
pub fn download_math500(url: &str, dest: &Path) -> Result<()> {
    let body = fetch_text(url).map_err(|e| {
        Error::ModelSource(format!(
            "could not download MATH-500 from {url}: {e}. Offline? Pass --data PATH with a local \
             copy (the book's repository has it at ch03/01_main-chapter-code/math500_test.json), \
             or put it at {}",
            dest.display()
        ))
    })?;
    let problems = parse_problems(&body)
        .map_err(|msg| Error::ModelSource(format!("{url} did not return MATH-500: {msg}")))?;
    if let Some(dir) = dest.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    shared::io::write_atomically(dest, body.as_bytes())?;
    eprintln!("{} problems", problems.len());
    Ok(())
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
        let err = download_math500("http://127.0.0.1:9/math500_test.json", &dest).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("--data PATH"), "{msg}");
        assert!(!dest.exists());
        assert!(!dir.join("math500_test.json.part").exists());
    }
}
