//! Self-consistency (book ch. 4.6): sample several answers, extract each one's
//! final answer, and take the most frequent. Beyond the book, answers vote
//! together when the chapter-3 verifier finds them equivalent (`\frac{1}{2}`,
//! `1/2` and `0.5` are one vote), and a tie can be broken by the answers'
//! average token log-probability instead of being reported.

use ch03::grade_answer;

/// How to settle a tie between the most frequent answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TieBreak {
    /// Report the tie and choose nothing (the book's `self_consistency_vote`).
    Report,
    /// Choose the first-appearing of the tied answers (the book's MATH-500 scripts:
    /// `majority_winners[0]`).
    FirstSeen,
    /// Choose the tied answer whose samples have the highest mean average
    /// log-probability.
    AvgLogprob,
}

/// Answers judged equivalent, with the samples that gave them.
#[derive(Debug, Clone, PartialEq)]
pub struct VoteGroup {
    /// The answer as the first of these samples wrote it.
    pub answer: String,
    /// Indices of the samples in this group, in order.
    pub members: Vec<usize>,
    /// Mean of the members' average log-probabilities, when known.
    pub mean_logprob: Option<f64>,
}

/// The outcome of a vote.
#[derive(Debug, Clone, PartialEq)]
pub struct VoteResult {
    /// The groups, most votes first (ties in order of first appearance).
    pub groups: Vec<VoteGroup>,
    /// The answers of the groups tied for the most votes (one when there is no tie).
    pub majority_winners: Vec<String>,
    /// The chosen answer: the single winner, or the tie-break's choice;
    /// `None` for a reported tie or no samples.
    pub final_answer: Option<String>,
    /// Whether the most votes were shared by several groups.
    pub tie: bool,
}

/// Groups the answers: identical strings always, and otherwise when the
/// verifier grades an answer equal to a group's first answer.
pub fn group_equivalent_answers(short_answers: &[String]) -> Vec<Vec<usize>> {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (i, answer) in short_answers.iter().enumerate() {
        let home = groups.iter_mut().find(|g| {
            let first = &short_answers[g[0]];
            first == answer || grade_answer(answer, first)
        });
        match home {
            Some(group) => group.push(i),
            None => groups.push(vec![i]),
        }
    }
    groups
}

/// The majority vote over extracted answers (book ch. 4.6's
/// `self_consistency_vote`, after sampling). `avg_logprobs[i]`, when given,
/// is sample `i`'s average token log-probability (for [`TieBreak::AvgLogprob`]
/// and for reporting).
pub fn self_consistency_vote(
    short_answers: &[String],
    avg_logprobs: Option<&[f64]>,
    tie_break: TieBreak,
) -> VoteResult {
    let mut groups: Vec<VoteGroup> = group_equivalent_answers(short_answers)
        .into_iter()
        .map(|members| VoteGroup {
            answer: short_answers[members[0]].clone(),
            mean_logprob: avg_logprobs.map(|lp| mean(members.iter().map(|&i| lp[i]))),
            members,
        })
        .collect();
    // Stable: equal counts keep their order of first appearance.
    groups.sort_by_key(|g| std::cmp::Reverse(g.members.len()));
    let top = groups.first().map_or(0, |g| g.members.len());
    let winners: Vec<&VoteGroup> = groups.iter().filter(|g| g.members.len() == top).collect();
    let tie = winners.len() > 1;
    let final_answer = match (winners.as_slice(), tie_break) {
        ([], _) => None,
        ([only], _) => Some(only.answer.clone()),
        (_, TieBreak::Report) => None,
        ([first, ..], TieBreak::FirstSeen) => Some(first.answer.clone()),
        (tied, TieBreak::AvgLogprob) => tied
            .iter()
            .filter_map(|g| g.mean_logprob.filter(|lp| !lp.is_nan()).map(|lp| (lp, g)))
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, g)| g.answer.clone()),
    };
    VoteResult {
        majority_winners: winners.iter().map(|g| g.answer.clone()).collect(),
        final_answer,
        tie,
        groups,
    }
}

/// The mean of the values that are not NaN (a sample that generated nothing has
/// no log-probability); NaN when there are none.
fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = values
        .filter(|v| !v.is_nan())
        .fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    if n == 0 {
        f64::NAN
    } else {
        sum / n as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answers(xs: &[&str]) -> Vec<String> {
        xs.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn equivalent_answers_vote_together() {
        let a = answers(&["\\frac{1}{2}", "3", "0.5", "1/2", "3"]);
        let r = self_consistency_vote(&a, None, TieBreak::Report);
        assert_eq!(r.groups[0].members, [0, 2, 3]);
        assert_eq!(r.final_answer.as_deref(), Some("\\frac{1}{2}"));
        assert!(!r.tie);
    }

    #[test]
    fn a_tie_is_reported_or_broken_by_log_probability() {
        let a = answers(&["4", "5", "4", "5", ""]);
        let reported = self_consistency_vote(&a, None, TieBreak::Report);
        assert!(reported.tie);
        assert_eq!(reported.final_answer, None);
        assert_eq!(reported.majority_winners, ["4", "5"]);
        let lp = [-1.0, -0.2, -0.8, -0.4, -0.1];
        let broken = self_consistency_vote(&a, Some(&lp), TieBreak::AvgLogprob);
        assert_eq!(broken.final_answer.as_deref(), Some("5"));
        assert!((broken.groups[1].mean_logprob.unwrap() - (-0.3)).abs() < 1e-12);
    }

    #[test]
    fn empty_answers_group_and_nothing_to_vote_is_none() {
        let a = answers(&["", "", "7"]);
        let r = self_consistency_vote(&a, None, TieBreak::Report);
        assert_eq!(r.groups[0].members, [0, 1]);
        assert_eq!(r.final_answer.as_deref(), Some(""));
        let none = self_consistency_vote(&[], None, TieBreak::AvgLogprob);
        assert_eq!(none.final_answer, None);
        assert!(none.groups.is_empty());
    }

    #[test]
    fn samples_without_a_log_probability_never_win_a_tie() {
        let a = answers(&["", "4", "", "4"]);
        let lp = [f64::NAN, -0.9, f64::NAN, -0.5];
        let r = self_consistency_vote(&a, Some(&lp), TieBreak::AvgLogprob);
        assert!(r.tie);
        assert_eq!(r.final_answer.as_deref(), Some("4"));
        let mixed = answers(&["7", "4", "7", "4"]);
        let lp = [f64::NAN, -0.9, -2.0, -0.5];
        let r = self_consistency_vote(&mixed, Some(&lp), TieBreak::AvgLogprob);
        assert_eq!(
            r.groups[0].mean_logprob,
            Some(-2.0),
            "the NaN is left out of the mean"
        );
        assert_eq!(r.final_answer.as_deref(), Some("4"));
    }
}
