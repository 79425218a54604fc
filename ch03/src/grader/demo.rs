//! The book's demo table (section 3.5, `run_demos_table`) and its sixteen cases.

use super::grade_answer;

/// The book's sixteen grader checks (`check_1`..`check_16` in the chapter
/// notebook): (name, prediction, ground truth, expected verdict).
pub const BOOK_DEMO_CASES: [(&str, &str, &str, bool); 16] = [
    ("check_1", "3/4", r"\frac{3}{4}", true),
    ("check_2", "(3)/(4)", r"3/4", true),
    ("check_3", r"\frac{\sqrt{8}}{2}", "sqrt(2)", true),
    ("check_4", r"\( \frac{1}{2} + \frac{1}{6} \)", "2/3", true),
    ("check_5", "(1, 2)", r"(1,2)", true),
    ("check_6", "(2, 1)", "(1, 2)", false),
    ("check_7", "(1, 2, 3)", "(1, 2)", false),
    ("check_8", "0.5", "1/2", true),
    ("check_9", "0.3333333333", "1/3", false),
    ("check_10", "1,234/2", "617", true),
    ("check_11", r"\text{2/3}", "2/3", true),
    ("check_12", "50%", "1/2", false),
    ("check_13", r"2\cdot 3/4", "3/2", true),
    ("check_14", r"90^\circ", "90", true),
    ("check_15", r"\left(\frac{3}{4}\right)", "3/4", true),
    ("check_16", "2²", "2**2", true),
];

/// Grades each (name, prediction, ground truth, expected) case and renders
/// the book's table: columns Test | Expect | Got | Status, then `Passed k/n`.
pub fn run_demos_table(tests: &[(&str, &str, &str, bool)]) -> String {
    let header = ["Test", "Expect", "Got", "Status"].map(String::from);
    let rows: Vec<[String; 4]> = tests
        .iter()
        .map(|&(name, pred, gt, expect)| {
            let got = grade_answer(pred, gt);
            let status = if got == expect { "PASS" } else { "FAIL" };
            [
                name.to_string(),
                python_bool(expect),
                python_bool(got),
                status.to_string(),
            ]
        })
        .collect();
    let widths: Vec<usize> = (0..4)
        .map(|i| {
            rows.iter()
                .chain([&header])
                .map(|r| r[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, &w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(&cells.join(" | "));
        out.push('\n');
    }
    let passed = rows.iter().filter(|r| r[3] == "PASS").count();
    out.push_str(&format!("\nPassed {passed}/{}\n", rows.len()));
    out
}

/// `True`/`False`, as the book's table prints them.
fn python_bool(value: bool) -> String {
    if value { "True" } else { "False" }.to_string()
}
