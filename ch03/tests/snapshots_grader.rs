//! Readable snapshots of the grader: what extraction picks from responses,
//! how answers normalize and parse, and the book's demo table.

use ch03::grader::{
    canonical_form, extract_final_candidate, normalize_text, run_demos_table, Fallback,
    BOOK_DEMO_CASES,
};

/// Renders rows as a `|`-separated table with a header.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = format!("{}\n", header.join(" | "));
    for row in rows {
        out.push_str(&row.join(" | "));
        out.push('\n');
    }
    out
}

#[test]
fn extraction_table() {
    let responses = [
        r"The sum is \boxed{42}.",
        r"First \boxed{1}, then \boxed{2}.",
        r"Nested: \boxed{\frac{3}{\sqrt{4}}}",
        r"Spaced: \boxed   { x^2 }",
        r"Dollars: $\boxed{ $5$ }$",
        r"Unbalanced \boxed{3 so the answer is 7",
        "No box; the result is 3/4, not 2.",
        "Scientific: about 6.02e23 molecules",
        "Negative decimal: -2.50",
        "No number at all: east",
    ];
    let rows: Vec<Vec<String>> = responses
        .iter()
        .map(|r| {
            vec![
                format!("{r:?}"),
                format!("{:?}", extract_final_candidate(r, Fallback::NumberThenFull)),
                format!("{:?}", extract_final_candidate(r, Fallback::NumberOnly)),
                format!("{:?}", extract_final_candidate(r, Fallback::None)),
            ]
        })
        .collect();
    insta::assert_snapshot!(table(
        &["response", "number_then_full", "number_only", "none"],
        &rows
    ));
}

#[test]
fn normalization_table() {
    let answers = [
        r"\frac{\sqrt{8}}{2}",
        r"\dfrac{14}{3}",
        r"\frac12",
        r"2\frac{1}{2}",
        "2 1/2",
        "0.5",
        "1,234",
        r"10,\!080",
        r"\$18.90",
        r"90^\circ",
        "2²",
        r"3\sqrt{12}",
        r"\sqrt[3]{54}",
        r"\frac{1}{1+\sqrt{2}}",
        r"2\pi",
        r"\frac{\pi}{6}",
        r"x = -120",
        r"y = 2x + 3",
        r"(x+1)^2",
        r"\left( \frac{3}{2}, -13 \right)",
        r"\left(\frac{3}{5},\frac{8}{3}\right]",
        r"(-\infty, 2) \cup (3, \infty)",
        r"\begin{pmatrix} -1 & 0 \\ 0 & -1 \end{pmatrix}",
        r"\{1\pm\sqrt{5},-2\}",
        r"3 \pm 2 \sqrt{2}",
        r"\text{(C)}",
        r"\text{Evelyn}",
        r"5.4 \text{ cents}",
        r"4210_{5}",
        r"\cot x",
        r"\cotx",
        "3, 5, 7",
    ];
    let rows: Vec<Vec<String>> = answers
        .iter()
        .map(|a| vec![a.to_string(), normalize_text(a), canonical_form(a)])
        .collect();
    insta::assert_snapshot!(table(&["input", "normalize_text", "canonical form"], &rows));
}

#[test]
fn book_demo_table() {
    let rendered = run_demos_table(&BOOK_DEMO_CASES);
    assert!(rendered.ends_with("Passed 16/16\n"), "{rendered}");
    insta::assert_snapshot!(rendered);
}
