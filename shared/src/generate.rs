//! Text generation loops (book ch. 2): greedy decoding with and without the KV
//! cache, streaming each new token to a callback, stopping at end-of-sequence
//! tokens, and timing statistics.

use std::time::Instant;

use crate::model::Model;
use crate::tensor::argmax;
use crate::{Error, Result};

/// Why a generation loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The model produced a stop token (EOS, `<|im_end|>`, …); it is not included in the output.
    StopToken,
    /// `max_new_tokens` were generated.
    MaxNewTokens,
    /// The model's context (or the cache) is full.
    ContextFull,
}

/// Timing and counts of one generation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GenerationStats {
    /// Tokens in the prompt.
    pub prompt_tokens: usize,
    /// Tokens generated (stop token excluded).
    pub new_tokens: usize,
    /// Seconds from the start until the first new token was chosen (the prefill).
    pub ttft_s: f64,
    /// Seconds for the whole loop.
    pub total_s: f64,
}

impl GenerationStats {
    /// New tokens per second over the whole loop, prefill included (how the
    /// PyTorch anchor measures `model.generate`).
    pub fn tok_per_s(&self) -> f64 {
        if self.total_s > 0.0 {
            self.new_tokens as f64 / self.total_s
        } else {
            0.0
        }
    }
}

/// The result of a generation loop.
#[derive(Debug, Clone, PartialEq)]
pub struct Generation {
    /// The new token ids (the prompt and any stop token excluded).
    pub ids: Vec<u32>,
    /// Why the loop ended.
    pub stop: StopReason,
    /// Counts and timings.
    pub stats: GenerationStats,
}

/// What to generate: how many tokens at most, which ids end the answer, and
/// whether to reuse keys and values through the KV cache.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    /// The most tokens to generate.
    pub max_new_tokens: usize,
    /// Token ids that end generation (EOS, `<|im_end|>`); empty to ignore them.
    pub stop_ids: Vec<u32>,
    /// Feed only the newest token each step (KV cache) instead of the whole sequence.
    pub use_cache: bool,
}

/// Greedy decoding without a cache, the book's `generate_text_basic`: every
/// step runs the whole sequence through the model again and takes the argmax
/// of the last position's logits. `on_token` sees each new id as it is chosen.
pub fn generate_text_basic(
    model: &Model,
    prompt: &[u32],
    max_new_tokens: usize,
    stop_ids: &[u32],
    on_token: &mut dyn FnMut(u32),
) -> Result<Generation> {
    generate_greedy(model, prompt, max_new_tokens, stop_ids, false, on_token)
}

/// Greedy decoding with the KV cache, the book's `generate_text_basic_cache`:
/// the prompt is processed once, then each step feeds only the newest token.
pub fn generate_text_basic_cache(
    model: &Model,
    prompt: &[u32],
    max_new_tokens: usize,
    stop_ids: &[u32],
    on_token: &mut dyn FnMut(u32),
) -> Result<Generation> {
    generate_greedy(model, prompt, max_new_tokens, stop_ids, true, on_token)
}

/// [`generate`] with argmax as the choice of the next token.
fn generate_greedy(
    model: &Model,
    prompt: &[u32],
    max_new_tokens: usize,
    stop_ids: &[u32],
    use_cache: bool,
    on_token: &mut dyn FnMut(u32),
) -> Result<Generation> {
    let opts = GenerateOptions {
        max_new_tokens,
        stop_ids: stop_ids.to_vec(),
        use_cache,
    };
    generate(
        model,
        prompt,
        &opts,
        &mut |logits| argmax(logits) as u32,
        on_token,
    )
}

/// Checks a prompt before generating (non-empty, valid ids, within the
/// context) and returns how many positions the KV cache needs: the prompt
/// plus `max_new_tokens`, bounded by the model's context.
pub fn generation_capacity(model: &Model, prompt: &[u32], max_new_tokens: usize) -> Result<usize> {
    if prompt.is_empty() {
        return Err(Error::InvalidArgument(
            "empty prompt: give at least one token to continue".into(),
        ));
    }
    let context = model.config.max_position_embeddings;
    model.check_input(prompt, 0, context)?;
    Ok(prompt.len().saturating_add(max_new_tokens).min(context))
}

/// The general loop behind both: `select` turns the next-token logits into an
/// id (argmax here; sampling in chapter 4).
pub fn generate(
    model: &Model,
    prompt: &[u32],
    opts: &GenerateOptions,
    select: &mut dyn FnMut(&[f32]) -> u32,
    on_token: &mut dyn FnMut(u32),
) -> Result<Generation> {
    let capacity = generation_capacity(model, prompt, opts.max_new_tokens)?;
    let context = model.config.max_position_embeddings;
    let start = Instant::now();
    let mut ids = Vec::with_capacity(capacity - prompt.len() + 1);
    let mut ttft_s = 0.0;
    let mut stop = StopReason::MaxNewTokens;
    if opts.use_cache {
        let mut state = model.new_decode_state(capacity);
        let hidden = model.forward_sequence(prompt, &mut state.cache);
        let mut next = select(&model.last_logits(&hidden));
        ttft_s = start.elapsed().as_secs_f64();
        while ids.len() < opts.max_new_tokens {
            if opts.stop_ids.contains(&next) {
                stop = StopReason::StopToken;
                break;
            }
            ids.push(next);
            on_token(next);
            if ids.len() == opts.max_new_tokens {
                break;
            }
            if state.cache.len() >= capacity {
                stop = StopReason::ContextFull;
                break;
            }
            next = select(model.forward_step(next, &mut state));
        }
    } else {
        let mut seq = prompt.to_vec();
        while ids.len() < opts.max_new_tokens {
            if seq.len() > context {
                stop = StopReason::ContextFull;
                break;
            }
            let logits = model.forward(&seq)?;
            let next = select(
                logits
                    .row(logits.nrows() - 1)
                    .as_slice()
                    .expect("contiguous"),
            );
            if ids.is_empty() {
                ttft_s = start.elapsed().as_secs_f64();
            }
            if opts.stop_ids.contains(&next) {
                stop = StopReason::StopToken;
                break;
            }
            ids.push(next);
            seq.push(next);
            on_token(next);
        }
    }
    let stats = GenerationStats {
        prompt_tokens: prompt.len(),
        new_tokens: ids.len(),
        ttft_s,
        total_s: start.elapsed().as_secs_f64(),
    };
    Ok(Generation { ids, stop, stats })
}
