//! Verifiable rewards (book ch. 6): the ch03 verifier decides whether a
//! response's boxed answer is right; ch. 7 adds a small reward for the format.

use ch03::grader::{extract_final_candidate, grade_answer, Fallback};
use shared::tokenizer::Tokenizer;

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

/// The book's ch. 7 `reward_format` (Qwen3's thinking format): 1 when the generated
/// ids, `token_ids[prompt_len..]`, hold both `think_id` and `end_think_id` (Qwen3's
/// `<think>` 151667 and `</think>` 151668) and the first `think_id` comes before the
/// first `end_think_id`, else 0. Ours, [`format_reward`], rewards a boxed number instead:
/// the models here do not think in tags.
pub fn book_reward_format(
    token_ids: &[u32],
    prompt_len: usize,
    think_id: u32,
    end_think_id: u32,
) -> f32 {
    let generated = token_ids.get(prompt_len..).unwrap_or(&[]);
    let first = |id: u32| generated.iter().position(|&t| t == id);
    match (first(think_id), first(end_think_id)) {
        (Some(open), Some(close)) if open < close => 1.0,
        _ => 0.0,
    }
}

/// The book's `7_6_plus_format_reward.py` total: `rlvr + weight · format`, where with
/// `conditional` the format reward counts only for a correct answer (`format · rlvr`).
/// Summed in f64 and rounded to f32, as the script sums Python floats.
pub fn book_total_reward(rlvr: f32, format: f32, weight: f32, conditional: bool) -> f32 {
    let format = if conditional {
        f64::from(format) * f64::from(rlvr)
    } else {
        f64::from(format)
    };
    (f64::from(rlvr) + f64::from(weight) * format) as f32
}

/// The book's GDPO reward (`7_7_improvements/gdpo.py`, `reward_with_format_bonus`) and
/// its two parts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GdpoReward {
    /// `correct + format_coeff · format`.
    pub reward: f32,
    /// 1 when the response has a non-empty `\boxed{…}`.
    pub format: f32,
    /// 1 when its answer (the boxed one, else the last number, else the whole text)
    /// grades equal to the truth.
    pub correct: f32,
}

/// The book's `reward_with_format_bonus`: a correctness reward that, unlike
/// [`reward_rlvr`], also accepts an unboxed last number, and a separate format reward
/// for boxing it, weighted by `format_coeff`.
pub fn book_reward_with_format_bonus(
    response: &str,
    answer: &str,
    format_coeff: f32,
) -> GdpoReward {
    let format = f32::from(u8::from(
        !extract_final_candidate(response, Fallback::None).is_empty(),
    ));
    let candidate = extract_final_candidate(response, Fallback::NumberThenFull);
    let correct = f32::from(u8::from(grade_answer(&candidate, answer)));
    GdpoReward {
        reward: (f64::from(correct) + f64::from(format_coeff) * f64::from(format)) as f32,
        format,
        correct,
    }
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

/// Where a response's thinking starts and ends, for the book's `reward_format`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ThinkMarkers {
    /// The tokenizer has `<think>` and `</think>` as single tokens (Qwen3): the book's
    /// rule on ids.
    Ids {
        /// `<think>`'s id.
        think: u32,
        /// `</think>`'s id.
        end_think: u32,
    },
    /// The tokenizer splits them into pieces (SmolLM2, Qwen2.5): the same rule on the
    /// decoded text, the first `<think>` before the first `</think>`.
    Text,
}

/// How `tokenizer` marks thinking: by ids where `<think>` and `</think>` are single
/// tokens (Qwen3), else as text.
pub fn think_markers(tokenizer: &Tokenizer) -> ThinkMarkers {
    match (
        tokenizer.token_to_id("<think>"),
        tokenizer.token_to_id("</think>"),
    ) {
        (Some(think), Some(end_think)) => ThinkMarkers::Ids { think, end_think },
        _ => ThinkMarkers::Text,
    }
}

/// Which reward `ch05 train` gives a response.
#[derive(Debug, Clone, PartialEq)]
pub enum RewardRule {
    /// Ours ([`compute_reward`]): the verifiable reward plus `format_weight` for a
    /// boxed number.
    Boxed {
        /// The format reward's weight (0: off).
        format_weight: f32,
    },
    /// The book's `7_6_plus_format_reward.py` ([`book_total_reward`]): the verifiable
    /// reward plus `weight` for thinking in `<think>…</think>` (only for a correct
    /// answer when `conditional`).
    BookThinkFormat {
        /// The format reward's weight (the book's 1.0).
        weight: f32,
        /// Count the format reward only when the answer is right.
        conditional: bool,
        /// How `<think>` and `</think>` are found.
        markers: ThinkMarkers,
    },
    /// The book's GDPO reward ([`book_reward_with_format_bonus`]).
    Gdpo {
        /// The format bonus's weight (the book's 0.1).
        format_coeff: f32,
    },
}

impl RewardRule {
    /// The reward of a response with text `text` and generated ids `ids` for a
    /// problem whose answer is `answer`.
    pub fn reward(&self, text: &str, ids: &[u32], answer: &str) -> Reward {
        match self {
            RewardRule::Boxed { format_weight } => compute_reward(text, answer, *format_weight),
            RewardRule::BookThinkFormat {
                weight,
                conditional,
                markers,
            } => {
                let rlvr = reward_rlvr(text, answer);
                let format = match markers {
                    ThinkMarkers::Ids { think, end_think } => {
                        book_reward_format(ids, 0, *think, *end_think)
                    }
                    ThinkMarkers::Text => think_format_in_text(text),
                };
                Reward {
                    correct: rlvr > 0.0,
                    formatted: format > 0.0,
                    total: book_total_reward(rlvr, format, *weight, *conditional),
                }
            }
            RewardRule::Gdpo { format_coeff } => {
                let r = book_reward_with_format_bonus(text, answer, *format_coeff);
                Reward {
                    correct: r.correct > 0.0,
                    formatted: r.format > 0.0,
                    total: r.reward,
                }
            }
        }
    }
}

/// [`book_reward_format`]'s rule on text: 1 when `text` holds `<think>` and `</think>`
/// and the first `<think>` starts before the first `</think>`.
fn think_format_in_text(text: &str) -> f32 {
    match (text.find("<think>"), text.find("</think>")) {
        (Some(open), Some(close)) if open < close => 1.0,
        _ => 0.0,
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

    #[test]
    fn the_think_format_rule_on_text_is_the_books_rule_on_ids() {
        let rule = |conditional| RewardRule::BookThinkFormat {
            weight: 0.5,
            conditional,
            markers: ThinkMarkers::Text,
        };
        let thought = "<think>3 + 4</think> \\boxed{8}";
        assert_eq!(rule(false).reward(thought, &[], "7").total, 0.5);
        assert_eq!(rule(true).reward(thought, &[], "7").total, 0.0);
        assert_eq!(rule(true).reward(thought, &[], "8").total, 1.5);
        assert_eq!(
            rule(false)
                .reward("</think><think> \\boxed{8}", &[], "8")
                .total,
            1.0
        );
        let ids = RewardRule::BookThinkFormat {
            weight: 1.0,
            conditional: false,
            markers: ThinkMarkers::Ids {
                think: 5,
                end_think: 6,
            },
        };
        assert_eq!(ids.reward("\\boxed{8}", &[1, 5, 2, 6], "8").total, 2.0);
        assert_eq!(ids.reward("\\boxed{8}", &[6, 5, 6], "8").total, 1.0);
    }

    #[test]
    fn the_gdpo_rule_accepts_an_unboxed_number_and_bonuses_the_box() {
        let rule = RewardRule::Gdpo { format_coeff: 0.1 };
        let r = rule.reward("so it is 7", &[], "7");
        assert_eq!((r.correct, r.formatted, r.total), (true, false, 1.0));
        let r = rule.reward("\\boxed{7}", &[], "7");
        assert_eq!((r.correct, r.formatted), (true, true));
        assert!((r.total - 1.1).abs() < 1e-6);
    }
}
