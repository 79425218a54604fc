//! The log-probability of a response under a model, under the book's names (ch. 6's
//! `sequence_logprob`, ch. 7's `sequence_logprob_and_entropy`): one forward pass over
//! prompt and response, then each response token's log-probability given what precedes
//! it, and the entropy of the model's distribution at each of those steps.

use shared::model::Model;
use shared::train::loss::{token_entropies, token_logprobs};
use shared::{Error, Result};

/// What [`sequence_logprob_and_entropy`] returns.
#[derive(Debug, Clone, PartialEq)]
pub struct SequenceLogprob {
    /// `Σ log p(ids[t + 1] | ids[..= t])` over the response's steps (0 for no step).
    pub logprob_sum: f32,
    /// The mean entropy `−Σ_v p log p` of those steps' distributions (0 for no step,
    /// the book's safeguard).
    pub entropy: f32,
    /// Each response token's log-probability.
    pub token_logprobs: Vec<f32>,
    /// Each step's entropy.
    pub step_entropies: Vec<f32>,
}

/// The book's `sequence_logprob` (ch. 6): the summed log-probability of the response
/// `token_ids[prompt_len..]` after the prompt `token_ids[..prompt_len]`.
///
/// # Errors
/// When `prompt_len` is 0 (nothing predicts the first token; the book's slice then
/// keeps only the last step, a quirk this port refuses) or past the end, or when the
/// model refuses the ids.
pub fn sequence_logprob(model: &Model, token_ids: &[u32], prompt_len: usize) -> Result<f32> {
    Ok(sequence_logprob_and_entropy(model, token_ids, prompt_len)?.logprob_sum)
}

/// The book's `sequence_logprob_and_entropy` (ch. 7): [`sequence_logprob`] and the
/// mean entropy over the same steps, with both per step.
///
/// # Errors
/// As [`sequence_logprob`].
pub fn sequence_logprob_and_entropy(
    model: &Model,
    token_ids: &[u32],
    prompt_len: usize,
) -> Result<SequenceLogprob> {
    if prompt_len == 0 || prompt_len > token_ids.len() {
        return Err(Error::InvalidArgument(format!(
            "prompt length {prompt_len}: it must be between 1 and the {} ids (the first \
             response token is predicted from the prompt)",
            token_ids.len()
        )));
    }
    let logits = model.forward(token_ids)?;
    // Row t predicts token t + 1; the response starts at prompt_len.
    let steps = logits.slice(ndarray::s![prompt_len - 1..token_ids.len() - 1, ..]);
    let token_logprobs = token_logprobs(steps, &token_ids[prompt_len..]);
    let step_entropies = token_entropies(steps);
    let logprob_sum = token_logprobs.iter().map(|&l| f64::from(l)).sum::<f64>() as f32;
    let entropy = if step_entropies.is_empty() {
        0.0
    } else {
        (step_entropies.iter().map(|&h| f64::from(h)).sum::<f64>() / step_entropies.len() as f64)
            as f32
    };
    Ok(SequenceLogprob {
        logprob_sum,
        entropy,
        token_logprobs,
        step_entropies,
    })
}
