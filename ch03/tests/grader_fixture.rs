//! Our grader against the team's fixture of 1680 (response, answer) pairs:
//! known-truth accuracy and agreement with the book's sympy grader.

use ch03::grader::{extract_final_candidate, grade_answer, Fallback};
use serde_json::Value;

struct Case {
    response: String,
    answer: String,
    kind: String,
    equivalent: Option<bool>,
    book_grader: bool,
}

fn load_cases() -> Option<Vec<Case>> {
    let path = shared::fixtures::fixture("grader/cases.json")?;
    let text = std::fs::read_to_string(path).expect("read grader/cases.json");
    let json: Value = serde_json::from_str(&text).expect("parse grader/cases.json");
    let cases = json
        .as_array()
        .expect("an array of cases")
        .iter()
        .map(|c| Case {
            response: c["response"].as_str().expect("response").to_string(),
            answer: c["answer"].as_str().expect("answer").to_string(),
            kind: c["kind"].as_str().expect("kind").to_string(),
            equivalent: c["equivalent"].as_bool(),
            book_grader: c["book_grader"].as_bool().expect("book_grader"),
        })
        .collect();
    Some(cases)
}

/// Our verdict on a case: extract as the book does, then grade.
fn verdict(case: &Case) -> (String, bool) {
    let extracted = extract_final_candidate(&case.response, Fallback::NumberThenFull);
    let correct = grade_answer(&extracted, &case.answer);
    (extracted, correct)
}

/// Prints, per rewrite kind, every pair (known truth or debatable) where our
/// verdict differs from the book's, so ch03/README.md can account for each.
#[test]
fn disagreements_with_the_book_by_kind() {
    let Some(cases) = load_cases() else { return };
    let mut by_kind = std::collections::BTreeMap::<&str, (usize, usize)>::new();
    let (mut debatable, mut debatable_differ) = (0, 0);
    for case in cases.iter().filter(|c| c.kind != "model-answer") {
        let (extracted, got) = verdict(case);
        let entry = by_kind.entry(&case.kind).or_default();
        entry.1 += 1;
        debatable += usize::from(case.equivalent.is_none());
        if got != case.book_grader {
            entry.0 += 1;
            debatable_differ += usize::from(case.equivalent.is_none());
            println!(
                "DIFF [{}] truth {:?}: extracted {extracted:?} vs answer {:?}: ours {got}, book {}",
                case.kind, case.equivalent, case.answer, case.book_grader
            );
        }
    }
    for (kind, (differ, total)) in &by_kind {
        println!("{kind}: {differ}/{total} differ from the book");
    }
    assert!(by_kind.values().map(|v| v.1).sum::<usize>() > 1000);
    // ch03/README.md: on the 258 debatable pairs we agree with the book on all.
    assert_eq!((debatable_differ, debatable), (0, 258), "debatable pairs");
}

#[test]
fn known_truth_accuracy_is_922_of_922() {
    let Some(cases) = load_cases() else { return };
    let known: Vec<&Case> = cases
        .iter()
        .filter(|c| c.kind != "model-answer" && c.equivalent.is_some())
        .collect();
    let (mut ours, mut book) = (0, 0);
    for case in &known {
        let truth = case.equivalent.expect("filtered on known truth");
        let (extracted, got) = verdict(case);
        ours += usize::from(got == truth);
        book += usize::from(case.book_grader == truth);
        if got != truth {
            println!(
                "MISS [{}] extracted {extracted:?} vs answer {:?}: ours {got}, truth {truth}",
                case.kind, case.answer
            );
        }
    }
    println!(
        "known truth: ours {ours}/{n}, book {book}/{n}",
        n = known.len()
    );
    // The figures ch03/README.md states.
    assert_eq!(
        (ours, book, known.len()),
        (922, 681, 922),
        "known-truth pairs"
    );
}

/// Agreement with the book's sympy grader on real model answers. Where we
/// differ, the book cannot parse the ground truth (`\pi`, `\cup`, `\pm`, `=`,
/// `\in`, `\frac 59`, `,\!`, units): those verdicts are ours on purpose and
/// are listed, each with its reason, in ch03/README.md. Every answer the book
/// accepts we accept but one, and overall agreement is 476/500 (the README's figures).
#[test]
fn agreement_with_the_book_on_model_answers() {
    let Some(cases) = load_cases() else { return };
    let model: Vec<&Case> = cases.iter().filter(|c| c.kind == "model-answer").collect();
    let (mut agree, mut book_true, mut agree_on_book_true) = (0, 0, 0);
    for case in &model {
        let (extracted, got) = verdict(case);
        book_true += usize::from(case.book_grader);
        if got == case.book_grader {
            agree += 1;
            agree_on_book_true += usize::from(case.book_grader);
        } else {
            println!(
                "DISAGREE extracted {extracted:?} vs answer {:?}: ours {got}, book {}",
                case.answer, case.book_grader
            );
        }
    }
    println!("model answers: agreement {agree}/{}, on the book's accepted answers {agree_on_book_true}/{book_true}", model.len());
    // The figures ch03/README.md states: 476/500, and 456/457 of the book's accepted answers.
    assert_eq!(
        (agree, model.len()),
        (476, 500),
        "agreement on model answers"
    );
    assert_eq!(
        (agree_on_book_true, book_true),
        (456, 457),
        "agreement on the answers the book accepts"
    );
}

/// All 1680 pairs (extraction and grading) in under 2 s, none over 50 ms: the best of 3
/// passes, so a busy machine does not fail it. Measured 4.3 ms in all and 88 µs for the
/// slowest pair (dev profile), so the bounds only catch a runaway case.
#[test]
fn every_pair_grades_quickly() {
    let Some(cases) = load_cases() else { return };
    let pass = || {
        let start = std::time::Instant::now();
        let mut worst = std::time::Duration::ZERO;
        for case in &cases {
            let one = std::time::Instant::now();
            verdict(case);
            worst = worst.max(one.elapsed());
        }
        (start.elapsed(), worst)
    };
    let (total, worst) = (0..3).map(|_| pass()).min().unwrap();
    println!("{} pairs in {total:?}, worst pair {worst:?}", cases.len());
    assert!(total < std::time::Duration::from_secs(2), "{total:?}");
    assert!(worst < std::time::Duration::from_millis(50), "{worst:?}");
}
