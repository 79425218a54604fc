//! Property tests: any answer (from a small grammar of LaTeX-ish answers, or
//! an arbitrary string) grades equal to itself, also when only the parser can
//! tell (extra spaces, redundant braces), and grading is symmetric.

use ch03::grader::{grade_answer, parsed_equal};
use proptest::prelude::*;
use proptest::test_runner::RngSeed;

/// A small grammar of LaTeX-ish scalar expressions.
fn scalar() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        (0u32..1000).prop_map(|n| n.to_string()),
        (0u32..100, 1u32..100).prop_map(|(a, b)| format!("{a}.{b}")),
        (1u32..50, 1u32..50).prop_map(|(a, b)| format!(r"\frac{{{a}}}{{{b}}}")),
        (1u32..9, 1u32..9).prop_map(|(a, b)| format!(r"\dfrac{a}{b}")),
        (1u32..200).prop_map(|n| format!(r"\sqrt{{{n}}}")),
        Just(r"\pi".to_string()),
        Just("x".to_string()),
        Just("y".to_string()),
        Just(r"\infty".to_string()),
    ];
    leaf.prop_recursive(4, 24, 3, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a}+{b}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} - {b}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!(r"{a}\cdot {b}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!(r"\frac{{{a}}}{{{b}}}")),
            (inner.clone(), 0u32..5).prop_map(|(a, n)| format!("({a})^{{{n}}}")),
            inner.clone().prop_map(|a| format!(r"\sqrt{{{a}}}")),
            inner.clone().prop_map(|a| format!("-({a})")),
            (inner.clone(), inner).prop_map(|(a, b)| format!(r"{a} \pm {b}")),
        ]
    })
}

/// Answers: scalars, tuples, intervals, sets, equations, matrices, text.
fn answer() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => scalar(),
        1 => (scalar(), scalar()).prop_map(|(a, b)| format!("({a}, {b})")),
        1 => (scalar(), scalar()).prop_map(|(a, b)| format!(r"\left[{a}, {b}\right)")),
        1 => (scalar(), scalar()).prop_map(|(a, b)| format!(r"\{{{a}, {b}\}}")),
        1 => scalar().prop_map(|a| format!("x = {a}")),
        1 => (scalar(), scalar()).prop_map(|(a, b)| format!(r"\begin{{pmatrix}} {a} \\ {b} \end{{pmatrix}}")),
        1 => "[a-zA-Z]{3,10}".prop_map(|w| format!(r"\text{{{w}}}")),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        rng_seed: RngSeed::Fixed(2026),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn an_answer_equals_itself(a in answer()) {
        prop_assert!(grade_answer(&a, &a), "{a}");
        // `~` (a LaTeX space) defeats the string-level check: the parser decides.
        let spaced = format!("~{a}");
        prop_assert!(grade_answer(&a, &spaced), "{a} vs {spaced}");
    }

    #[test]
    fn redundant_braces_and_spaces_change_nothing(a in scalar()) {
        let wrapped = format!("{{ {a} }}");
        prop_assert!(grade_answer(&a, &wrapped), "{a} vs {wrapped}");
    }

    #[test]
    fn an_arbitrary_string_equals_itself(s in "\\PC{1,60}") {
        let meaningful = s.chars().any(|c| c.is_alphanumeric());
        prop_assert!(!meaningful || grade_answer(&s, &s), "{s:?}");
    }

    #[test]
    fn grading_is_symmetric(a in answer(), b in answer()) {
        prop_assert_eq!(grade_answer(&a, &b), grade_answer(&b, &a));
    }

    // Below the identical-text shortcut and the argument sort: the comparison itself.
    #[test]
    fn the_comparison_itself_is_reflexive(a in answer()) {
        prop_assert_eq!(parsed_equal(&a, &a), Some(true), "{}", a);
        let respaced = format!("  {a} ");
        prop_assert_eq!(parsed_equal(&a, &respaced), Some(true), "{} vs {}", a, respaced);
    }

    #[test]
    fn the_comparison_itself_is_symmetric(a in answer(), b in answer()) {
        prop_assert_eq!(parsed_equal(&a, &b), parsed_equal(&b, &a), "{} vs {}", a, b);
    }

    #[test]
    fn the_comparison_is_symmetric_on_near_misses(a in scalar(), k in 2u32..9) {
        // Pairs the sort could hide an asymmetry in: an answer against a scaled,
        // shifted or negated copy of itself.
        for b in [format!("{k}\\cdot ({a})"), format!("{a}+{k}"), format!("-({a})")] {
            prop_assert_eq!(parsed_equal(&a, &b), parsed_equal(&b, &a), "{} vs {}", a, b);
        }
    }

    #[test]
    fn grading_arbitrary_strings_is_symmetric(a in "\\PC{0,40}", b in "[-+0-9./(),x ]{0,12}") {
        prop_assert_eq!(grade_answer(&a, &b), grade_answer(&b, &a));
    }
}

/// Values close to the truth but not equal to it are wrong answers: the numeric
/// comparison (random points, irrational constants) allows float rounding, not
/// approximations. Each pair differs by 1e-5 to 1e-3 relative.
#[test]
fn near_misses_are_not_equal_and_exact_rewrites_are() {
    let near_misses = [
        (r"\sqrt{2}", "1.414"),
        (r"\pi", "3.1416"),
        (r"\frac{1}{3}", "0.3333"),
        ("x^2 + 1", "x^2 + 1.001"),
        ("2x", "2.0001x"),
        (r"\frac{\pi}{4}", "0.7854"),
        (r"\ln(2)", "0.6931"),
        (r"\sin(1)", "0.8415"),
        (r"\sqrt[3]{2}", "1.26"),
    ];
    for (truth, answer) in near_misses {
        assert!(
            !grade_answer(answer, truth),
            "{answer} graded equal to {truth}"
        );
        assert_eq!(
            parsed_equal(answer, truth),
            Some(false),
            "{answer} vs {truth}"
        );
    }
    let rewrites = [
        (r"\sqrt{2}\cdot\sqrt{2}", "2"),
        ("(x+1)^2", "x^2+2x+1"),
        (r"\frac{\pi}{2}", r"\pi/2"),
        (r"\sqrt{8}", r"2\sqrt{2}"),
        (r"\ln(4)", r"2\ln(2)"),
        (r"\sqrt[3]{16}", r"2\sqrt[3]{2}"),
    ];
    for (truth, answer) in rewrites {
        assert!(
            grade_answer(answer, truth),
            "{answer} graded unequal to {truth}"
        );
    }
}
