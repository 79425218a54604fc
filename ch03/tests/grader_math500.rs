//! The book's MATH-500 grader tests: every answer grades correct against
//! itself and boxed, and a constant `\boxed{123}` matches none of them.

use ch03::grader::{extract_final_candidate, grade_answer, Fallback};

/// MATH-500: the team's copy (`../shared/data`) when it is beside the workspace, else
/// ch03's cached download, else a failure naming the command that caches it.
fn math500_answers() -> Option<Vec<String>> {
    let cached = ch03::math500::MATH500.cache_path();
    let path = shared::fixtures::team_data("math500_test.json")
        .or_else(|| cached.exists().then_some(cached))
        .or_else(|| {
            shared::fixtures::missing(
                "MATH-500 (math500_test.json)",
                "cache it once with `cargo run -p ch03 -- math500 --out math500_test.json` \
                 (it downloads the book's copy)",
            )
        })?;
    let text = std::fs::read_to_string(path).expect("read math500_test.json");
    let json: serde_json::Value = serde_json::from_str(&text).expect("parse math500_test.json");
    let answers: Vec<String> = json
        .as_array()
        .expect("an array of problems")
        .iter()
        .map(|p| p["answer"].as_str().expect("answer").to_string())
        .collect();
    assert_eq!(answers.len(), 500);
    Some(answers)
}

#[test]
fn every_answer_grades_correct_against_itself() {
    let Some(answers) = math500_answers() else {
        return;
    };
    let wrong: Vec<&String> = answers.iter().filter(|a| !grade_answer(a, a)).collect();
    assert!(wrong.is_empty(), "self-grading failed for {wrong:?}");
}

#[test]
fn every_boxed_answer_extracts_and_grades_correct() {
    let Some(answers) = math500_answers() else {
        return;
    };
    let wrong: Vec<&String> = answers
        .iter()
        .filter(|a| {
            let extracted =
                extract_final_candidate(&format!("\\boxed{{{a}}}"), Fallback::NumberThenFull);
            !grade_answer(&extracted, a)
        })
        .collect();
    assert!(wrong.is_empty(), "boxed grading failed for {wrong:?}");
}

#[test]
fn a_constant_answer_matches_none() {
    let Some(answers) = math500_answers() else {
        return;
    };
    let extracted = extract_final_candidate(r"\boxed{123}", Fallback::NumberThenFull);
    let matched: Vec<&String> = answers
        .iter()
        .filter(|a| grade_answer(&extracted, a))
        .collect();
    assert!(
        matched.is_empty(),
        "\\boxed{{123}} graded correct against {matched:?}"
    );
}

/// Rewrites that keep an answer's meaning (the fixture's kinds, applied to
/// every MATH-500 answer): `\dfrac`, no `\left`/`\right`, a `\$` sign, a whole
/// `\text{…}` wrapper, a spaced box inside `$…$`.
#[test]
fn meaning_preserving_rewrites_grade_correct() {
    let Some(answers) = math500_answers() else {
        return;
    };
    let mut wrong = Vec::new();
    for a in &answers {
        let rewrites = [
            a.replace("\\frac", "\\dfrac"),
            a.replace("\\left", "").replace("\\right", ""),
            format!("\\${a}"),
            format!("\\text{{{a}}}"),
            extract_final_candidate(&format!("So $\\boxed{{ {a} }}$."), Fallback::NumberThenFull),
        ];
        wrong.extend(rewrites.into_iter().filter(|r| !grade_answer(r, a)));
    }
    assert!(wrong.is_empty(), "rewrites graded wrong: {wrong:?}");
}
