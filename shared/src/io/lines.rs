//! Reading line-oriented files (JSON lines, CSV logs) with a bound on each line, so a file
//! without newlines (or `/dev/zero`) costs at most one line's worth of memory, and with a
//! last line that has no newline told apart: in a log that a run appends to, that is a line
//! a killed run cut off mid-write, possibly inside a UTF-8 character.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// The longest line the readers here accept: 64 MiB (a logged response of a few thousand
/// tokens is a few kilobytes).
pub const MAX_LINE_BYTES: usize = 64 << 20;

/// One line of a file read with [`BoundedLines`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// A line ended by `\n`, without the newline (and without a `\r` before it).
    Complete(String),
    /// The file's last bytes with no `\n` after them, as bytes: in an appended log, a line
    /// cut off mid-write, which may end inside a UTF-8 character.
    Unterminated(Vec<u8>),
}

/// The lines of a file, numbered from 1, each at most [`MAX_LINE_BYTES`]; a longer line or
/// a complete line that is not UTF-8 is an error naming the file and the line.
#[derive(Debug)]
pub struct BoundedLines<R> {
    reader: R,
    path: PathBuf,
    max_bytes: usize,
    number: usize,
    complete_bytes: u64,
    finished: bool,
}

/// Opens `path` for [`BoundedLines`].
pub fn open_lines(path: &Path) -> Result<BoundedLines<BufReader<File>>> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    Ok(BoundedLines::new(BufReader::new(file), path))
}

impl<R: BufRead> BoundedLines<R> {
    /// Lines of `reader`; `path` names the source in errors.
    pub fn new(reader: R, path: &Path) -> Self {
        Self {
            reader,
            path: path.to_path_buf(),
            max_bytes: MAX_LINE_BYTES,
            number: 0,
            complete_bytes: 0,
            finished: false,
        }
    }

    /// The same reader with another line limit (tests use a small one).
    pub fn with_max_bytes(mut self, max_bytes: usize) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// Bytes taken by the complete lines read so far: where an unterminated line starts.
    pub fn complete_bytes(&self) -> u64 {
        self.complete_bytes
    }

    /// Reads the next line; `None` at the end of the file.
    fn next_line(&mut self) -> Result<Option<(usize, Line)>> {
        let mut bytes = Vec::new();
        let limit = self.max_bytes as u64 + 1;
        let n = (&mut self.reader)
            .take(limit)
            .read_until(b'\n', &mut bytes)
            .map_err(|e| Error::io(&self.path, e))?;
        if n == 0 {
            return Ok(None);
        }
        self.number += 1;
        if bytes.last() != Some(&b'\n') {
            if bytes.len() > self.max_bytes {
                return Err(self.error(format!("is longer than {} bytes", self.max_bytes)));
            }
            return Ok(Some((self.number, Line::Unterminated(bytes))));
        }
        self.complete_bytes += n as u64;
        bytes.pop();
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
        let text =
            String::from_utf8(bytes).map_err(|e| self.error(format!("is not UTF-8: {e}")))?;
        Ok(Some((self.number, Line::Complete(text))))
    }

    /// An error about the current line.
    fn error(&self, what: String) -> Error {
        Error::format(&self.path, format!("line {} {what}", self.number))
    }
}

impl<R: BufRead> Iterator for BoundedLines<R> {
    type Item = Result<(usize, Line)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        let line = self.next_line().transpose();
        if !matches!(line, Some(Ok((_, Line::Complete(_))))) {
            self.finished = true;
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(bytes: &[u8], max: usize) -> Vec<Result<(usize, Line)>> {
        BoundedLines::new(bytes, Path::new("log.jsonl"))
            .with_max_bytes(max)
            .collect()
    }

    #[test]
    fn complete_lines_then_a_cut_one_inside_a_character() {
        let text = "a\r\n東\n\u{1F600}".as_bytes();
        let cut = &text[..text.len() - 1];
        let got: Vec<(usize, Line)> = lines(cut, 64).into_iter().map(|l| l.unwrap()).collect();
        assert_eq!(
            got,
            [
                (1, Line::Complete("a".into())),
                (2, Line::Complete("東".into())),
                (3, Line::Unterminated(cut[7..].to_vec())),
            ]
        );
        let mut reader = BoundedLines::new(cut, Path::new("x"));
        reader.by_ref().for_each(drop);
        assert_eq!(reader.complete_bytes(), 7);
    }

    #[test]
    fn a_line_over_the_limit_is_an_error_naming_file_and_line() {
        let got = lines(b"ok\n0123456789\n", 8);
        assert_eq!(got.len(), 2);
        let error = got[1].as_ref().unwrap_err().to_string();
        assert!(
            error.contains("log.jsonl") && error.contains("line 2"),
            "{error}"
        );
        assert!(error.contains("longer than 8 bytes"), "{error}");
        // Exactly the limit is fine, with or without the newline.
        assert!(lines(b"01234567\n", 8)[0].is_ok());
        assert!(lines(b"01234567", 8)[0].is_ok());
    }

    #[test]
    fn a_complete_line_that_is_not_utf8_is_an_error() {
        let got = lines(b"ok\n\xff\xfe\nmore\n", 64);
        assert_eq!(got.len(), 2, "reading stops at the error");
        let error = got[1].as_ref().unwrap_err().to_string();
        assert!(
            error.contains("line 2") && error.contains("UTF-8"),
            "{error}"
        );
    }
}
