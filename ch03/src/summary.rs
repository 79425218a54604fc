//! The closing summary of an evaluation: accuracy overall and by level, mean
//! response length, time (book ch. 3.9's printout, as a table).

use std::collections::BTreeMap;
use std::fmt;

use crate::records::EvalRecord;

/// Accuracy and cost of a set of records.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalSummary {
    /// Problems graded.
    pub total: usize,
    /// Problems answered correctly.
    pub correct: usize,
    /// `(correct, total)` per level (`None`: problems without a level).
    pub by_level: BTreeMap<Option<u32>, (usize, usize)>,
    /// Mean tokens generated per problem.
    pub mean_tokens: f64,
    /// Seconds spent on all problems, summed over the records.
    pub seconds: f64,
}

impl EvalSummary {
    /// Summarizes `records`.
    pub fn from_records(records: &[EvalRecord]) -> Self {
        let mut by_level: BTreeMap<Option<u32>, (usize, usize)> = BTreeMap::new();
        for r in records {
            let entry = by_level.entry(r.level).or_default();
            entry.0 += usize::from(r.correct);
            entry.1 += 1;
        }
        let total = records.len();
        let tokens: usize = records.iter().map(|r| r.tokens).sum();
        Self {
            total,
            correct: records.iter().filter(|r| r.correct).count(),
            by_level,
            mean_tokens: if total > 0 {
                tokens as f64 / total as f64
            } else {
                0.0
            },
            seconds: records.iter().map(|r| r.seconds).sum(),
        }
    }

    /// Fraction correct (0 when empty).
    pub fn accuracy(&self) -> f64 {
        ratio(self.correct, self.total)
    }
}

fn ratio(correct: usize, total: usize) -> f64 {
    if total > 0 {
        correct as f64 / total as f64
    } else {
        0.0
    }
}

impl fmt::Display for EvalSummary {
    /// A small table: one row per level and the total.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{:<8} | {:>9} | {:>8}", "level", "correct", "accuracy")?;
        writeln!(f, "{:-<8}-+-{:->9}-+-{:->8}", "", "", "")?;
        for (level, &(correct, total)) in &self.by_level {
            let name = level.map_or("-".to_string(), |l| l.to_string());
            let count = format!("{correct}/{total}");
            let acc = 100.0 * ratio(correct, total);
            writeln!(f, "{name:<8} | {count:>9} | {acc:>7.1}%")?;
        }
        let count = format!("{}/{}", self.correct, self.total);
        writeln!(
            f,
            "{:<8} | {count:>9} | {:>7.1}%",
            "all",
            100.0 * self.accuracy()
        )?;
        writeln!(f, "mean response length: {:.1} tokens", self.mean_tokens)?;
        write!(
            f,
            "time: {:.1} s ({:.2} s a problem)",
            self.seconds,
            self.seconds / self.total.max(1) as f64
        )
    }
}

/// A side-by-side table of two runs over the same problems (the demo's plain
/// vs chain-of-thought comparison): each problem's answer and what each run
/// extracted (✓ correct, ✗ wrong), then accuracy, mean tokens and time.
pub fn format_comparison(
    problems: &[crate::problem::Problem],
    plain: &[EvalRecord],
    cot: &[EvalRecord],
) -> String {
    let cell = |r: Option<&EvalRecord>| match r {
        Some(r) => format!(
            "{} {}",
            if r.correct { "✓" } else { "✗" },
            clip(&r.extracted, 14)
        ),
        None => "-".into(),
    };
    let mut out = format!(
        "{:>3} | {:>5} | {:>6} | {:<16} | {:<16}\n",
        "#", "level", "answer", "plain", "cot"
    );
    out.push_str(&format!(
        "{:->3}-+-{:->5}-+-{:->6}-+-{:-<16}-+-{:-<16}\n",
        "", "", "", "", ""
    ));
    for (i, p) in problems.iter().enumerate() {
        let level = p.level.map_or("-".into(), |l| l.to_string());
        out.push_str(&format!(
            "{:>3} | {level:>5} | {:>6} | {:<16} | {:<16}\n",
            i + 1,
            clip(&p.answer, 6),
            cell(plain.get(i)),
            cell(cot.get(i))
        ));
    }
    let (a, b) = (
        EvalSummary::from_records(plain),
        EvalSummary::from_records(cot),
    );
    out.push_str(&format!(
        "\n{:<22} | {:>16} | {:>16}\n",
        "", "plain", "chain-of-thought"
    ));
    let row = |name: &str, x: String, y: String| format!("{name:<22} | {x:>16} | {y:>16}\n");
    out.push_str(&row(
        "accuracy",
        format!("{}/{} ({:.0}%)", a.correct, a.total, 100.0 * a.accuracy()),
        format!("{}/{} ({:.0}%)", b.correct, b.total, 100.0 * b.accuracy()),
    ));
    out.push_str(&row(
        "mean response tokens",
        format!("{:.1}", a.mean_tokens),
        format!("{:.1}", b.mean_tokens),
    ));
    out.push_str(&row(
        "time",
        format!("{:.1} s", a.seconds),
        format!("{:.1} s", b.seconds),
    ));
    out
}

/// At most `n` characters of `text` on one line (… marks a cut).
fn clip(text: &str, n: usize) -> String {
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= n {
        one_line
    } else {
        one_line
            .chars()
            .take(n.saturating_sub(1))
            .chain(['…'])
            .collect()
    }
}
