//! Hostile answers get a verdict quickly: no hang, panic, stack overflow or
//! huge allocation. Each pair must grade in under 50 ms (the best of three
//! runs, so a busy machine does not make the test flaky).

use ch03::grader::{extract_final_candidate, grade_answer, Fallback};
use std::time::{Duration, Instant};

const BUDGET: Duration = Duration::from_millis(50);

/// Grades `(pred, gt)` three times; returns the verdict and the best time.
fn timed_grade(pred: &str, gt: &str) -> (bool, Duration) {
    let mut best = Duration::MAX;
    let mut verdict = false;
    for _ in 0..3 {
        let start = Instant::now();
        verdict = grade_answer(pred, gt);
        best = best.min(start.elapsed());
    }
    (verdict, best)
}

fn assert_fast(pred: &str, gt: &str) -> bool {
    let (verdict, took) = timed_grade(pred, gt);
    let shown: String = pred.chars().take(40).collect();
    assert!(took < BUDGET, "{shown:?}… took {took:?}");
    verdict
}

const MB: usize = 1 << 20;

#[test]
fn megabyte_inputs() {
    for unit in [
        "1", "{", "(", "}", "\\sqrt{", "\\frac{", "\\boxed{", "x^", "-", "1+", "\\pm", "é", "$",
        "<|",
    ] {
        let big = unit.repeat(MB / unit.len());
        assert_fast(&big, &big);
        assert!(!assert_fast(&big, "1"));
        let start = Instant::now();
        extract_final_candidate(&big, Fallback::NumberThenFull);
        assert!(
            start.elapsed() < BUDGET,
            "extracting from {unit:?}×N took {:?}",
            start.elapsed()
        );
        let start = Instant::now();
        ch03::grader::normalize_text(&big);
        assert!(
            start.elapsed() < BUDGET * 4,
            "normalizing {unit:?}×N took {:?}",
            start.elapsed()
        );
    }
}

#[test]
fn deep_nesting() {
    for (open, close) in [
        ("{", "}"),
        ("(", ")"),
        ("[", "]"),
        ("\\sqrt{", "}"),
        ("\\frac{1}{", "}"),
        ("-(", ")"),
    ] {
        for depth in [50, 500, 100_000] {
            let nested = format!("{}1{}", open.repeat(depth), close.repeat(depth));
            assert_fast(&nested, &nested);
            assert_fast(&nested, "1");
        }
    }
    let unbalanced = "(".repeat(100_000);
    assert!(!assert_fast(&unbalanced, "1"));
}

#[test]
fn huge_numbers_and_towers() {
    let thousand_digits = "7".repeat(1000);
    assert!(assert_fast(&thousand_digits, &thousand_digits));
    assert!(!assert_fast(&thousand_digits, &"7".repeat(999)));
    let cases = [
        (r"10^{10^{10}}", r"10^{10^{10}}", true),
        (r"10^{10^{10}}", r"10^{10^{10}} + 1", false),
        (r"2^{2^{2^{2^{2}}}}", r"2^{2^{2^{2^{2}}}}", true),
        (r"2^{2^{2^{2}}}", "65536", true),
        (r"9^{9^{9}}", "0", false),
        (r"2^{-100000}", "0", false),
        ("1000!", "1000!", true),
        ("(10^{100})!", "1", false),
        ("170!", "171!/171", true),
        (r"x^{1000}", r"x^{1000}", true),
        (r"x^{1000}", r"x^{999}", false),
        (r"\frac{1}{0}", "1/0", true),
        (r"0^{-1}", "1", false),
        (r"\sqrt{9007199254740881}", r"\sqrt{9007199254740881}", true),
        (
            r"\sqrt{9007199254740881}",
            r"\sqrt{9007199254740880}",
            false,
        ),
        (r"\sqrt{99999999999999999999999999999}", "1", false),
        (r"1e999999999", "1", false),
        (
            r"0.000000000000000000000000000000000000000000000000001",
            "0",
            false,
        ),
    ];
    for (a, b, expected) in cases {
        assert_eq!(assert_fast(a, b), expected, "{a} vs {b}");
    }
}

#[test]
fn many_items_and_branches() {
    let items: Vec<String> = (0..400).map(|i| i.to_string()).collect();
    let forward = format!("\\{{{}\\}}", items.join(","));
    let backward = format!(
        "\\{{{}\\}}",
        items.iter().rev().cloned().collect::<Vec<_>>().join(",")
    );
    assert_fast(&forward, &backward);
    let small: Vec<String> = (0..60).map(|i| format!("{i}/7")).collect();
    let small_fwd = format!("\\{{{}\\}}", small.join(","));
    let small_back = format!(
        "\\{{{}\\}}",
        small.iter().rev().cloned().collect::<Vec<_>>().join(",")
    );
    assert!(assert_fast(&small_fwd, &small_back));
    let pm = "1".to_string() + &"\\pm 1".repeat(200);
    assert_fast(&pm, &pm);
    let roots: String = (2..120).map(|p| format!("\\sqrt{{{p}}}")).collect();
    assert_fast(&roots, &roots);
    let sum: String = (2..150).map(|p| format!("+\\sqrt{{{p}}}")).collect();
    assert_fast(&sum, &sum);
    let power = r"(1+\sqrt{2}+\sqrt{3}+\sqrt{5}+\sqrt{7})^{256}";
    assert_fast(power, power);
    let matrix = format!(
        "\\begin{{pmatrix}}{}\\end{{pmatrix}}",
        vec!["1&2"; 150].join("\\\\")
    );
    assert!(assert_fast(&matrix, &matrix));
}

#[test]
fn broken_latex() {
    let broken = [
        r"\frac{1}{",
        r"\sqrt[",
        r"\sqrt[100000]{2}",
        r"\begin{pmatrix}1&2",
        r"\end{pmatrix}",
        r"\left(",
        r"\text{",
        r"\boxed",
        "^^^^",
        "_{_{_{",
        r"\\\\\\",
        "\u{0}\u{1}\u{7f}",
        "((1,2]",
        r"|||",
        "1/",
        "x=",
        "=",
        r"\in",
        r"\cup",
        ",,,",
        r"\{\}",
        "()",
        "[]",
        r"\frac",
        r"2^",
        "..5.",
        "1,,000",
    ];
    for b in broken {
        assert_fast(b, b);
        assert_fast(b, "1");
        assert_fast("1", b);
    }
}
