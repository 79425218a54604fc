//! The book's own self-consistency rules (ch. 4.4's `self_consistency_vote` and the
//! MATH-500 scripts of chapters 4 and 5), kept beside ours to compare numbers with:
//! answers vote as **exact strings** (`"1/2"` and `"0.5"` are different answers), a
//! tie has no final answer, and the scripts settle it by first appearance, or by the
//! best heuristic score of each tied answer's samples. Ours ([`crate::self_consistency`])
//! groups answers by the ch03 verifier instead.

use crate::scoring::{heuristic_score, HeuristicWeights};

/// A vote as the book's `self_consistency_vote` returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct BookVote {
    /// Each distinct answer and its count, in order of first appearance.
    pub counts: Vec<(String, usize)>,
    /// Each distinct answer and the samples that gave it, in order of first appearance.
    pub groups: Vec<(String, Vec<usize>)>,
    /// The answers with the top count, in `Counter.most_common` order (count, then
    /// first appearance); with early stop, only the answer that stopped the vote.
    pub majority_winners: Vec<String>,
    /// The single winner; `None` on a tie (or with no samples).
    pub final_answer: Option<String>,
    /// How many samples were counted (fewer than given when early stop fired).
    pub samples_used: usize,
}

/// The book's vote over `short_answers` (exact strings). With `early_stop` (the
/// MATH-500 script's `--early_stop`), counting stops at the first sample whose answer
/// then holds more than half of all `short_answers.len()` samples.
pub fn book_self_consistency_vote(short_answers: &[String], early_stop: bool) -> BookVote {
    let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
    let n = short_answers.len();
    for (i, answer) in short_answers.iter().enumerate() {
        let at = match groups.iter().position(|(a, _)| a == answer) {
            Some(at) => at,
            None => {
                groups.push((answer.clone(), Vec::new()));
                groups.len() - 1
            }
        };
        groups[at].1.push(i);
        if early_stop && 2 * groups[at].1.len() > n {
            return BookVote {
                counts: counts_of(&groups),
                majority_winners: vec![answer.clone()],
                final_answer: Some(answer.clone()),
                groups,
                samples_used: i + 1,
            };
        }
    }
    let counts = counts_of(&groups);
    let top = counts.iter().map(|(_, c)| *c).max().unwrap_or(0);
    // `Counter.most_common`: a stable sort by count, so the top ones in first-seen order.
    let majority_winners: Vec<String> = counts
        .iter()
        .filter(|(_, c)| *c == top)
        .map(|(a, _)| a.clone())
        .collect();
    let final_answer = match majority_winners.as_slice() {
        [single] => Some(single.clone()),
        _ => None,
    };
    BookVote {
        counts,
        groups,
        majority_winners,
        final_answer,
        samples_used: n,
    }
}

fn counts_of(groups: &[(String, Vec<usize>)]) -> Vec<(String, usize)> {
    groups.iter().map(|(a, m)| (a.clone(), m.len())).collect()
}

/// The MATH-500 scripts' answer (`self_consistency_math500.py`, `--scoring none`): the
/// final answer, or on a tie the first-appearing of the tied answers (`majority_winners[0]`).
/// `None` with no samples (where the script itself raises `IndexError`).
pub fn book_script_choice(vote: &BookVote) -> Option<&str> {
    vote.final_answer
        .as_deref()
        .or_else(|| vote.majority_winners.first().map(String::as_str))
}

/// `self_consistency_scorer_math500.py --scoring heuristic`: the final answer, or on a
/// tie the tied answer whose best [`heuristic_score`] over its samples' `full_answers`
/// is highest (strictly: the first wins a draw). `None` with no samples (where the
/// script raises).
pub fn book_scorer_heuristic_choice<'a>(
    vote: &'a BookVote,
    full_answers: &[String],
) -> Option<&'a str> {
    if let Some(answer) = vote.final_answer.as_deref() {
        return Some(answer);
    }
    let weights = HeuristicWeights::default();
    let mut best: Option<(&str, f64)> = None;
    for candidate in &vote.majority_winners {
        let members = &vote.groups.iter().find(|(a, _)| a == candidate)?.1;
        let score = members
            .iter()
            .map(|&i| heuristic_score(&full_answers[i], &weights))
            .fold(f64::NEG_INFINITY, f64::max);
        if best.is_none_or(|(_, b)| score > b) {
            best = Some((candidate, score));
        }
    }
    best.map(|(answer, _)| answer)
}

/// `best_of_n_math500.py --scoring heuristic`: the short answer of the first sample
/// whose [`heuristic_score`] is the highest. `None` with no samples.
pub fn book_best_of_n_heuristic_choice<'a>(
    short_answers: &'a [String],
    full_answers: &[String],
) -> Option<&'a str> {
    let weights = HeuristicWeights::default();
    let mut best: Option<(usize, f64)> = None;
    for (i, full) in full_answers.iter().enumerate() {
        let score = heuristic_score(full, &weights);
        if best.is_none_or(|(_, b)| score > b) {
            best = Some((i, score));
        }
    }
    best.map(|(i, _)| short_answers[i].as_str())
}
