//! Self-consistency (book ch. 4.6): sample several answers, extract each one's
//! final answer, and take the most frequent. Beyond the book, answers vote
//! together when the chapter-3 verifier finds them equivalent (`\frac{1}{2}`,
//! `1/2` and `0.5` are one vote), and a tie can be broken by the answers'
//! average token log-probability instead of being reported.

use ch03::grade_answer;

/// How to settle a tie between the most frequent answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TieBreak {
    /// Report the tie and choose nothing (the book's `self_consistency_vote`).
    #[value(help = "Report a tie and give no answer (the book's function)")]
    Report,
    /// Choose the first-appearing of the tied answers (the book's MATH-500 scripts:
    /// `majority_winners[0]`).
    #[value(help = "Take the first-appearing of the tied answers (the book's MATH-500 scripts)")]
    FirstSeen,
    /// Choose the tied answer whose samples score the highest average token
    /// log-probability ([`GroupScore`] says how a group's samples combine).
    #[value(
        name = "logprob",
        help = "Take the tied answer with the highest mean log-probability"
    )]
    AvgLogprob,
    /// Choose the tied answer whose samples score the highest
    /// [`crate::scoring::heuristic_score`] (the book's `--scoring heuristic`).
    #[value(
        help = "Take the tied answer whose samples score the highest heuristic score (the book's scorer script)"
    )]
    Heuristic,
}

/// Which answers vote together (`--grouping`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Grouping {
    /// Answers the ch03 verifier grades equal (`\frac{1}{2}`, `1/2`, `0.5`): ours.
    Equivalent,
    /// Identical strings only: the book's.
    Exact,
}

/// How a tied answer's samples' scores make the answer's score (`--group-score`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GroupScore {
    /// Their mean: ours.
    Mean,
    /// The best of them: the book's scorer script.
    Max,
}

/// The rules of a vote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VoteRule {
    /// How a tie is settled.
    pub tie_break: TieBreak,
    /// Which answers vote together.
    pub grouping: Grouping,
    /// How a tied answer's samples' scores combine.
    pub group_score: GroupScore,
    /// Stop counting at the first sample whose answer then holds more than half of
    /// all the samples (the book's `--early_stop`): the later samples were not needed.
    pub early_stop: bool,
}

impl VoteRule {
    /// Ours, with `tie_break`: verifier-equivalent answers, mean scores, every sample.
    pub fn ours(tie_break: TieBreak) -> VoteRule {
        VoteRule {
            tie_break,
            grouping: Grouping::Equivalent,
            group_score: GroupScore::Mean,
            early_stop: false,
        }
    }
}

/// Per-sample scores a tie-break can use.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SampleScores<'a> {
    /// Each sample's average token log-probability (NaN: none).
    pub avg_logprobs: Option<&'a [f64]>,
    /// Each sample's heuristic score (of its whole response).
    pub heuristic: Option<&'a [f64]>,
}

/// Answers voting together, with the samples that gave them.
#[derive(Debug, Clone, PartialEq)]
pub struct VoteGroup {
    /// The answer as the first of these samples wrote it.
    pub answer: String,
    /// Indices of the samples in this group, in order.
    pub members: Vec<usize>,
    /// The members' average log-probabilities combined by the rule's [`GroupScore`],
    /// when known.
    pub logprob_score: Option<f64>,
    /// The members' heuristic scores combined the same way, when known.
    pub heuristic_score: Option<f64>,
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
    /// Samples counted: all of them, or fewer when early stop fired.
    pub samples_used: usize,
}

/// Groups the answers: identical strings always, and otherwise when the
/// verifier grades an answer equal to a group's first answer.
pub fn group_equivalent_answers(short_answers: &[String]) -> Vec<Vec<usize>> {
    group_answers(short_answers, Grouping::Equivalent)
}

/// Groups the answers by `grouping`, in order of first appearance.
fn group_answers(short_answers: &[String], grouping: Grouping) -> Vec<Vec<usize>> {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (i, answer) in short_answers.iter().enumerate() {
        let home = groups.iter_mut().find(|g| {
            let first = &short_answers[g[0]];
            first == answer || (grouping == Grouping::Equivalent && grade_answer(answer, first))
        });
        match home {
            Some(group) => group.push(i),
            None => groups.push(vec![i]),
        }
    }
    groups
}

/// How many of `short_answers` an early-stopping vote counts: up to and including the
/// first sample whose group then holds more than half of all the samples. A sample's
/// group depends only on the samples before it, so the groups of all of them serve.
fn early_stop_point(short_answers: &[String], grouping: Grouping) -> usize {
    let n = short_answers.len();
    let mut group_of = vec![0; n];
    for (g, members) in group_answers(short_answers, grouping).iter().enumerate() {
        members.iter().for_each(|&i| group_of[i] = g);
    }
    let mut counts = vec![0; n];
    for (i, &g) in group_of.iter().enumerate() {
        counts[g] += 1;
        if 2 * counts[g] > n {
            return i + 1;
        }
    }
    n
}

/// The majority vote over extracted answers (book ch. 4.6's
/// `self_consistency_vote`, after sampling), by `rule`; `scores` are what the
/// log-probability and heuristic tie-breaks rank by.
pub fn self_consistency_vote(
    short_answers: &[String],
    scores: SampleScores,
    rule: VoteRule,
) -> VoteResult {
    let used = if rule.early_stop {
        early_stop_point(short_answers, rule.grouping)
    } else {
        short_answers.len()
    };
    let combine = |values: Option<&[f64]>, members: &[usize]| {
        values.map(|v| combine_scores(members.iter().map(|&i| v[i]), rule.group_score))
    };
    let mut groups: Vec<VoteGroup> = group_answers(&short_answers[..used], rule.grouping)
        .into_iter()
        .map(|members| VoteGroup {
            answer: short_answers[members[0]].clone(),
            logprob_score: combine(scores.avg_logprobs, &members),
            heuristic_score: combine(scores.heuristic, &members),
            members,
        })
        .collect();
    // Stable: equal counts keep their order of first appearance.
    groups.sort_by_key(|g| std::cmp::Reverse(g.members.len()));
    let top = groups.first().map_or(0, |g| g.members.len());
    let winners: Vec<&VoteGroup> = groups.iter().filter(|g| g.members.len() == top).collect();
    let tie = winners.len() > 1;
    let best_by = |score: fn(&VoteGroup) -> Option<f64>| {
        // The first of equal scores wins, as the book's strict `>`.
        let mut best: Option<(f64, &VoteGroup)> = None;
        for g in &winners {
            if let Some(s) = score(g).filter(|s| !s.is_nan()) {
                if best.is_none_or(|(b, _)| s > b) {
                    best = Some((s, g));
                }
            }
        }
        best.map(|(_, g)| g.answer.clone())
    };
    let final_answer = match (winners.as_slice(), rule.tie_break) {
        ([], _) => None,
        ([only], _) => Some(only.answer.clone()),
        (_, TieBreak::Report) => None,
        ([first, ..], TieBreak::FirstSeen) => Some(first.answer.clone()),
        (_, TieBreak::AvgLogprob) => best_by(|g| g.logprob_score),
        (_, TieBreak::Heuristic) => best_by(|g| g.heuristic_score),
    };
    VoteResult {
        majority_winners: winners.iter().map(|g| g.answer.clone()).collect(),
        final_answer,
        tie,
        groups,
        samples_used: used,
    }
}

/// The scores that are not NaN combined by `how`; NaN when there are none.
fn combine_scores(values: impl Iterator<Item = f64>, how: GroupScore) -> f64 {
    match how {
        GroupScore::Mean => mean(values),
        GroupScore::Max => values.filter(|v| !v.is_nan()).fold(f64::NAN, |best, v| {
            if best.is_nan() {
                v
            } else {
                best.max(v)
            }
        }),
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

    fn logprobs(lp: &[f64]) -> SampleScores<'_> {
        SampleScores {
            avg_logprobs: Some(lp),
            heuristic: None,
        }
    }

    #[test]
    fn equivalent_answers_vote_together() {
        let a = answers(&["\\frac{1}{2}", "3", "0.5", "1/2", "3"]);
        let r = self_consistency_vote(
            &a,
            SampleScores::default(),
            VoteRule::ours(TieBreak::Report),
        );
        assert_eq!(r.groups[0].members, [0, 2, 3]);
        assert_eq!(r.final_answer.as_deref(), Some("\\frac{1}{2}"));
        assert!(!r.tie);
    }

    #[test]
    fn a_tie_is_reported_or_broken_by_log_probability() {
        let a = answers(&["4", "5", "4", "5", ""]);
        let reported = self_consistency_vote(
            &a,
            SampleScores::default(),
            VoteRule::ours(TieBreak::Report),
        );
        assert!(reported.tie);
        assert_eq!(reported.final_answer, None);
        assert_eq!(reported.majority_winners, ["4", "5"]);
        let lp = [-1.0, -0.2, -0.8, -0.4, -0.1];
        let broken = self_consistency_vote(&a, logprobs(&lp), VoteRule::ours(TieBreak::AvgLogprob));
        assert_eq!(broken.final_answer.as_deref(), Some("5"));
        assert!((broken.groups[1].logprob_score.unwrap() - (-0.3)).abs() < 1e-12);
    }

    #[test]
    fn empty_answers_group_and_nothing_to_vote_is_none() {
        let a = answers(&["", "", "7"]);
        let r = self_consistency_vote(
            &a,
            SampleScores::default(),
            VoteRule::ours(TieBreak::Report),
        );
        assert_eq!(r.groups[0].members, [0, 1]);
        assert_eq!(r.final_answer.as_deref(), Some(""));
        let none = self_consistency_vote(
            &[],
            SampleScores::default(),
            VoteRule::ours(TieBreak::AvgLogprob),
        );
        assert_eq!(none.final_answer, None);
        assert!(none.groups.is_empty());
    }

    #[test]
    fn samples_without_a_log_probability_never_win_a_tie() {
        let a = answers(&["", "4", "", "4"]);
        let lp = [f64::NAN, -0.9, f64::NAN, -0.5];
        let r = self_consistency_vote(&a, logprobs(&lp), VoteRule::ours(TieBreak::AvgLogprob));
        assert!(r.tie);
        assert_eq!(r.final_answer.as_deref(), Some("4"));
        let mixed = answers(&["7", "4", "7", "4"]);
        let lp = [f64::NAN, -0.9, -2.0, -0.5];
        let r = self_consistency_vote(&mixed, logprobs(&lp), VoteRule::ours(TieBreak::AvgLogprob));
        assert_eq!(
            r.groups[0].logprob_score,
            Some(-2.0),
            "the NaN is left out of the mean"
        );
        assert_eq!(r.final_answer.as_deref(), Some("4"));
    }

    #[test]
    fn the_books_rules_exact_strings_early_stop_and_the_best_heuristic_score() {
        let a = answers(&["1/2", "0.5", "3", "3", "1/2", "7"]);
        let book = VoteRule {
            tie_break: TieBreak::Heuristic,
            grouping: Grouping::Exact,
            group_score: GroupScore::Max,
            early_stop: false,
        };
        let heuristic = [0.1, 0.9, 0.2, 0.5, 0.3, 2.0];
        let scores = SampleScores {
            avg_logprobs: None,
            heuristic: Some(&heuristic),
        };
        // Exact strings: "1/2" and "3" tie at two votes; "3" has the best sample (0.5).
        let r = self_consistency_vote(&a, scores, book);
        assert!(r.tie);
        assert_eq!(r.majority_winners, ["1/2", "3"]);
        assert_eq!(r.final_answer.as_deref(), Some("3"));
        assert_eq!(r.groups[1].heuristic_score, Some(0.5));
        // Ours: "1/2" and "0.5" vote together and win outright.
        let ours = self_consistency_vote(&a, scores, VoteRule::ours(TieBreak::Report));
        assert_eq!(ours.final_answer.as_deref(), Some("1/2"));
        // Early stop: "4" holds 3 of 5 samples after the fourth.
        let b = answers(&["4", "2", "4", "4", "2"]);
        let rule = VoteRule {
            early_stop: true,
            ..VoteRule::ours(TieBreak::Report)
        };
        let r = self_consistency_vote(&b, SampleScores::default(), rule);
        assert_eq!((r.samples_used, r.final_answer.as_deref()), (4, Some("4")));
        let c = answers(&["4", "2", "4", "2"]);
        let r = self_consistency_vote(&c, SampleScores::default(), rule);
        assert_eq!((r.samples_used, r.tie), (4, true));
    }
}
