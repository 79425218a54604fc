//! ch. 4 and 5's sampling and scoring steps against the book's own Python functions
//! (`fixtures/book/functions.json`, sections `ch04.top_p_filter`,
//! `ch04.scale_logits_by_temperature` and `ch05.heuristic_score`; the fixture's README
//! gives the semantics and the tolerance: 1e-5 relative, with an absolute floor of 1e-6
//! near 0; extracted strings exactly).

use ch03::{extract_final_candidate, Fallback};
use ch04::sampling::{scale_logits_by_temperature, top_p_filter};
use ch04::scoring::{heuristic_score, HeuristicWeights};
use serde_json::Value;
use shared::fixtures::{assert_all_checked, fixture_json, json_floats};

/// The cases of one section of the book fixture, or `None` under `$RFS_FIXTURES`
/// without the file.
fn section(name: &str) -> Option<Vec<Value>> {
    let book = fixture_json("book/functions.json")?;
    let cases = book[name]
        .as_array()
        .unwrap_or_else(|| panic!("book/functions.json lacks the section {name}"));
    Some(cases.clone())
}

/// `got` within 1e-5 relative (1e-6 absolute near 0) of `want`, element by element.
fn assert_close(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let bound = (1e-5 * w.abs()).max(1e-6);
        assert!(
            (g - w).abs() <= bound,
            "{what}: [{i}] {g} vs the book's {w}"
        );
    }
}

#[test]
fn top_p_filter_matches_the_book() {
    let Some(cases) = section("ch04.top_p_filter") else {
        return;
    };
    let mut order = Vec::new();
    let mut checked = 0;
    for (i, case) in cases.iter().enumerate() {
        let mut probs = json_floats(&case["inputs"]["probas"]);
        // The book's `None` means no filtering, as a top-p of 1 does.
        let top_p = case["inputs"]["top_p"].as_f64().unwrap_or(1.0) as f32;
        top_p_filter(&mut probs, top_p, &mut order);
        let expected = &case["expected"];
        // Our sort is stable (lower id first on ties): the book's stable-sort twin.
        let want = json_floats(
            expected
                .get("filtered_stable_sort")
                .filter(|v| !v.is_null())
                .unwrap_or(&expected["filtered"]),
        );
        assert_close(&probs, &want, &format!("case {i}, top_p {top_p}"));
        if let Some(kept) = expected["kept"].as_u64() {
            let ours = probs.iter().filter(|&&p| p > 0.0).count() as u64;
            let nonzero_in = json_floats(&case["inputs"]["probas"])
                .iter()
                .filter(|&&p| p > 0.0)
                .count() as u64;
            assert_eq!(ours, kept.min(nonzero_in), "case {i}: tokens kept");
        }
        checked += 1;
    }
    assert_all_checked(checked, cases.len(), "ch04.top_p_filter");
}

#[test]
fn scale_logits_by_temperature_matches_the_book() {
    let Some(cases) = section("ch04.scale_logits_by_temperature") else {
        return;
    };
    let mut checked = 0;
    for (i, case) in cases.iter().enumerate() {
        let mut logits = json_floats(&case["inputs"]["logits"]);
        let temperature = case["inputs"]["temperature"].as_f64().unwrap() as f32;
        let result = scale_logits_by_temperature(&mut logits, temperature);
        if case["expected"]["error"].as_bool().unwrap() {
            assert!(result.is_err(), "case {i}: T = {temperature} is refused");
        } else {
            result.unwrap();
            let want = json_floats(&case["expected"]["scaled"]);
            assert_close(&logits, &want, &format!("case {i}, T = {temperature}"));
        }
        checked += 1;
    }
    assert_all_checked(checked, cases.len(), "ch04.scale_logits_by_temperature");
}

#[test]
fn heuristic_score_matches_the_book() {
    let Some(cases) = section("ch05.heuristic_score") else {
        return;
    };
    // The fixture's alternative weights (brevity 100, boxed 3, extract 0.5, fulltext 0.25).
    let alt = HeuristicWeights {
        brevity_bonus: 100.0,
        boxed_bonus: 3.0,
        extract_bonus: 0.5,
        fulltext_bonus: 0.25,
    };
    let mut checked = 0;
    for (i, case) in cases.iter().enumerate() {
        let answer = case["inputs"]["answer"].as_str().unwrap();
        let expected = &case["expected"];
        for (fallback, key) in [
            (Fallback::None, "cand_boxed"),
            (Fallback::NumberOnly, "cand_number_only"),
            (Fallback::NumberThenFull, "cand_number_then_full"),
        ] {
            assert_eq!(
                extract_final_candidate(answer, fallback),
                expected[key].as_str().unwrap(),
                "case {i} {answer:?}: {key}"
            );
        }
        for (weights, key) in [
            (HeuristicWeights::default(), "score_default"),
            (alt, "score_alt"),
        ] {
            let (got, want) = (
                heuristic_score(answer, &weights),
                expected[key].as_f64().unwrap(),
            );
            assert!(
                (got - want).abs() <= (1e-5 * want.abs()).max(1e-6),
                "case {i} {answer:?}: {key} {got}, the book's {want}"
            );
        }
        checked += 1;
    }
    assert_all_checked(checked, cases.len(), "ch05.heuristic_score");
}
