//! Where a fetch does its work: a private folder beside the destination that holds the
//! downloads and the file being assembled, which is renamed into place only once its size
//! and SHA-256 match.
//!
//! A fetch that is killed leaves its work folder behind, never a file under the
//! destination's name. Each work folder holds a lock file, locked for the fetch's lifetime
//! (the operating system drops the lock with the process), so the next fetch of the same
//! file removes the folders whose lock it can take (abandoned ones) and leaves those of a
//! fetch still running alone.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::checksum::{copy_hashing, record_verified};
use super::Checksum;
use crate::{Error, Result};

/// The lock file's name inside a work folder.
const LOCK: &str = "lock";
/// The assembled file's name inside a work folder.
const PARTIAL: &str = "partial";

/// A private work folder `.<file>.fetch-<pid>-<n>` beside the destination, removed with
/// its contents on drop.
pub(super) struct WorkDir {
    path: PathBuf,
    /// Held (and locked) until the folder is removed.
    _lock: fs::File,
}

impl WorkDir {
    /// Removes the abandoned work folders for `file_name` in `folder` (see the module
    /// docs), then creates a fresh one there.
    pub(super) fn create(folder: &Path, file_name: &str) -> Result<Self> {
        fs::create_dir_all(folder).map_err(|err| Error::io(folder, err))?;
        let prefix = work_prefix(file_name);
        remove_abandoned(folder, &prefix);
        let path = fresh_dir(folder, &format!("{prefix}{}", std::process::id()))?;
        let lock_path = path.join(LOCK);
        let lock = fs::File::create(&lock_path).map_err(|err| Error::io(&lock_path, err))?;
        // Best effort: where the file system has no locks, no sweep can lock this
        // folder either, so it is left alone while the fetch runs.
        let _ = lock.try_lock();
        Ok(WorkDir { path, _lock: lock })
    }

    /// A fresh empty folder `name` inside the work folder, e.g. for one download.
    pub(super) fn subfolder(&self, name: &str) -> Result<PathBuf> {
        let path = self.path.join(name);
        fs::create_dir(&path).map_err(|err| Error::io(&path, err))?;
        Ok(path)
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        // After a successful fetch only the lock file (and emptied download folders)
        // remain; after a failed one, also the partial file: either way, all goes.
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// `.<file_name>.fetch-`: how every work folder for `file_name` begins.
fn work_prefix(file_name: &str) -> String {
    format!(".{file_name}.fetch-")
}

/// Creates `<base>-<n>` for the first `n` not taken.
fn fresh_dir(parent: &Path, base: &str) -> Result<PathBuf> {
    let mut n = 0u32;
    loop {
        let path = parent.join(format!("{base}-{n}"));
        match fs::create_dir(&path) {
            Ok(()) => return Ok(path),
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists && n < 1000 => n += 1,
            Err(err) => return Err(Error::io(path, err)),
        }
    }
}

/// Removes the folders in `folder` named `<prefix>…` whose lock file can be locked: their
/// fetch is no longer running. Failures are only reported: they never stop a fetch.
fn remove_abandoned(folder: &Path, prefix: &str) {
    let Ok(entries) = fs::read_dir(folder) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if !entry.file_name().to_string_lossy().starts_with(prefix) || !is_abandoned(&path) {
            continue;
        }
        eprintln!("removing {}: left by an interrupted fetch", path.display());
        if let Err(err) = fs::remove_dir_all(&path) {
            eprintln!("could not remove {}: {err}", path.display());
        }
    }
}

/// Whether the work folder's lock file exists and no process holds its lock. A folder
/// without one is being created right now (or is empty): it is left alone.
fn is_abandoned(work: &Path) -> bool {
    fs::File::open(work.join(LOCK)).is_ok_and(|lock| lock.try_lock().is_ok())
}

/// The destination file being assembled in a [`WorkDir`] from one or more pieces, hashed
/// as they are written.
pub(super) struct Assembly {
    partial: PathBuf,
    out: fs::File,
    hasher: Sha256,
    written: u64,
    expected: Checksum,
}

impl Assembly {
    /// An empty file in `work` that must end up as `expected` describes.
    pub(super) fn create(work: &WorkDir, expected: Checksum) -> Result<Self> {
        let partial = work.path.join(PARTIAL);
        let out = fs::File::create(&partial).map_err(|err| Error::io(&partial, err))?;
        Ok(Assembly {
            partial,
            out,
            hasher: Sha256::new(),
            written: 0,
            expected,
        })
    }

    /// Appends the `size` bytes of `reader`, the piece `what` of the file `source` (both
    /// for messages). A piece that would take the file past its expected size is refused
    /// before anything is copied.
    pub(super) fn append(
        &mut self,
        reader: impl Read,
        size: u64,
        source: &Path,
        what: &str,
    ) -> Result<()> {
        let room = self.expected.size - self.written;
        if size > room {
            return Err(Error::format(
                source,
                format!(
                    "{what} has {size} bytes, more than the {room} left of the expected {}",
                    self.expected.size
                ),
            ));
        }
        self.written += copy_hashing(&mut reader.take(room + 1), &mut self.out, &mut self.hasher)
            .map_err(|err| Error::format(source, format!("reading {what}: {err}")))?;
        Ok(())
    }

    /// Checks the size and SHA-256 of everything appended; on a match renames the file to
    /// `dest` and records it as verified (see [`verify_cached`](super::verify_cached)).
    /// On a mismatch nothing is kept (the [`WorkDir`] goes with the partial file).
    pub(super) fn finish(self, dest: &Path) -> Result<()> {
        self.out
            .sync_all()
            .map_err(|err| Error::io(&self.partial, err))?;
        drop(self.out);
        let expected = self.expected;
        if self.written != expected.size {
            return Err(Error::format(
                dest,
                format!(
                    "the pieces gave {} bytes, expected {}; nothing was kept",
                    self.written, expected.size
                ),
            ));
        }
        let actual = Checksum {
            size: self.written,
            sha256: self.hasher.finalize().into(),
        };
        if actual.sha256 != expected.sha256 {
            return Err(Error::format(
                dest,
                format!(
                    "the pieces have sha256 {}, expected {}; nothing was kept",
                    actual.sha256_hex(),
                    expected.sha256_hex()
                ),
            ));
        }
        fs::rename(&self.partial, dest).map_err(|err| Error::io(dest, err))?;
        record_verified(dest, &expected).map_err(|err| Error::io(dest, err))
    }
}
