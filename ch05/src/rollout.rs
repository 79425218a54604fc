//! A group of rollouts (book ch. 6): the book's `sample_response` draws the group's
//! responses to one problem from the policy, and the verifier rewards each.

use ch04::batched::{sample_batched, SampleOptions};
use shared::model::Model;
use shared::tokenizer::Tokenizer;
use shared::Result;

use crate::reward::Reward;
use crate::step::StepConfig;

/// One sampled response and its reward.
#[derive(Debug, Clone, PartialEq)]
pub struct Rollout {
    /// The response's token ids, with the stop token that ended it (if one did).
    pub ids: Vec<u32>,
    /// Its text.
    pub text: String,
    /// What the verifier gave it.
    pub reward: Reward,
}

/// One sampled response, as the book's `sample_response` returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct SampledResponse {
    /// The generated token ids (without the stop token).
    pub ids: Vec<u32>,
    /// The stop token that ended the response, if one did.
    pub stop_token: Option<u32>,
    /// The response's text.
    pub text: String,
}

/// The book's `sample_response` (ch. 6) for a whole group: `config.group_size`
/// responses to `prompt` sampled from `model` (the policy's current weights) at the
/// config's temperature and top-p. The group is sampled as one batch by ch04's
/// sampler; each response is the one its seed gives when sampled alone.
pub fn sample_response(
    model: &Model,
    tokenizer: &Tokenizer,
    prompt: &[u32],
    config: &StepConfig,
    seed: u64,
) -> Result<Vec<SampledResponse>> {
    let opts = SampleOptions {
        max_new_tokens: config.max_new_tokens,
        stop_ids: config.stop_ids.clone(),
        sampling: config.sampling,
        seed,
    };
    Ok(sample_batched(model, prompt, config.group_size, &opts)?
        .into_iter()
        .map(|sample| SampledResponse {
            text: tokenizer.decode(&sample.generation.ids),
            ids: sample.generation.ids,
            stop_token: sample.stop_token,
        })
        .collect())
}

/// A group of rollouts: [`sample_response`], then each response's reward.
pub fn sample_rollouts(
    model: &Model,
    tokenizer: &Tokenizer,
    prompt: &[u32],
    answer: &str,
    config: &StepConfig,
    seed: u64,
) -> Result<Vec<Rollout>> {
    let responses = sample_response(model, tokenizer, prompt, config, seed)?;
    Ok(responses
        .into_iter()
        .map(|response| {
            let reward = config.reward.reward(&response.text, &response.ids, answer);
            let mut ids = response.ids;
            // The stop token is trained too: ending the answer is a choice the policy makes.
            ids.extend(response.stop_token);
            Rollout {
                ids,
                text: response.text,
                reward,
            }
        })
        .collect())
}
