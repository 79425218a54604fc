//! Writing a file so that its name never points at a partial file: the bytes go to a
//! temporary file in the same folder, are flushed and synced to disk, and only then is
//! the temporary file renamed over the destination (a rename within one file system is
//! atomic). On any failure the temporary file is removed and the destination is untouched.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::{Error, Result};

/// Writes `bytes` to `path` atomically (see [`write_atomically_with`]).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomically_with(path, |out| out.write_all(bytes))
}

/// Writes `path` atomically with `write`, which streams the contents into a buffered
/// writer: to `<path>.<pid>-<n>.part` in the same folder first, flushed and synced,
/// then renamed over `path`. An error from `write` or the file system names `path`.
/// Only a regular file is replaced: a symlink, a device or a folder at `path` is refused.
pub fn write_atomically_with(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    check_regular_file(path)?;
    let tmp = TempFile(temp_name(path));
    let file = File::create(&tmp.0).map_err(|e| Error::io(&tmp.0, e))?;
    let mut out = BufWriter::new(file);
    write(&mut out).map_err(|e| Error::io(path, e))?;
    let file = out
        .into_inner()
        .map_err(|e| Error::io(path, e.into_error()))?;
    file.sync_all().map_err(|e| Error::io(path, e))?;
    drop(file);
    std::fs::rename(&tmp.0, path).map_err(|e| Error::io(path, e))
}

/// Refuses a `path` that exists and is not a regular file, before an output is written
/// there: renaming over a symlink would replace the link, renaming over a device would
/// remove it, and appending to `/dev/null` would swallow the output.
pub fn check_regular_file(path: &Path) -> Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if !meta.file_type().is_file() => Err(Error::format(
            path,
            "exists and is not a regular file (a symlink, a device or a folder): refusing to \
             replace it; give a new path or a regular file",
        )),
        _ => Ok(()),
    }
}

/// A temporary name beside `path`, unique within this process and across processes.
fn temp_name(path: &Path) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{}-{n}.part", std::process::id()));
    PathBuf::from(name)
}

/// A temporary file, removed on drop (after a successful rename there is nothing left to remove).
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("rfs-atomic-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn replaces_the_file_and_leaves_no_temporary() {
        let dir = temp_dir("ok");
        let path = dir.join("out.txt");
        write_atomically(&path, b"first").unwrap();
        write_atomically(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failed_write_keeps_the_old_file_and_names_it() {
        let dir = temp_dir("fail");
        let path = dir.join("out.txt");
        write_atomically(&path, b"old").unwrap();
        let err = write_atomically_with(&path, |out| {
            out.write_all(b"partial")?;
            Err(std::io::Error::other("disk full"))
        })
        .unwrap_err();
        assert!(err.to_string().contains("out.txt"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_a_device_or_a_folder_is_not_replaced() {
        let dir = temp_dir("special");
        let target = dir.join("target.txt");
        std::fs::write(&target, b"kept").unwrap();
        let link = dir.join("link.txt");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        for path in [link.as_path(), Path::new("/dev/null"), dir.as_path()] {
            let err = write_atomically(path, b"new").unwrap_err().to_string();
            assert!(err.contains("not a regular file"), "{err}");
            assert!(err.contains(&path.display().to_string()), "{err}");
        }
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read(&target).unwrap(), b"kept");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
