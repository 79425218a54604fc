//! The grader fuzzed: LaTeX-ish token soup, arbitrary text and deeply nested input through
//! `extract_final_candidate` and `grade_answer`. Any verdict is fine; a panic, a stack
//! overflow or a slow case is not. A fixed seed keeps CI reproducible.

use std::time::{Duration, Instant};

use ch03::grader::{extract_final_candidate, grade_answer, Fallback};
use proptest::prelude::*;
use proptest::test_runner::RngSeed;

/// Pieces of the answers models write.
const TOKENS: &[&str] = &[
    r"\boxed{",
    "{",
    "}",
    r"\frac",
    r"\dfrac",
    r"\sqrt",
    "^",
    "_",
    "0",
    "1",
    "7",
    "42",
    ".",
    ",",
    "(",
    ")",
    "[",
    "]",
    r"\left",
    r"\right",
    r"\pi",
    r"\infty",
    "=",
    r"\text{",
    r"\!",
    "~",
    " ",
    "-",
    "+",
    r"\cdot",
    r"\times",
    "/",
    "%",
    "$",
    r"\\",
    r"\begin{pmatrix}",
    r"\end{pmatrix}",
    "&",
    "x",
    "é",
    "𝟙",
    "\n",
    r"\{",
    r"\}",
    "e",
    "E",
    "1e308",
    "0.000",
    r"^\circ",
    r"\%",
];

fn soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TOKENS), 0..80).prop_map(|t| t.concat())
}

/// `depth` nested wrappers around a number: braces, fractions, roots, parentheses.
fn nested() -> impl Strategy<Value = String> {
    (1..2000usize, 0..4usize).prop_map(|(depth, kind)| {
        let (open, close) = [
            ("{", "}"),
            (r"\frac{", "}{2}"),
            (r"\sqrt{", "}"),
            ("(", ")"),
        ][kind];
        format!("{}3{}", open.repeat(depth), close.repeat(depth))
    })
}

fn answer() -> impl Strategy<Value = String> {
    prop_oneof![4 => soup(), 1 => nested(), 1 => ".{0,80}"]
}

/// Grades `pred` against `gt` and extracts from `text`, within a time bound.
fn exercise(text: &str, gt: &str) -> Result<(), TestCaseError> {
    let start = Instant::now();
    let pred = extract_final_candidate(text, Fallback::NumberThenFull);
    let _ = grade_answer(&pred, gt);
    let _ = grade_answer(text, gt);
    let elapsed = start.elapsed();
    prop_assert!(
        elapsed < Duration::from_secs(2),
        "{elapsed:?} for {text:?} vs {gt:?}"
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 10_000,
        rng_seed: RngSeed::Fixed(2026),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_grader_survives_any_answer(text in answer(), gt in answer()) {
        exercise(&text, &gt)?;
        exercise(&format!(r"The answer is \boxed{{{text}}}."), &gt)?;
    }
}
