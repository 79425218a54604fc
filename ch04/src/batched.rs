//! Drawing N samples of one prompt (book ch. 4.6's self-consistency loop),
//! one after another as the book does, or batched: one shared prefill whose KV
//! cache every sample copies, then decode steps that run all unfinished
//! samples as one batch (see `shared::batch`). Both give the same samples for
//! the same seed; the batched one reads the weights once per step for all N.

use std::time::Instant;

use rayon::prelude::*;
use shared::generate::{
    check_finite_logits, generate, generation_capacity, take_token, GenerateOptions, Generation,
    GenerationStats, StopReason,
};
use shared::model::Model;
use shared::Result;

use crate::sampling::{Sampler, SamplingConfig};
use crate::scoring::token_logprob;

/// One sampled answer and how probable the model found it.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The token ids, why sampling stopped, and timings.
    pub generation: Generation,
    /// Mean log-probability of the sampled tokens under the model's own
    /// distribution (temperature 1, unfiltered): the book's
    /// `avg_logprob_answer`, gathered while sampling. NaN for no tokens.
    pub avg_logprob: f64,
    /// The stop token that ended the sample (not in `generation.ids`), if one did.
    pub stop_token: Option<u32>,
}

impl Sample {
    fn new(generation: Generation, logprob_sum: f64, last_chosen: Option<u32>) -> Self {
        let n = generation.ids.len();
        let avg_logprob = if n == 0 {
            f64::NAN
        } else {
            logprob_sum / n as f64
        };
        let stop_token = last_chosen.filter(|_| generation.stop == StopReason::StopToken);
        Self {
            generation,
            avg_logprob,
            stop_token,
        }
    }
}

/// How to draw the samples.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleOptions {
    /// The most tokens per sample.
    pub max_new_tokens: usize,
    /// Token ids that end a sample (EOS, `<|im_end|>`); empty to ignore them.
    pub stop_ids: Vec<u32>,
    /// Temperature, top-k and top-p.
    pub sampling: SamplingConfig,
    /// The base seed: sample `i` uses [`sample_seed`]`(seed, i)`.
    pub seed: u64,
}

/// The seed of sample `i`: `seed + i + 1`, as the book's
/// `torch.manual_seed(seed + i + 1)`, so sample `i` is the same however many
/// samples are drawn and whether they are drawn one by one or batched.
pub fn sample_seed(seed: u64, i: usize) -> u64 {
    seed.wrapping_add(i as u64).wrapping_add(1)
}

/// `n` samples drawn one after another, each with its own prefill (the book's loop).
pub fn sample_sequential(
    model: &Model,
    prompt: &[u32],
    n: usize,
    opts: &SampleOptions,
) -> Result<Vec<Sample>> {
    let gen_opts = GenerateOptions {
        max_new_tokens: opts.max_new_tokens,
        stop_ids: opts.stop_ids.clone(),
    };
    (0..n)
        .map(|i| {
            let mut sampler = Sampler::new(opts.sampling, sample_seed(opts.seed, i))?;
            // A chosen token counts once the next one is chosen (it was kept);
            // the last one counts unless it was a stop token.
            let (mut sum, mut pending, mut last) = (0.0, None, None);
            let generation = generate(
                model,
                prompt,
                &gen_opts,
                &mut |logits| {
                    let token = sampler.select(logits);
                    last = Some(token);
                    if let Some(kept) = pending.replace(token_logprob(logits, token)) {
                        sum += kept;
                    }
                    token
                },
                &mut |_| {},
            )?;
            if generation.stop != StopReason::StopToken {
                sum += pending.unwrap_or(0.0);
            }
            Ok(Sample::new(generation, sum, last))
        })
        .collect()
}

/// One sample's progress in a batch.
struct Lane {
    sampler: Sampler,
    ids: Vec<u32>,
    next: u32,
    next_logprob: f64,
    logprob_sum: f64,
    stop: Option<StopReason>,
    total_s: f64,
}

/// `n` samples of `prompt` with one shared prefill and batched decode steps;
/// the same samples as [`sample_sequential`] for the same options.
pub fn sample_batched(
    model: &Model,
    prompt: &[u32],
    n: usize,
    opts: &SampleOptions,
) -> Result<Vec<Sample>> {
    let capacity = generation_capacity(model, prompt, opts.max_new_tokens)?;
    let start = Instant::now();
    let mut prefill = model.new_cache(capacity);
    let logits = model.last_logits(&model.forward_sequence(prompt, &mut prefill));
    check_finite_logits(model, &logits)?;
    let mut lanes = (0..n)
        .map(|i| {
            let mut sampler = Sampler::new(opts.sampling, sample_seed(opts.seed, i))?;
            let next = sampler.select(&logits);
            let ids = Vec::with_capacity(opts.max_new_tokens.min(capacity));
            Ok(Lane {
                sampler,
                ids,
                next,
                next_logprob: token_logprob(&logits, next),
                logprob_sum: 0.0,
                stop: None,
                total_s: 0.0,
            })
        })
        .collect::<Result<Vec<Lane>>>()?;
    let ttft_s = start.elapsed().as_secs_f64();
    let mut state = model.new_batch_state(n, capacity);
    for cache in &mut state.caches {
        cache.copy_prefix_from(&prefill);
    }
    let (mut active, mut tokens) = (Vec::with_capacity(n), Vec::with_capacity(n));
    loop {
        active.clear();
        tokens.clear();
        for (i, lane) in lanes.iter_mut().enumerate() {
            if lane.stop.is_some() {
                continue;
            }
            let (kept, cache_full) = (lane.ids.len(), state.caches[i].len() >= capacity);
            lane.stop = take_token(
                &mut lane.ids,
                lane.next,
                opts.max_new_tokens,
                &opts.stop_ids,
                cache_full,
            );
            if lane.ids.len() > kept {
                lane.logprob_sum += lane.next_logprob;
            }
            match lane.stop {
                Some(_) => lane.total_s = start.elapsed().as_secs_f64(),
                None => {
                    active.push(i);
                    tokens.push(lane.next);
                }
            }
        }
        if active.is_empty() {
            break;
        }
        let logits = model.forward_batch_step(&tokens, &active, &mut state);
        // Each lane samples from its own row; the lanes are independent, so
        // they draw in parallel (`active` is sorted: row = position in it).
        lanes.par_iter_mut().enumerate().for_each(|(i, lane)| {
            if let Ok(row) = active.binary_search(&i) {
                let row = logits.row(row);
                let row = row
                    .as_slice()
                    .expect("rows of the batch logits are contiguous");
                lane.next = lane.sampler.select(row);
                lane.next_logprob = token_logprob(row, lane.next);
            }
        });
    }
    Ok(lanes
        .into_iter()
        .map(|lane| {
            let generation = Generation {
                stats: GenerationStats {
                    prompt_tokens: prompt.len(),
                    new_tokens: lane.ids.len(),
                    ttft_s,
                    total_s: lane.total_s,
                },
                ids: lane.ids,
                stop: lane.stop.unwrap_or(StopReason::MaxNewTokens),
            };
            Sample::new(generation, lane.logprob_sum, Some(lane.next))
        })
        .collect())
}
