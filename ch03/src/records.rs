//! The evaluation log: one JSON line a problem, appended and flushed as each
//! is graded, so a killed run loses at most the problem in flight and
//! `--resume` continues where it stopped.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use shared::io::{check_regular_file, open_lines, Line};
use shared::{Error, Result};

/// One graded problem: the book's record (`index`, `problem`, `gtruth_answer`,
/// `generated_text`, `extracted`, `correct`) plus what it cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalRecord {
    /// 1-based position in the dataset, as in the book.
    pub index: usize,
    /// The question.
    pub problem: String,
    /// The ground-truth answer.
    pub gtruth_answer: String,
    /// The model's whole response.
    pub generated_text: String,
    /// The answer extracted from the response.
    pub extracted: String,
    /// Whether the extracted answer grades equal to the ground truth.
    pub correct: bool,
    /// Tokens generated (0 in a log of the book's `evaluate_math500.py`, which has none).
    #[serde(default)]
    pub tokens: usize,
    /// Seconds spent on this problem (prompt, generation, grading). With
    /// `eval --batch N` (N > 1), its time in the batch: from its prefill until
    /// it was graded, while up to N−1 other problems were decoded beside it, so
    /// the seconds of a run add up to more than its wall time. 0 in a book log.
    #[serde(default)]
    pub seconds: f64,
    /// The problem's difficulty level, when the dataset has one.
    #[serde(default)]
    pub level: Option<u32>,
}

/// An open log of JSON-line records (chapter 3's [`EvalRecord`], or any
/// record type a later chapter logs): a handle to append more.
pub struct RecordLog {
    path: PathBuf,
    file: File,
}

impl RecordLog {
    /// Creates `path` for a new run; refuses to overwrite an existing log
    /// (that would lose work) unless `resume` continues it instead, and refuses
    /// a path that is not a regular file (a device such as `/dev/null` would
    /// swallow the records, a symlink would be written through).
    /// Returns the log and the records it already holds.
    pub fn open<R: DeserializeOwned>(path: &Path, resume: bool) -> Result<(Self, Vec<R>)> {
        check_regular_file(path)?;
        if path.exists() && !resume {
            return Err(Error::InvalidArgument(format!(
                "{} already exists: pass --resume to continue it, or choose another --out",
                path.display()
            )));
        }
        let records = if path.exists() {
            read_records_repairing(path)?
        } else {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
            }
            Vec::new()
        };
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        Ok((
            Self {
                path: path.to_owned(),
                file,
            },
            records,
        ))
    }

    /// Appends one record as a JSON line and flushes it to the file.
    pub fn append<R: Serialize>(&mut self, record: &R) -> Result<()> {
        let mut line = serde_json::to_string(record)
            .map_err(|e| Error::format(&self.path, format!("cannot encode a record: {e}")))?;
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .and_then(|()| self.file.flush())
            .map_err(|e| Error::io(&self.path, e))
    }
}

/// Reads a log's records. A last line cut off mid-write (a killed run; at any byte, inside
/// a UTF-8 character too) is dropped from the file; a damaged line elsewhere is an error
/// naming it.
pub fn read_records_repairing<R: DeserializeOwned>(path: &Path) -> Result<Vec<R>> {
    let mut lines = open_lines(path)?;
    let mut records = Vec::new();
    for line in lines.by_ref() {
        let (number, Line::Complete(line)) = line? else {
            break; // cut off mid-write: dropped below
        };
        if !line.trim().is_empty() {
            let record = serde_json::from_str::<R>(&line).map_err(|e| {
                Error::format(
                    path,
                    format!("line {number} is not an evaluation record: {e}"),
                )
            })?;
            records.push(record);
        }
    }
    let good_bytes = lines.complete_bytes();
    let len = std::fs::metadata(path)
        .map_err(|e| Error::io(path, e))?
        .len();
    if good_bytes < len {
        let file = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        file.set_len(good_bytes).map_err(|e| Error::io(path, e))?;
    }
    Ok(records)
}

/// Replaces the log at `path` with `records`, atomically (a temporary file
/// beside it, then a rename), so an interruption leaves the old log whole.
pub fn write_records_atomically<R: Serialize>(path: &Path, records: &[R]) -> Result<()> {
    let mut text = String::new();
    for record in records {
        let line = serde_json::to_string(record)
            .map_err(|e| Error::format(path, format!("cannot encode a record: {e}")))?;
        text.push_str(&line);
        text.push('\n');
    }
    shared::io::write_atomically(path, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(index: usize) -> EvalRecord {
        EvalRecord {
            index,
            problem: format!("p{index}"),
            gtruth_answer: "2".into(),
            generated_text: "\\boxed{2}".into(),
            extracted: "2".into(),
            correct: true,
            tokens: 5,
            seconds: 0.25,
            level: Some(1),
        }
    }

    fn temp_path(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("rfs-records-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir.join("log.jsonl")
    }

    #[test]
    fn appends_reads_back_and_refuses_to_overwrite() {
        let path = temp_path("roundtrip");
        let (mut log, old) = RecordLog::open::<EvalRecord>(&path, false).unwrap();
        assert!(old.is_empty());
        log.append(&record(1)).unwrap();
        log.append(&record(2)).unwrap();
        drop(log);
        let err = RecordLog::open::<EvalRecord>(&path, false)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("--resume"), "{err}");
        let (_, old) = RecordLog::open::<EvalRecord>(&path, true).unwrap();
        assert_eq!(old, vec![record(1), record(2)]);
    }

    #[test]
    fn a_device_or_a_folder_is_not_a_log() {
        let dir = temp_path("special");
        std::fs::create_dir_all(&dir).unwrap();
        for path in [Path::new("/dev/null"), dir.as_path()] {
            let err = RecordLog::open::<EvalRecord>(path, true)
                .err()
                .unwrap()
                .to_string();
            assert!(err.contains("not a regular file"), "{err}");
        }
    }

    #[test]
    fn a_line_cut_off_mid_write_is_dropped() {
        let path = temp_path("cut");
        let (mut log, _) = RecordLog::open::<EvalRecord>(&path, false).unwrap();
        log.append(&record(1)).unwrap();
        drop(log);
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("{\"index\": 2, \"probl");
        std::fs::write(&path, &text).unwrap();
        let (mut log, old) = RecordLog::open::<EvalRecord>(&path, true).unwrap();
        assert_eq!(old, vec![record(1)]);
        log.append(&record(2)).unwrap();
        assert_eq!(
            read_records_repairing::<EvalRecord>(&path).unwrap(),
            vec![record(1), record(2)]
        );
    }

    #[test]
    fn a_line_cut_inside_a_character_is_dropped() {
        let path = temp_path("cut-utf8");
        let mut second = record(2);
        second.generated_text = "東京 \\boxed{2}".into();
        let line = serde_json::to_string(&second).unwrap();
        let cut = line.find('東').unwrap() + 1;
        let (mut log, _) = RecordLog::open::<EvalRecord>(&path, false).unwrap();
        log.append(&record(1)).unwrap();
        drop(log);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend_from_slice(&line.as_bytes()[..cut]);
        std::fs::write(&path, &bytes).unwrap();
        let (mut log, old) = RecordLog::open::<EvalRecord>(&path, true).unwrap();
        assert_eq!(old, vec![record(1)]);
        log.append(&second).unwrap();
        assert_eq!(
            read_records_repairing::<EvalRecord>(&path).unwrap(),
            vec![record(1), second]
        );
    }

    #[test]
    fn atomic_rewrite_replaces_the_log() {
        let path = temp_path("rewrite");
        let (mut log, _) = RecordLog::open::<EvalRecord>(&path, false).unwrap();
        log.append(&record(1)).unwrap();
        drop(log);
        let mut changed = record(1);
        changed.correct = false;
        write_records_atomically(&path, &[changed.clone(), record(2)]).unwrap();
        assert_eq!(
            read_records_repairing::<EvalRecord>(&path).unwrap(),
            vec![changed, record(2)]
        );
    }

    #[test]
    fn a_damaged_line_in_the_middle_is_an_error() {
        let path = temp_path("damaged");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "not json\n{}\n").unwrap();
        let err = read_records_repairing::<EvalRecord>(&path)
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 1"), "{err}");
    }
}
