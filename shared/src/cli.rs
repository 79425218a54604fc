//! Small helpers shared by the chapters' command lines.

use crate::{Error, Result};

/// Parses a `--ids 1,2,3` argument into token ids.
pub fn parse_ids(text: &str) -> Result<Vec<u32>> {
    let ids = text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<u32>().map_err(|_| {
                Error::InvalidArgument(format!(
                    "--ids: `{s}` is not a token id (expected e.g. 1,2,3)"
                ))
            })
        })
        .collect::<Result<Vec<u32>>>()?;
    if ids.is_empty() {
        return Err(Error::InvalidArgument(
            "--ids is empty: give at least one token id".into(),
        ));
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_ids_accepts_spaces_and_rejects_words_and_empty() {
        assert_eq!(parse_ids("1, 2,3").unwrap(), vec![1, 2, 3]);
        assert!(parse_ids("1,x").unwrap_err().to_string().contains("`x`"));
        assert!(parse_ids(" , ").unwrap_err().to_string().contains("empty"));
    }
}
