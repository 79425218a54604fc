//! ch. 4 and 5's sampling and scoring steps against the book's own Python functions
//! (`fixtures/book/functions.json`, sections `ch04.top_p_filter`,
//! `ch04.scale_logits_by_temperature`, `ch05.heuristic_score` and
//! `ch04.self_consistency_vote` with the scripts' choices; the fixture's README
//! gives the semantics and the tolerance: 1e-5 relative, with an absolute floor of 1e-6
//! near 0; extracted strings exactly).

use ch03::{extract_final_candidate, Fallback};
use ch04::book_vote::{
    book_best_of_n_heuristic_choice, book_scorer_heuristic_choice, book_script_choice,
    book_self_consistency_vote, BookVote,
};
use ch04::sampling::{scale_logits_by_temperature, top_p_filter};
use ch04::scoring::{heuristic_score, HeuristicWeights};
use ch04::self_consistency::{
    self_consistency_vote, GroupScore, Grouping, SampleScores, TieBreak, VoteRule,
};
use serde_json::Value;
use shared::fixtures::{assert_all_checked, book_section, json_floats};

/// `got` within 1e-5 relative (1e-6 absolute near 0) of `want`, element by element.
fn assert_close(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        shared::fixtures::note_deviation(f64::from(g), f64::from(w));
        let bound = (1e-5 * w.abs()).max(1e-6);
        assert!(
            (g - w).abs() <= bound,
            "{what}: [{i}] {g} vs the book's {w}"
        );
    }
}

#[test]
fn top_p_filter_matches_the_book() {
    let Some(cases) = book_section("ch04.top_p_filter") else {
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
    let Some(cases) = book_section("ch04.scale_logits_by_temperature") else {
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
    let Some(cases) = book_section("ch05.heuristic_score") else {
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
            shared::fixtures::note_deviation(got, want);
            assert!(
                (got - want).abs() <= (1e-5 * want.abs()).max(1e-6),
                "case {i} {answer:?}: {key} {got}, the book's {want}"
            );
        }
        checked += 1;
    }
    assert_all_checked(checked, cases.len(), "ch05.heuristic_score");
}

/// A fixture's list of strings.
fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .expect("a list of strings")
        .iter()
        .map(|s| s.as_str().expect("a string").to_string())
        .collect()
}

/// A script's choice as the fixture records it: `{"extracted": x}`, with `null` or an
/// `{"error": ...}` (the script itself raised) for no answer.
fn choice(v: &Value) -> Option<String> {
    v.get("extracted")
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// `vote`'s counts, groups, winners and final answer against the fixture's `expected`.
fn assert_vote(vote: &BookVote, expected: &Value, what: &str) {
    let counts: Vec<(String, usize)> = expected["counts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p[0].as_str().unwrap().to_string(),
                p[1].as_u64().unwrap() as usize,
            )
        })
        .collect();
    assert_eq!(vote.counts, counts, "{what}: counts");
    let groups: Vec<(String, Vec<usize>)> = expected["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let members = p[1].as_array().unwrap().iter();
            let members = members.map(|i| i.as_u64().unwrap() as usize).collect();
            (p[0].as_str().unwrap().to_string(), members)
        })
        .collect();
    assert_eq!(vote.groups, groups, "{what}: groups");
    assert_eq!(
        vote.majority_winners,
        strings(&expected["majority_winners"]),
        "{what}: winners"
    );
    let final_answer = expected["final_answer"].as_str().map(str::to_string);
    assert_eq!(vote.final_answer, final_answer, "{what}: final answer");
    assert_eq!(
        book_script_choice(vote).map(str::to_string),
        choice(&expected["script_choice"]),
        "{what}: the script's choice"
    );
}

#[test]
fn self_consistency_vote_and_the_scripts_choices_match_the_book() {
    let Some(cases) = book_section("ch04.self_consistency_vote") else {
        return;
    };
    let weights = HeuristicWeights::default();
    let (mut checked, mut ties) = (0, 0);
    for (i, case) in cases.iter().enumerate() {
        let short = strings(&case["inputs"]["short_answers"]);
        let full = strings(&case["inputs"]["full_answers"]);
        let expected = &case["expected"];
        let vote = book_self_consistency_vote(&short, false);
        assert_vote(&vote, expected, &format!("case {i}"));
        assert_eq!(vote.samples_used, short.len());
        ties += usize::from(vote.final_answer.is_none() && !short.is_empty());

        let early = book_self_consistency_vote(&short, true);
        assert_vote(
            &early,
            &expected["early_stop"],
            &format!("case {i}, early stop"),
        );
        let used = expected["early_stop"]["samples_used"].as_u64().unwrap() as usize;
        assert_eq!(
            early.samples_used, used,
            "case {i}: samples used with early stop"
        );

        let scores: Vec<f64> = full.iter().map(|f| heuristic_score(f, &weights)).collect();
        let want = expected["heuristic_scores"].as_array().unwrap();
        assert_eq!(scores.len(), want.len(), "case {i}: scores");
        for (got, want) in scores.iter().zip(want) {
            let want = want.as_f64().unwrap();
            shared::fixtures::note_deviation(*got, want);
            assert!(
                (got - want).abs() <= 1e-5 * want.abs().max(0.1),
                "case {i}: {got} vs {want}"
            );
        }
        assert_eq!(
            book_scorer_heuristic_choice(&vote, &full).map(str::to_string),
            choice(&expected["scorer_heuristic_choice"]),
            "case {i}: the scorer script's heuristic choice"
        );
        assert_eq!(
            book_script_choice(&vote).map(str::to_string),
            choice(&expected["scorer_none_choice"]),
            "case {i}: the scorer script's choice without scoring"
        );
        assert_eq!(
            book_best_of_n_heuristic_choice(&short, &full).map(str::to_string),
            choice(&expected["best_of_n_heuristic_choice"]),
            "case {i}: best-of-N's heuristic choice"
        );
        // What `ch04 eval --grouping exact --group-score max` runs gives the scripts' answers.
        let scores = SampleScores {
            avg_logprobs: None,
            heuristic: Some(&scores),
        };
        for (tie_break, early_stop, key) in [
            (TieBreak::FirstSeen, false, "script_choice"),
            (TieBreak::Heuristic, false, "scorer_heuristic_choice"),
            (TieBreak::FirstSeen, true, "early_stop"),
        ] {
            let rule = VoteRule {
                tie_break,
                grouping: Grouping::Exact,
                group_score: GroupScore::Max,
                early_stop,
            };
            let ours = self_consistency_vote(&short, scores, rule);
            let want = match key {
                "early_stop" => choice(&expected["early_stop"]["script_choice"]),
                _ => choice(&expected[key]),
            };
            assert_eq!(ours.final_answer, want, "case {i}: {rule:?}");
            if early_stop {
                assert_eq!(ours.samples_used, early.samples_used, "case {i}");
            }
        }
        checked += 1;
    }
    assert_all_checked(checked, cases.len(), "ch04.self_consistency_vote");
    assert!(ties > 0, "the fixture exercises ties");
}
