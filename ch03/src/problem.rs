//! One evaluation problem in MATH-500's layout, and reading a file of them
//! (a JSON array, as the book ships MATH-500, or JSON lines).

use std::path::Path;

use serde::{Deserialize, Serialize};
use shared::{Error, Result};

/// One problem with its ground-truth answer: MATH-500's fields (book ch. 3.8).
/// Only `problem` and `answer` are required when reading a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// The question, in Markdown with LaTeX math.
    pub problem: String,
    /// A worked solution ending in `\boxed{answer}` (may be empty).
    #[serde(default)]
    pub solution: String,
    /// The ground-truth final answer.
    pub answer: String,
    /// The subject, e.g. `Algebra` or `Arithmetic` (the MATH training set calls it `type`).
    #[serde(default, alias = "type")]
    pub subject: String,
    /// Difficulty from 1 (easy) to 5 (hard), when known: a number, or the MATH training
    /// set's `"Level 3"` (`"Level ?"` is unknown).
    #[serde(default, deserialize_with = "level_number")]
    pub level: Option<u32>,
    /// A stable id, e.g. `test/precalculus/807.json` (a number in the MATH training set).
    #[serde(default, deserialize_with = "id_text")]
    pub unique_id: String,
}

/// A level written as a number, or as `"Level N"` (MATH's own files).
fn level_number<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<u32>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        serde_json::Value::String(text) => {
            text.trim().trim_start_matches("Level").trim().parse().ok()
        }
        _ => None,
    })
}

/// An id written as a string or a number.
fn id_text<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<String, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(text) => text,
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    })
}

/// The largest problems file we read (MATH-500 is about 0.4 MB).
pub const MAX_PROBLEMS_FILE_BYTES: u64 = 256 << 20;

/// Reads problems from `path`: a JSON array of objects, or one object a line.
pub fn load_problems(path: &Path) -> Result<Vec<Problem>> {
    let size = std::fs::metadata(path)
        .map_err(|e| Error::io(path, e))?
        .len();
    if size > MAX_PROBLEMS_FILE_BYTES {
        return Err(Error::format(
            path,
            format!("{size} bytes is more than the {MAX_PROBLEMS_FILE_BYTES}-byte limit for a problems file"),
        ));
    }
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    parse_problems(&text).map_err(|msg| Error::format(path, msg))
}

/// Parses a JSON array of problems or JSON lines; the message says what is wrong.
pub fn parse_problems(text: &str) -> std::result::Result<Vec<Problem>, String> {
    let problems = if text.trim_start().starts_with('[') {
        serde_json::from_str::<Vec<Problem>>(text)
            .map_err(|e| format!("not a JSON array of problems with `problem` and `answer`: {e}"))?
    } else {
        text.lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(i, line)| {
                serde_json::from_str::<Problem>(line).map_err(|e| {
                    format!(
                        "line {}: not a problem with `problem` and `answer`: {e}",
                        i + 1
                    )
                })
            })
            .collect::<std::result::Result<Vec<_>, _>>()?
    };
    if problems.is_empty() {
        return Err("holds no problems".into());
    }
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_array_and_json_lines() {
        let array = r#"[{"problem": "1+1?", "answer": "2", "level": 1}]"#;
        let lines = "{\"problem\": \"1+1?\", \"answer\": \"2\", \"level\": 1}\n\n";
        let a = parse_problems(array).unwrap();
        assert_eq!(a, parse_problems(lines).unwrap());
        assert_eq!(a[0].level, Some(1));
        assert_eq!(a[0].solution, "");
    }

    #[test]
    fn reads_the_math_training_sets_layout() {
        let line = r#"[{"problem": "If x+2=8, x?", "solution": "So \\boxed{6}.", "answer": "6", "level": "Level 3", "type": "Algebra", "unique_id": 4}, {"problem": "p", "answer": "a", "level": "Level ?"}]"#;
        let p = parse_problems(line).unwrap();
        assert_eq!(p[0].level, Some(3));
        assert_eq!(
            (p[0].subject.as_str(), p[0].unique_id.as_str()),
            ("Algebra", "4")
        );
        assert_eq!(p[1].level, None);
    }

    #[test]
    fn says_what_is_wrong() {
        assert!(parse_problems("[]").unwrap_err().contains("no problems"));
        let e = parse_problems("{\"problem\": \"x\"}\n").unwrap_err();
        assert!(e.contains("line 1") && e.contains("answer"), "{e}");
        assert!(parse_problems("[{\"answer\": 1}]").is_err());
    }
}
