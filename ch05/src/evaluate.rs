//! Held-out accuracy during training: ch03's evaluation (greedy answer, last
//! boxed answer or else last number, graded by the verifier) on test-split
//! problems, with several problems decoded as one batch so that it costs
//! little next to the training steps.

use ch03::grader::{extract_final_candidate, grade_answer, Fallback};
use ch03::Problem;
use shared::generate::generation_capacity;
use shared::model::Model;
use shared::tensor::argmax;
use shared::tokenizer::Tokenizer;
use shared::Result;

/// Problems decoded together.
const EVAL_BATCH: usize = 16;

/// Greedy continuations of several prompts at once: each prompt is prefilled
/// into its own KV cache, then every unfinished sequence decodes one token
/// per batched step. Each continuation stops at a stop id (not included) or
/// after `max_new_tokens`.
pub fn greedy_batch(
    model: &Model,
    prompts: &[Vec<u32>],
    max_new_tokens: usize,
    stop_ids: &[u32],
) -> Result<Vec<Vec<u32>>> {
    let capacity = prompts
        .iter()
        .map(|p| generation_capacity(model, p, max_new_tokens))
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .max()
        .unwrap_or(1);
    let mut state = model.new_batch_state(prompts.len(), capacity);
    let mut next = Vec::with_capacity(prompts.len());
    for (prompt, cache) in prompts.iter().zip(&mut state.caches) {
        let hidden = model.forward_sequence(prompt, cache);
        next.push(argmax(&model.last_logits(&hidden)) as u32);
    }
    let mut outputs: Vec<Vec<u32>> = vec![Vec::new(); prompts.len()];
    let mut done = vec![false; prompts.len()];
    let (mut active, mut tokens) = (Vec::new(), Vec::new());
    loop {
        active.clear();
        tokens.clear();
        for i in 0..prompts.len() {
            if done[i] {
                continue;
            }
            if stop_ids.contains(&next[i]) || outputs[i].len() >= max_new_tokens {
                done[i] = true;
                continue;
            }
            outputs[i].push(next[i]);
            if outputs[i].len() >= max_new_tokens || state.caches[i].len() >= capacity {
                done[i] = true;
                continue;
            }
            active.push(i);
            tokens.push(next[i]);
        }
        if active.is_empty() {
            return Ok(outputs);
        }
        let logits = model.forward_batch_step(&tokens, &active, &mut state);
        for (row, &i) in active.iter().enumerate() {
            let row = logits.row(row);
            next[i] = argmax(row.as_slice().expect("logit rows are contiguous")) as u32;
        }
    }
}

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
/// `prompts`), extracted and graded as ch03's `eval` does.
pub fn evaluate_held_out(
    model: &Model,
    tokenizer: &Tokenizer,
    problems: &[Problem],
    prompts: &[Vec<u32>],
    max_new_tokens: usize,
    stop_ids: &[u32],
) -> Result<Vec<HeldOutResult>> {
    let mut results = Vec::with_capacity(problems.len());
    for (problems, prompts) in problems.chunks(EVAL_BATCH).zip(prompts.chunks(EVAL_BATCH)) {
        let outputs = greedy_batch(model, prompts, max_new_tokens, stop_ids)?;
        for (problem, ids) in problems.iter().zip(outputs) {
            let response = tokenizer.decode(&ids)?;
            let extracted = extract_final_candidate(&response, Fallback::NumberThenFull);
            let correct = grade_answer(&extracted, &problem.answer);
            results.push(HeldOutResult {
                response,
                extracted,
                correct,
            });
        }
    }
    Ok(results)
}

/// The fraction of `results` that are correct (0 for none).
pub fn accuracy(results: &[HeldOutResult]) -> f64 {
    if results.is_empty() {
        return 0.0;
    }
    results.iter().filter(|r| r.correct).count() as f64 / results.len() as f64
}
