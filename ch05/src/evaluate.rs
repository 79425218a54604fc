//! Held-out accuracy during training: ch03's evaluation (greedy answer, last
//! boxed answer or else last number, graded by the verifier) on test-split
//! problems, with several problems decoded as one batch
//! (`shared::generate::generate_greedy_batch`) so that it costs little next
//! to the training steps.

use ch03::grader::{extract_final_candidate, grade_answer, Fallback};
use ch03::Problem;
use shared::generate::generate_greedy_batch;
use shared::model::Model;
use shared::tokenizer::Tokenizer;
use shared::{Error, Result};

/// Problems decoded together.
const EVAL_BATCH: usize = 16;

/// One held-out problem's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct HeldOutResult {
    /// The model's answer text.
    pub response: String,
    /// What ch03's extraction took as the final answer.
    pub extracted: String,
    /// Whether the verifier accepted it.
    pub correct: bool,
}

/// Greedy answers to `problems` (prompts already rendered and encoded in
/// `prompts`, one each), extracted and graded as ch03's `eval` does; the
/// answers are those of decoding each prompt alone wherever batched rows are
/// exact (`Model::batched_rows_are_exact`: the Q8_0 rollout copy is).
pub fn evaluate_held_out(
    model: &Model,
    tokenizer: &Tokenizer,
    problems: &[Problem],
    prompts: &[Vec<u32>],
    max_new_tokens: usize,
    stop_ids: &[u32],
) -> Result<Vec<HeldOutResult>> {
    if prompts.len() != problems.len() {
        return Err(Error::InvalidArgument(format!(
            "{} prompts for {} held-out problems: give one prompt per problem",
            prompts.len(),
            problems.len()
        )));
    }
    let mut results = vec![None; problems.len()];
    generate_greedy_batch(
        model,
        prompts,
        EVAL_BATCH,
        max_new_tokens,
        stop_ids,
        &mut |i, generation| {
            let response = tokenizer.decode(&generation.ids);
            let extracted = extract_final_candidate(&response, Fallback::NumberThenFull);
            let correct = grade_answer(&extracted, &problems[i].answer);
            results[i] = Some(HeldOutResult {
                response,
                extracted,
                correct,
            });
            Ok(())
        },
    )?;
    Ok(results
        .into_iter()
        .map(|r| r.expect("every prompt is answered"))
        .collect())
}

/// The fraction of `results` that are correct (0 for none).
pub fn accuracy(results: &[HeldOutResult]) -> f64 {
    if results.is_empty() {
        return 0.0;
    }
    results.iter().filter(|r| r.correct).count() as f64 / results.len() as f64
}
