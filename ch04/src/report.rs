//! Readable text output: a terminal bar chart of a next-token distribution
//! (the book's temperature figure, ch. 4.4) and the results table of an
//! evaluation (method, N, accuracy, tokens, time).

use crate::evaluate::{Method, MethodRecord};

/// The `k` most probable tokens of `probs` as `(token id, probability)`,
/// most probable first (ties by lower id); tokens a filter zeroed are left out.
pub fn top_tokens(probs: &[f32], k: usize) -> Vec<(u32, f32)> {
    let mut idx: Vec<u32> = (0..probs.len() as u32)
        .filter(|&i| probs[i as usize] > 0.0)
        .collect();
    let k = k.min(idx.len());
    if k == 0 {
        return Vec::new();
    }
    let by_prob = |a: &u32, b: &u32| {
        probs[*b as usize]
            .total_cmp(&probs[*a as usize])
            .then(a.cmp(b))
    };
    idx.select_nth_unstable_by(k - 1, by_prob);
    idx.truncate(k);
    idx.sort_by(by_prob);
    idx.into_iter().map(|i| (i, probs[i as usize])).collect()
}

/// One bar per `(label, probability)`, scaled so that probability 1 fills `width` cells.
pub fn format_distribution_chart(rows: &[(String, f32)], width: usize) -> String {
    let label_width = rows
        .iter()
        .map(|(l, _)| l.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (label, p) in rows {
        let cells = (p.clamp(0.0, 1.0) * width as f32).round() as usize;
        let pad = label_width - label.chars().count();
        out.push_str(&format!(
            "{label}{} │{}{} {:>6.2}%\n",
            " ".repeat(pad),
            "█".repeat(cells),
            " ".repeat(width - cells),
            100.0 * p
        ));
    }
    out
}

/// A token as a readable label: quoted, with spaces and newlines visible.
pub fn token_label(text: &str) -> String {
    format!("{:?}", text)
}

/// The totals of one method and N over a set of problems.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultRow {
    /// The method.
    pub method: Method,
    /// Samples or rounds.
    pub n: usize,
    /// Problems solved correctly.
    pub correct: usize,
    /// Problems evaluated.
    pub total: usize,
    /// Tokens generated in all.
    pub tokens: usize,
    /// Seconds spent in all.
    pub seconds: f64,
}

impl ResultRow {
    /// Totals over the records of one run.
    pub fn from_records(method: Method, n: usize, records: &[MethodRecord]) -> Self {
        Self {
            method,
            n,
            correct: records.iter().filter(|r| r.correct).count(),
            total: records.len(),
            tokens: records.iter().map(|r| r.tokens).sum(),
            seconds: records.iter().map(|r| r.seconds).sum(),
        }
    }

    /// Fraction correct (0 when empty).
    pub fn accuracy(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.correct as f64 / self.total as f64
        }
    }
}

/// The results table as Markdown: method, N, accuracy, tokens generated, time.
pub fn format_results_table(rows: &[ResultRow]) -> String {
    let mut out = String::from(
        "| method | N | accuracy | tokens generated | tokens / problem | time (s) |\n\
         | --- | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for r in rows {
        out.push_str(&format!(
            "| {} | {} | {}/{} ({:.1}%) | {} | {:.1} | {:.1} |\n",
            r.method.name(),
            r.n,
            r.correct,
            r.total,
            100.0 * r.accuracy(),
            r.tokens,
            r.tokens as f64 / r.total.max(1) as f64,
            r.seconds
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_tokens_are_sorted_and_bounded() {
        let probs = [0.1, 0.4, 0.2, 0.3, 0.0];
        assert_eq!(top_tokens(&probs, 2), vec![(1, 0.4), (3, 0.3)]);
        assert_eq!(top_tokens(&probs, 9).len(), 4);
        assert!(top_tokens(&probs, 0).is_empty());
    }

    #[test]
    fn bars_scale_with_probability() {
        let chart =
            format_distribution_chart(&[("\" a\"".into(), 0.5), ("\"bc\"".into(), 0.25)], 8);
        assert_eq!(
            chart,
            "\" a\" │████      50.00%\n\"bc\" │██        25.00%\n"
        );
    }
}
