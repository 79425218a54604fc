//! The log-probability of a response under a model, under the book's names (ch. 6's
//! `sequence_logprob`, ch. 7's `sequence_logprob_and_entropy`): one forward pass over
//! prompt and response, then each response token's log-probability given what precedes
//! it, and the entropy of the model's distribution at each of those steps.

use ch04::sampling::{scale_logits_by_temperature, top_k_filter, top_p_filter};
use ndarray::{ArrayView2, Axis};
use shared::model::Model;
use shared::tensor::{log_softmax, softmax_inplace};
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

/// The book's DeepSeek-V3.2 "keep sampling mask" (`deepseek_v32_style.py`): which tokens
/// the sampler could have drawn from `logits` (probability above 0 after the temperature,
/// then ch04's `top_k_filter` and `top_p_filter`; probabilities that underflow to 0 are
/// out). As in the book, a top-p of 0 keeps the most likely token, and a temperature
/// of 0 or 1 leaves the logits as they are. The book's own code crashes with a top-k;
/// ours applies it.
///
/// # Errors
/// When the temperature is not a finite number.
pub fn keep_sampling_mask(
    logits: &[f32],
    temperature: f32,
    top_k: usize,
    top_p: f32,
) -> Result<Vec<bool>> {
    let mut probs = logits.to_vec();
    if temperature != 0.0 && temperature != 1.0 {
        scale_logits_by_temperature(&mut probs, temperature)?;
    }
    softmax_inplace(&mut probs);
    let mut order = Vec::new();
    top_k_filter(&mut probs, top_k, &mut order);
    top_p_filter(&mut probs, top_p, &mut order);
    Ok(probs.iter().map(|&p| p > 0.0).collect())
}

/// What [`sequence_logprob_with_keep_masks`] returns.
#[derive(Debug, Clone, PartialEq)]
pub struct MaskedLogprob {
    /// The response's log-probability under the masked distributions.
    pub logprob_sum: f32,
    /// The same without the masks.
    pub logprob_sum_unmasked: f32,
    /// The mean entropy of the masked distributions (0 for no step). The book's code
    /// gives NaN here whenever a token is masked (`0 · −∞`); this counts only the kept
    /// tokens.
    pub entropy: f32,
}

/// The book's DeepSeek-V3.2 `sequence_logprob_and_entropy` with keep masks: as
/// [`sequence_logprob_and_entropy`] on given logits (row t predicts token t + 1), but
/// each step's distribution renormalized over the tokens its sampler could draw: mask
/// `i` applies to row `prompt_len − 1 + i` (masks past the last step are ignored).
///
/// # Errors
/// As [`sequence_logprob`], or when a mask's length is not the vocabulary's.
pub fn sequence_logprob_with_keep_masks(
    logits: ArrayView2<f32>,
    token_ids: &[u32],
    prompt_len: usize,
    keep_masks: &[Vec<bool>],
) -> Result<MaskedLogprob> {
    if prompt_len == 0 || prompt_len > token_ids.len() || logits.nrows() < token_ids.len() {
        return Err(Error::InvalidArgument(format!(
            "prompt length {prompt_len} for {} ids and {} rows of logits",
            token_ids.len(),
            logits.nrows()
        )));
    }
    let vocab = logits.ncols();
    if let Some(bad) = keep_masks.iter().find(|m| m.len() != vocab) {
        return Err(Error::InvalidArgument(format!(
            "a keep mask of {} entries for a vocabulary of {vocab}",
            bad.len()
        )));
    }
    let (mut masked_sum, mut unmasked_sum, mut entropy_sum) = (0.0f64, 0.0f64, 0.0f64);
    let steps = token_ids.len() - prompt_len;
    for (i, row) in logits
        .axis_iter(Axis(0))
        .enumerate()
        .skip(prompt_len - 1)
        .take(steps)
    {
        let row = row.to_vec();
        let target = token_ids[i + 1] as usize;
        unmasked_sum += f64::from(log_softmax(&row)[target]);
        let mut masked = row;
        if let Some(mask) = keep_masks.get(i + 1 - prompt_len) {
            for (v, &keep) in masked.iter_mut().zip(mask) {
                if !keep {
                    *v = f32::NEG_INFINITY;
                }
            }
        }
        let logp = log_softmax(&masked);
        masked_sum += f64::from(logp[target]);
        entropy_sum -= logp
            .iter()
            .filter(|l| l.is_finite())
            .map(|&l| f64::from(l).exp() * f64::from(l))
            .sum::<f64>();
    }
    Ok(MaskedLogprob {
        logprob_sum: masked_sum as f32,
        logprob_sum_unmasked: unmasked_sum as f32,
        entropy: if steps == 0 {
            0.0
        } else {
            (entropy_sum / steps as f64) as f32
        },
    })
}
