//! Text generation loops (book ch. 2): greedy decoding with and without the KV
//! cache, streaming each new token to a callback, stopping at end-of-sequence
//! tokens, and timing statistics; and greedy decoding of many prompts as one
//! batch ([`generate_greedy_batch`]), for evaluations.

use std::time::Instant;

use crate::attention::KvCache;
use crate::batch::BatchDecodeState;
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

/// What to generate with [`generate`]: how many tokens at most, and which ids end the answer.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    /// The most tokens to generate.
    pub max_new_tokens: usize,
    /// Token ids that end generation (EOS, `<|im_end|>`); empty to ignore them.
    pub stop_ids: Vec<u32>,
}

/// The new ids and the clock of one generation loop while it runs.
struct Tally {
    prompt_tokens: usize,
    ids: Vec<u32>,
    start: Instant,
    ttft_s: f64,
}

impl Tally {
    /// Starts the clock for a prompt of `prompt_tokens` tokens.
    fn start(prompt_tokens: usize) -> Tally {
        Tally {
            prompt_tokens,
            ids: Vec::new(),
            start: Instant::now(),
            ttft_s: 0.0,
        }
    }

    /// Notes the time to the first token (the prefill) when no token is chosen yet.
    fn first_token_chosen(&mut self) {
        if self.ids.is_empty() {
            self.ttft_s = self.start.elapsed().as_secs_f64();
        }
    }

    /// [`take_token`] into this generation's ids, showing a kept token to `on_token`.
    fn take(
        &mut self,
        next: u32,
        max_new_tokens: usize,
        stop_ids: &[u32],
        cache_full: bool,
        on_token: &mut dyn FnMut(u32),
    ) -> Option<StopReason> {
        let kept = self.ids.len();
        let stop = take_token(&mut self.ids, next, max_new_tokens, stop_ids, cache_full);
        if self.ids.len() > kept {
            on_token(next);
        }
        stop
    }

    /// The generation, ended for `stop`.
    fn finish(self, stop: StopReason) -> Generation {
        let stats = GenerationStats {
            prompt_tokens: self.prompt_tokens,
            new_tokens: self.ids.len(),
            ttft_s: self.ttft_s,
            total_s: self.start.elapsed().as_secs_f64(),
        };
        Generation {
            ids: self.ids,
            stop,
            stats,
        }
    }
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
    generation_capacity(model, prompt, max_new_tokens)?;
    let context = model.config.max_position_embeddings;
    let mut tally = Tally::start(prompt.len());
    let mut seq = prompt.to_vec();
    while tally.ids.len() < max_new_tokens {
        if seq.len() > context {
            return Ok(tally.finish(StopReason::ContextFull));
        }
        let logits = model.forward(&seq)?;
        let last = logits.row(seq.len() - 1).to_vec();
        if tally.ids.is_empty() {
            check_finite_logits(model, &last)?;
        }
        let next = argmax(&last) as u32;
        tally.first_token_chosen();
        if stop_ids.contains(&next) {
            return Ok(tally.finish(StopReason::StopToken));
        }
        tally.ids.push(next);
        seq.push(next);
        on_token(next);
    }
    Ok(tally.finish(StopReason::MaxNewTokens))
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
    let capacity = generation_capacity(model, prompt, max_new_tokens)?;
    let mut tally = Tally::start(prompt.len());
    let mut state = model.new_decode_state(capacity);
    let hidden = model.forward_sequence(prompt, &mut state.cache);
    let logits = model.last_logits(&hidden);
    check_finite_logits(model, &logits)?;
    let mut next = argmax(&logits) as u32;
    tally.first_token_chosen();
    loop {
        let cache_full = state.cache.len() >= capacity;
        if let Some(stop) = tally.take(next, max_new_tokens, stop_ids, cache_full, on_token) {
            return Ok(tally.finish(stop));
        }
        next = argmax(model.forward_step(next, &mut state)) as u32;
    }
}

/// Takes the chosen token `next` by every generation loop's rules (the cached loops here,
/// batched greedy decoding, chapter 4's batched sampling): a stop id ends the answer
/// unkept; otherwise `next` is appended to `ids`, and the answer ends when it reaches
/// `max_new_tokens` or the cache is full. `None`: the answer goes on.
pub fn take_token(
    ids: &mut Vec<u32>,
    next: u32,
    max_new_tokens: usize,
    stop_ids: &[u32],
    cache_full: bool,
) -> Option<StopReason> {
    if ids.len() >= max_new_tokens {
        return Some(StopReason::MaxNewTokens);
    }
    if stop_ids.contains(&next) {
        return Some(StopReason::StopToken);
    }
    ids.push(next);
    if ids.len() == max_new_tokens {
        return Some(StopReason::MaxNewTokens);
    }
    cache_full.then_some(StopReason::ContextFull)
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

/// Checks the logits of `model`'s first forward pass: NaN or ∞ there means the weights
/// hold non-finite values, and every token after would be meaningless, so generation
/// stops with [`Error::NonFinite`] naming the model's file instead.
pub fn check_finite_logits(model: &Model, logits: &[f32]) -> Result<()> {
    let Some(i) = logits.iter().position(|x| !x.is_finite()) else {
        return Ok(());
    };
    let source = match &model.source {
        Some(path) => format!("{}: ", path.display()),
        None => String::new(),
    };
    Err(Error::NonFinite(format!(
        "{source}the model's logits are not finite (token {i}: {}): its weights hold NaN or \
         infinite values; check the model file or fetch it again",
        logits[i]
    )))
}

/// Decoding with the KV cache where `select` turns the next-token logits into an id:
/// [`generate_text_basic_cache`]'s loop with the choice left open, where chapter 4's
/// sampling plugs in.
pub fn generate(
    model: &Model,
    prompt: &[u32],
    opts: &GenerateOptions,
    select: &mut dyn FnMut(&[f32]) -> u32,
    on_token: &mut dyn FnMut(u32),
) -> Result<Generation> {
    let capacity = generation_capacity(model, prompt, opts.max_new_tokens)?;
    let mut tally = Tally::start(prompt.len());
    let mut state = model.new_decode_state(capacity);
    let hidden = model.forward_sequence(prompt, &mut state.cache);
    let logits = model.last_logits(&hidden);
    check_finite_logits(model, &logits)?;
    let mut next = select(&logits);
    tally.first_token_chosen();
    let (max, stop_ids) = (opts.max_new_tokens, &opts.stop_ids);
    loop {
        let cache_full = state.cache.len() >= capacity;
        if let Some(stop) = tally.take(next, max, stop_ids, cache_full, on_token) {
            return Ok(tally.finish(stop));
        }
        next = select(model.forward_step(next, &mut state));
    }
}

/// Greedy answers to many prompts, decoded `batch` at a time with continuous
/// batching; `on_finished(i, generation)` receives the answer to `prompts[i]`
/// as soon as it is complete (in the order they finish, not the prompts'
/// order). An error from `on_finished` stops the loop and is returned.
///
/// Each answer is exactly what [`generate_text_basic_cache`] gives for its
/// prompt alone wherever a batched product's rows equal single-row products
/// ([`Model::batched_rows_are_exact`]): the same prefill, the same argmax,
/// the same stop rules (a stop id ends an answer unkept; `max_new_tokens`;
/// a full context).
///
/// The design: `batch` slots, each with its own KV cache in one
/// [`BatchDecodeState`] (sized for the longest prompt plus its budget). A
/// free slot takes the next prompt in order and prefills it alone into its
/// cache, which yields the slot's first token. Then every occupied slot
/// decodes one token per [`Model::forward_batch_step`], so each weight is read
/// once per step for all of them. A slot whose answer ends (a stop id or its
/// token budget) hands it to `on_finished` and takes the next prompt before
/// the following step, so the batch stays full until the prompts run out;
/// then it shrinks as the last answers end. Prompts are admitted in order, so
/// early prompts tend to finish first.
///
/// Prefills stall the other slots, and an evaluation's prompts share their
/// start (chat template, instructions): the tokens common to all prompts are
/// prefilled once, and each admission copies their keys and values into its
/// slot and prefills only the rest of its prompt. Every position still gets
/// exactly the operations of a whole prefill (a product's rows and each
/// position's attention do not depend on the other rows).
///
/// `generation.stats` counts from the moment the prompt entered its slot:
/// `ttft_s` is its prefill, `total_s` its time in the batch (shared with the
/// other slots, so the sum over prompts exceeds the wall time).
pub fn generate_greedy_batch(
    model: &Model,
    prompts: &[Vec<u32>],
    batch: usize,
    max_new_tokens: usize,
    stop_ids: &[u32],
    on_finished: &mut dyn FnMut(usize, Generation) -> Result<()>,
) -> Result<()> {
    if batch == 0 {
        return Err(Error::InvalidArgument(
            "batch size 0: decode at least one sequence at a time (1 decodes them one by one)"
                .into(),
        ));
    }
    let capacities = prompts
        .iter()
        .map(|p| generation_capacity(model, p, max_new_tokens))
        .collect::<Result<Vec<_>>>()?;
    let Some(&largest) = capacities.iter().max() else {
        return Ok(());
    };
    let mut batcher = GreedyBatcher {
        model,
        prompts,
        capacities,
        max_new_tokens,
        stop_ids,
        prefix: prefill_common_prefix(model, prompts),
        state: model.new_batch_state(batch.min(prompts.len()), largest),
        lanes: Vec::new(),
        queue: 0..prompts.len(),
    };
    batcher.lanes.resize_with(batcher.state.batch(), || None);
    batcher.run(on_finished)
}

/// The state of [`generate_greedy_batch`]: the prompts, the slots and the
/// prompts not yet admitted.
struct GreedyBatcher<'a> {
    model: &'a Model,
    prompts: &'a [Vec<u32>],
    /// Each prompt's cache limit, as [`generation_capacity`] gives it.
    capacities: Vec<usize>,
    max_new_tokens: usize,
    stop_ids: &'a [u32],
    /// The keys and values of the tokens every prompt starts with, if any.
    prefix: Option<KvCache>,
    /// One KV cache per slot.
    state: BatchDecodeState,
    /// The answer in progress in each slot; `None` for a free slot.
    lanes: Vec<Option<Lane>>,
    /// Prompts not yet admitted, in order.
    queue: std::ops::Range<usize>,
}

/// One answer in progress.
struct Lane {
    /// Which prompt it answers.
    prompt: usize,
    /// The token chosen last, not yet taken (kept, or a stop).
    next: u32,
    /// The tokens kept so far, and the clock since the prompt entered its slot.
    tally: Tally,
}

impl GreedyBatcher<'_> {
    /// The decoding loop: fill and advance every slot, then one batched step
    /// for the slots still decoding, until no prompt is left.
    fn run(&mut self, on_finished: &mut dyn FnMut(usize, Generation) -> Result<()>) -> Result<()> {
        let (mut active, mut tokens) = (Vec::new(), Vec::new());
        loop {
            active.clear();
            tokens.clear();
            for slot in 0..self.lanes.len() {
                if let Some(token) = self.advance_slot(slot, on_finished)? {
                    active.push(slot);
                    tokens.push(token);
                }
            }
            if active.is_empty() {
                return Ok(());
            }
            let logits = self
                .model
                .forward_batch_step(&tokens, &active, &mut self.state);
            for (row, &slot) in active.iter().enumerate() {
                let row = logits.row(row);
                let lane = self.lanes[slot].as_mut().expect("active slots hold a lane");
                lane.next = argmax(row.as_slice().expect("logit rows are contiguous")) as u32;
            }
        }
    }

    /// Takes the token chosen for `slot`'s answer; while the answer ends
    /// (handed to `on_finished`) the slot takes the next prompt. Returns the
    /// token the slot feeds to the next step, or `None` when it stays free.
    fn advance_slot(
        &mut self,
        slot: usize,
        on_finished: &mut dyn FnMut(usize, Generation) -> Result<()>,
    ) -> Result<Option<u32>> {
        loop {
            if self.lanes[slot].is_none() {
                let Some(prompt) = self.queue.next() else {
                    return Ok(None);
                };
                self.lanes[slot] = Some(self.prefill(slot, prompt));
            }
            let cache_len = self.state.caches[slot].len();
            let lane = self.lanes[slot].as_mut().expect("filled above");
            let cache_full = cache_len >= self.capacities[lane.prompt];
            let (max, stop_ids) = (self.max_new_tokens, self.stop_ids);
            match lane
                .tally
                .take(lane.next, max, stop_ids, cache_full, &mut |_| {})
            {
                None => return Ok(Some(lane.next)),
                Some(stop) => {
                    let lane = self.lanes[slot].take().expect("filled above");
                    let prompt = lane.prompt;
                    on_finished(prompt, lane.tally.finish(stop))?;
                }
            }
        }
    }

    /// Admits `prompt` into `slot`: the common prefix's keys and values, then
    /// the rest of the prompt prefilled into the slot's cache; chooses its
    /// first token as [`generate`] does.
    fn prefill(&mut self, slot: usize, prompt: usize) -> Lane {
        let mut tally = Tally::start(self.prompts[prompt].len());
        let cache = &mut self.state.caches[slot];
        match &self.prefix {
            Some(prefix) => cache.copy_prefix_from(prefix),
            None => cache.reset(),
        }
        let rest = &self.prompts[prompt][cache.len()..];
        let hidden = self.model.forward_sequence(rest, cache);
        let next = argmax(&self.model.last_logits(&hidden)) as u32;
        tally.first_token_chosen();
        Lane {
            prompt,
            next,
            tally,
        }
    }
}

/// Prefills the tokens that all of several prompts start with (leaving each at
/// least one token of its own, whose logits choose its first answer token)
/// and returns their cache; `None` for fewer than two prompts or no common start.
fn prefill_common_prefix(model: &Model, prompts: &[Vec<u32>]) -> Option<KvCache> {
    let (first, others) = prompts.split_first()?;
    let shortest = prompts.iter().map(Vec::len).min()?;
    let common = others.iter().fold(shortest.saturating_sub(1), |len, p| {
        first
            .iter()
            .zip(p)
            .take(len)
            .take_while(|(a, b)| a == b)
            .count()
    });
    if others.is_empty() || common == 0 {
        return None;
    }
    let mut cache = model.new_cache(common);
    model.forward_sequence(&first[..common], &mut cache);
    Some(cache)
}
