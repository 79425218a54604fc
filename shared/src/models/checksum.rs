//! SHA-256 checks for downloaded files, and a marker so a verified file is not re-hashed
//! on every start.
//!
//! The marker `<file>.verified` records the hash together with the file's size and
//! modification time when it was verified; a file whose size or time no longer matches is
//! hashed again, so a replaced or damaged file never passes on the marker alone.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use sha2::{Digest, Sha256};

use crate::{Error, Result};

/// The size and SHA-256 a published file must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checksum {
    /// Size in bytes.
    pub size: u64,
    /// The SHA-256 digest.
    pub sha256: [u8; 32],
}

impl Checksum {
    /// A checksum from a size and a 64-digit hex digest, for constants.
    ///
    /// # Panics
    /// On a malformed digest; in a `const` item that is a compile error.
    pub const fn from_hex(size: u64, sha256_hex: &str) -> Self {
        let hex = sha256_hex.as_bytes();
        assert!(hex.len() == 64, "a sha256 digest has 64 hex digits");
        let mut sha256 = [0u8; 32];
        let mut i = 0;
        while i < 32 {
            sha256[i] = hex_digit(hex[2 * i]) << 4 | hex_digit(hex[2 * i + 1]);
            i += 1;
        }
        Checksum { size, sha256 }
    }

    /// The digest as lowercase hex.
    pub fn sha256_hex(&self) -> String {
        to_hex(&self.sha256)
    }
}

/// The value of one hex digit (for [`Checksum::from_hex`]).
const fn hex_digit(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => panic!("not a hex digit"),
    }
}

/// Lowercase hex of some bytes.
fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `path` holds the file `expected` describes.
///
/// `Ok(false)` when it is absent, or when it has the wrong size or hash: such a file is
/// removed (with a note on stderr) so that the caller fetches it again. A file verified
/// before and unchanged since (see the module docs) is not hashed again.
pub fn verify_cached(path: &Path, expected: &Checksum) -> Result<bool> {
    let meta = match fs::metadata(path) {
        Ok(meta) => meta,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(err) => return Err(Error::io(path, err)),
    };
    if !meta.is_file() {
        return Err(Error::format(path, "expected a file, found something else"));
    }
    if meta.len() != expected.size {
        eprintln!(
            "{}: {} bytes, expected {}: removing it to fetch it again",
            path.display(),
            meta.len(),
            expected.size
        );
        discard(path)?;
        return Ok(false);
    }
    if marker_text(path, expected).is_some_and(|text| read_marker(path) == Some(text)) {
        return Ok(true);
    }
    eprintln!("verifying the sha256 of {} …", path.display());
    let actual = sha256_file(path)?;
    if actual != expected.sha256 {
        eprintln!(
            "{}: sha256 {}, expected {}: removing it to fetch it again",
            path.display(),
            to_hex(&actual),
            expected.sha256_hex()
        );
        discard(path)?;
        return Ok(false);
    }
    record_verified(path, expected)
        .map(|()| true)
        .map_err(|err| Error::io(marker_path(path), err))
}

/// Writes the marker saying `path` (just checked against `expected`) is verified.
pub(crate) fn record_verified(path: &Path, expected: &Checksum) -> io::Result<()> {
    match marker_text(path, expected) {
        Some(text) => fs::write(marker_path(path), text),
        None => Ok(()),
    }
}

/// Copies `reader` into `writer`, feeding the bytes to `hasher` (so one hash can run over
/// several copies); returns the byte count.
pub(crate) fn copy_hashing(
    reader: &mut impl Read,
    writer: &mut impl Write,
    hasher: &mut Sha256,
) -> io::Result<u64> {
    let mut buffer = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        hasher.update(&buffer[..n]);
        writer.write_all(&buffer[..n])?;
        total += n as u64;
    }
    Ok(total)
}

/// The SHA-256 of a whole file.
fn sha256_file(path: &Path) -> Result<[u8; 32]> {
    let mut file = fs::File::open(path).map_err(|err| Error::io(path, err))?;
    let mut hasher = Sha256::new();
    copy_hashing(&mut file, &mut io::sink(), &mut hasher).map_err(|err| Error::io(path, err))?;
    Ok(hasher.finalize().into())
}

/// Removes a bad cached file and its marker.
fn discard(path: &Path) -> Result<()> {
    fs::remove_file(path).map_err(|err| Error::io(path, err))?;
    let marker = marker_path(path);
    match fs::remove_file(&marker) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => Err(Error::io(marker, err)),
        _ => Ok(()),
    }
}

/// `<file>.verified`.
fn marker_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".verified");
    path.with_file_name(name)
}

/// The marker's contents for the file as it is now: digest, size and modification time
/// (`None` where the file system gives no modification time: then no marker is used).
fn marker_text(path: &Path, expected: &Checksum) -> Option<String> {
    let meta = fs::metadata(path).ok()?;
    let modified = meta.modified().ok()?.duration_since(UNIX_EPOCH).ok()?;
    Some(format!(
        "{} {} {}.{:09}\n",
        expected.sha256_hex(),
        meta.len(),
        modified.as_secs(),
        modified.subsec_nanos()
    ))
}

/// The marker's contents, if there is one.
fn read_marker(path: &Path) -> Option<String> {
    fs::read_to_string(marker_path(path)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_hex_round_trips() {
        let hex = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53";
        let checksum = Checksum::from_hex(7, hex);
        assert_eq!(checksum.sha256[0], 0xb1);
        assert_eq!(checksum.sha256[31], 0x53);
        assert_eq!(checksum.sha256_hex(), hex);
    }

    #[test]
    fn copy_hashing_matches_known_digest_across_copies() {
        let mut out = Vec::new();
        let mut hasher = Sha256::new();
        assert_eq!(
            copy_hashing(&mut &b"a"[..], &mut out, &mut hasher).unwrap(),
            1
        );
        assert_eq!(
            copy_hashing(&mut &b"bc"[..], &mut out, &mut hasher).unwrap(),
            2
        );
        assert_eq!(out, b"abc");
        assert_eq!(
            to_hex(&hasher.finalize()),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
