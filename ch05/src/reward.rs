//! Verifiable rewards (book ch. 6): the ch03 verifier decides whether a
//! response's boxed answer is right; ch. 7 adds a small reward for the format.

use ch03::grader::{extract_final_candidate, grade_answer, Fallback};

/// 1 when the response's last `\boxed{…}` grades equal to `answer`, else 0.
/// Only a boxed answer counts: no fallback to the last number (book ch. 6's
/// reward for reinforcement learning with verifiable rewards).
pub fn reward_rlvr(response: &str, answer: &str) -> f32 {
    let boxed = extract_final_candidate(response, Fallback::None);
    f32::from(u8::from(!boxed.is_empty() && grade_answer(&boxed, answer)))
}

/// 1 when the response's last `\boxed{…}` holds an answer with a digit in
/// it, right or wrong, else 0 (book ch. 7's format reward). The digit rule
/// keeps the prompt's placeholder `\boxed{ANSWER}`, which small models copy,
/// from earning it.
pub fn format_reward(response: &str) -> f32 {
    let boxed = extract_final_candidate(response, Fallback::None);
    f32::from(u8::from(boxed.chars().any(|c| c.is_ascii_digit())))
}

/// A response's reward and what it is made of.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reward {
    /// [`reward_rlvr`] was 1.
    pub correct: bool,
    /// [`format_reward`] was 1 (a boxed answer with a digit).
    pub formatted: bool,
    /// `reward_rlvr + format_weight · format_reward`.
    pub total: f32,
}

/// The reward of `response` for a problem whose answer is `answer`; the format
/// reward counts `format_weight` (0 turns it off).
pub fn compute_reward(response: &str, answer: &str, format_weight: f32) -> Reward {
    let correct = reward_rlvr(response, answer);
    let formatted = format_reward(response);
    Reward {
        correct: correct > 0.0,
        formatted: formatted > 0.0,
        total: correct + format_weight * formatted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_boxed_correct_answer_earns_the_reward() {
        assert_eq!(reward_rlvr("so 3 + 4 = 7.\n\\boxed{7}", "7"), 1.0);
        assert_eq!(reward_rlvr("\\boxed{\\frac{14}{2}}", "7"), 1.0);
        assert_eq!(reward_rlvr("the answer is 7", "7"), 0.0);
        assert_eq!(reward_rlvr("\\boxed{8}", "7"), 0.0);
        assert_eq!(reward_rlvr("\\boxed{}", "7"), 0.0);
        assert_eq!(format_reward("\\boxed{8}"), 1.0);
        assert_eq!(format_reward("8"), 0.0);
        assert_eq!(format_reward("\\boxed{ANSWER}"), 0.0);
        assert_eq!(format_reward("\\boxed{\\frac{1}{2}}"), 1.0);
        let r = compute_reward("\\boxed{8}", "7", 0.1);
        assert_eq!((r.correct, r.formatted, r.total), (false, true, 0.1));
        let r = compute_reward("\\boxed{7}", "7", 0.0);
        assert_eq!((r.correct, r.formatted, r.total), (true, true, 1.0));
    }
}
