//! Self-refinement (book ch. 5): draft an answer, ask the model to critique
//! it, ask for a revision that uses the critique, and keep the revision only
//! if its score does not drop; repeat for k rounds.

use ch03::{extract_final_candidate, Fallback, PromptStyle};
use shared::generate::{generate, GenerateOptions, Generation};
use shared::loader::{LoadedModel, PromptMode};
use shared::Result;

use crate::batched::sample_seed;
use crate::sampling::{Sampler, SamplingConfig};
use crate::scoring::{avg_logprob_answer, heuristic_score, HeuristicWeights};

/// The book's `make_critique_prompt`.
pub fn make_critique_prompt(raw_prompt: &str, draft: &str) -> String {
    format!(
        "You are a meticulous reviewer. Identify logical errors, missing \
         steps, or arithmetic mistakes. If the answer seems correct, \
         say so briefly. Then propose a concise plan to fix issues.\n\n\
         Question:\n{raw_prompt}\n\n\
         Draft answer:\n{draft}\n\n\
         Write a short critique and bullet-point fix plan \
         (under ~120 words).\n\
         Critique:"
    )
}

/// The book's `make_refine_prompt`.
pub fn make_refine_prompt(raw_prompt: &str, draft: &str, critique: &str) -> String {
    format!(
        "Revise the answer using the critique. Keep it concise and \
         end with a final boxed result: \\boxed{{ANSWER}}\n\n\
         Question:\n{raw_prompt}\n\n\
         Previous answer:\n{draft}\n\n\
         Critique:\n{critique}\n\n\
         Revised answer:"
    )
}

/// How a draft and its revision are scored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Score {
    /// No score: every revision is accepted (the book's `--scoring none`).
    None,
    /// [`heuristic_score`]: boxed answer and brevity; needs no model.
    Heuristic(HeuristicWeights),
    /// [`avg_logprob_answer`] of the answer after the original prompt.
    AvgLogprob,
    /// [`avg_logprob_answer`] of only the extracted answer, written as
    /// `"\n\\boxed{…}"`, after the original prompt (the book's `logprob_extract`);
    /// [`NO_ANSWER_SCORE`] when nothing can be extracted (no box, no number).
    AvgLogprobExtract,
}

/// `--refine-scoring`: how self-refinement scores a draft and its revision, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RefineScoring {
    /// No score: every revision is kept (the book's `--scoring none`).
    None,
    /// The book's heuristic score of the whole answer.
    Heuristic,
    /// The whole answer's average token log-probability.
    Logprob,
    /// The average token log-probability of only the boxed answer (the book's `logprob_extract`).
    LogprobExtract,
}

impl RefineScoring {
    /// The [`Score`] this name stands for (the heuristic with the book's weights).
    pub fn score(self) -> Score {
        match self {
            RefineScoring::None => Score::None,
            RefineScoring::Heuristic => Score::Heuristic(HeuristicWeights::default()),
            RefineScoring::Logprob => Score::AvgLogprob,
            RefineScoring::LogprobExtract => Score::AvgLogprobExtract,
        }
    }
}

/// [`Score::AvgLogprobExtract`]'s score of an answer with nothing to extract (the book's -1e9).
pub const NO_ANSWER_SCORE: f64 = -1e9;

/// Settings of the loop (the book's defaults: 2 rounds, temperature 0.7, top-p 0.9).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RefineConfig {
    /// Critique-and-revise rounds.
    pub iterations: usize,
    /// Most tokens of a draft or revision.
    pub max_response_tokens: usize,
    /// Most tokens of a critique.
    pub max_critique_tokens: usize,
    /// How every generation samples.
    pub sampling: SamplingConfig,
    /// Base seed; each generation of the loop draws its own seed from it.
    pub seed: u64,
    /// Raw prompts, or user messages in the model's chat template (thinking on or off).
    pub prompt_mode: PromptMode,
    /// The prompt the draft answers (plain or chain-of-thought).
    pub prompt: PromptStyle,
    /// How answers are compared.
    pub score: Score,
}

/// One round of the loop.
#[derive(Debug, Clone, PartialEq)]
pub struct RefineStep {
    /// 1-based round number.
    pub iteration: usize,
    /// The answer before this round.
    pub draft_full: String,
    /// Its extracted final answer.
    pub draft_extracted: String,
    /// The model's critique.
    pub critique: String,
    /// The revision.
    pub revised_full: String,
    /// Its extracted final answer.
    pub revised_extracted: String,
    /// Score of the answer before the round.
    pub score_before: f64,
    /// Score of the revision.
    pub score_after: f64,
    /// Whether the revision replaced the answer (its score did not drop).
    pub accepted: bool,
}

/// The loop's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct RefineResult {
    /// The kept answer.
    pub final_full: String,
    /// Its extracted final answer.
    pub final_extracted: String,
    /// Every round.
    pub steps: Vec<RefineStep>,
    /// Tokens generated in all (drafts, critiques and revisions).
    pub tokens: usize,
}

/// The book's `self_refinement_loop`.
pub fn self_refinement_loop(
    loaded: &LoadedModel,
    raw_prompt: &str,
    config: &RefineConfig,
) -> Result<RefineResult> {
    let prompt = config.prompt.render(raw_prompt);
    let prompt_ids = loaded.encode_prompt_as(&prompt, config.prompt_mode)?;
    let mut seeds = (0..).map(|i| sample_seed(config.seed, i));
    let mut next_seed = || seeds.next().expect("an endless range");
    let draft = sample_text(
        loaded,
        &prompt,
        config,
        config.max_response_tokens,
        next_seed(),
    )?;
    let mut tokens = draft.1.ids.len();
    let mut current = Answer::new(draft, 0.0);
    current.score = score_answer(loaded, &prompt_ids, config, &current)?;
    let mut steps = Vec::with_capacity(config.iterations);
    for iteration in 1..=config.iterations {
        let critique_prompt = make_critique_prompt(raw_prompt, &current.full);
        let critique = sample_text(
            loaded,
            &critique_prompt,
            config,
            config.max_critique_tokens,
            next_seed(),
        )?;
        let refine_prompt = make_refine_prompt(raw_prompt, &current.full, &critique.0);
        let revised = sample_text(
            loaded,
            &refine_prompt,
            config,
            config.max_response_tokens,
            next_seed(),
        )?;
        tokens += critique.1.ids.len() + revised.1.ids.len();
        let mut revised = Answer::new(revised, 0.0);
        revised.score = score_answer(loaded, &prompt_ids, config, &revised)?;
        let accepted = revised.score >= current.score;
        steps.push(RefineStep {
            iteration,
            draft_full: current.full.clone(),
            draft_extracted: current.extracted.clone(),
            critique: critique.0,
            revised_full: revised.full.clone(),
            revised_extracted: revised.extracted.clone(),
            score_before: current.score,
            score_after: revised.score,
            accepted,
        });
        if accepted {
            current = revised;
        }
    }
    Ok(RefineResult {
        final_full: current.full,
        final_extracted: current.extracted,
        steps,
        tokens,
    })
}

/// An answer with its ids, extracted final answer and score.
struct Answer {
    full: String,
    ids: Vec<u32>,
    extracted: String,
    score: f64,
}

impl Answer {
    fn new((full, generation): (String, Generation), score: f64) -> Self {
        let extracted = extract_final_candidate(&full, Fallback::NumberThenFull);
        Self {
            full,
            ids: generation.ids,
            extracted,
            score,
        }
    }
}

/// The score of an answer to the original prompt.
fn score_answer(
    loaded: &LoadedModel,
    prompt_ids: &[u32],
    config: &RefineConfig,
    answer: &Answer,
) -> Result<f64> {
    match config.score {
        Score::None => Ok(0.0),
        Score::AvgLogprobExtract => extracted_answer_logprob(loaded, prompt_ids, &answer.full),
        Score::Heuristic(weights) => Ok(heuristic_score(&answer.full, &weights)),
        Score::AvgLogprob if answer.ids.is_empty() => Ok(f64::NEG_INFINITY),
        Score::AvgLogprob => avg_logprob_answer(&loaded.model, prompt_ids, &answer.ids),
    }
}

/// The book's `avg_logprob_answer_extract`: the boxed answer (else the last number) of
/// `full`, written as `"\n\\boxed{answer}"`, scored by its mean token log-probability
/// after the prompt.
fn extracted_answer_logprob(loaded: &LoadedModel, prompt_ids: &[u32], full: &str) -> Result<f64> {
    let boxed = extract_final_candidate(full, Fallback::None);
    let candidate = if boxed.is_empty() {
        extract_final_candidate(full, Fallback::NumberOnly)
    } else {
        boxed
    };
    if candidate.is_empty() {
        return Ok(NO_ANSWER_SCORE);
    }
    let ids = loaded
        .tokenizer()?
        .encode(&format!("\n\\boxed{{{}}}", candidate.trim()));
    if ids.is_empty() {
        return Ok(NO_ANSWER_SCORE);
    }
    avg_logprob_answer(&loaded.model, prompt_ids, &ids)
}

/// A sampled answer to `prompt` and its generation.
fn sample_text(
    loaded: &LoadedModel,
    prompt: &str,
    config: &RefineConfig,
    max_new_tokens: usize,
    seed: u64,
) -> Result<(String, Generation)> {
    let ids = loaded.encode_prompt_as(prompt, config.prompt_mode)?;
    let mut sampler = Sampler::new(config.sampling, seed)?;
    let opts = GenerateOptions {
        max_new_tokens,
        stop_ids: loaded.stop_ids(),
    };
    let generation = generate(
        &loaded.model,
        &ids,
        &opts,
        &mut |l| sampler.select(l),
        &mut |_| {},
    )?;
    let text = loaded.tokenizer()?.decode(&generation.ids);
    Ok((text, generation))
}
