//! What a `--dataset` argument names: the generated arith problems (test
//! split), MATH-500, or a problems file; shared by the chapters' `eval`
//! commands so that ch03, ch04 and ch05 evaluate on the same problems.

use std::path::Path;

use shared::{Error, Result};

use crate::arith::{generate_arith, parse_levels, ArithConfig, Split};
use crate::math500::{load_math500_test, load_math_train};
use crate::problem::{load_problems, Problem};

/// Problems generated for `arith` when no limit is given.
pub const ARITH_DEFAULT_N: usize = 500;

/// `n` arith problems of the test split, drawn from `seed` at `levels` (e.g. `1-5`).
pub fn arith_test_problems(n: usize, seed: u64, levels: &str) -> Result<Vec<Problem>> {
    let config = ArithConfig {
        n,
        seed,
        levels: parse_levels(levels)?,
        split: Split::Test,
    };
    generate_arith(&config)
}

/// The problems `dataset` names, cut to `limit`: `arith` (generated, test
/// split, `limit` problems or [`ARITH_DEFAULT_N`]), `math500` or `math-train` (the
/// book's MATH training set; from `data`, else the cache, else a download), or the
/// path of a problems file.
pub fn load_dataset(
    dataset: &str,
    data: Option<&Path>,
    limit: Option<usize>,
    seed: u64,
    levels: &str,
) -> Result<Vec<Problem>> {
    let mut problems = match dataset {
        "arith" => arith_test_problems(limit.unwrap_or(ARITH_DEFAULT_N), seed, levels)?,
        "math500" => load_math500_test(data)?,
        "math-train" => load_math_train(data)?,
        path if Path::new(path).exists() => load_problems(Path::new(path))?,
        other => {
            return Err(Error::InvalidArgument(format!(
                "--dataset {other}: expected arith, math500, math-train or the path of a problems file (no such file)"
            )))
        }
    };
    if let Some(limit) = limit {
        problems.truncate(limit);
    }
    Ok(problems)
}
