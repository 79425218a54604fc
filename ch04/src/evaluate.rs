//! Evaluating inference-time scaling methods on a dataset (book ch. 4.6 and
//! 5): greedy, chain-of-thought, self-consistency, best-of-N and
//! self-refinement, each problem logged as a JSON line as soon as it is solved
//! (resumable, like chapter 3's runner).

use std::path::Path;
use std::time::Instant;

use ch03::records::RecordLog;
use ch03::{
    evaluate_problem, extract_final_candidate, grade_answer, EvalConfig, Fallback, Problem,
    PromptStyle,
};
use serde::{Deserialize, Serialize};
use shared::loader::{LoadedModel, PromptMode};
use shared::{Error, Result};

use crate::batched::{sample_batched, SampleOptions};
use crate::sampling::SamplingConfig;
use crate::scoring::{best_of_n, heuristic_score, HeuristicWeights};
use crate::self_consistency::{self_consistency_vote, SampleScores, TieBreak, VoteRule};
use crate::self_refine::{self_refinement_loop, RefineConfig, Score};

/// An inference-time scaling method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// One greedy answer to the plain prompt (chapter 3's baseline).
    Greedy,
    /// One greedy answer to the chain-of-thought prompt (book ch. 4.3).
    Cot,
    /// N sampled answers, majority vote (book ch. 4.6).
    SelfConsistency,
    /// N sampled answers, the best by score (book ch. 5).
    BestOfN,
    /// A draft, then N critique-and-revise rounds (book ch. 5).
    SelfRefine,
}

impl Method {
    /// The name as the command line and the logs spell it.
    pub fn name(self) -> &'static str {
        match self {
            Method::Greedy => "greedy",
            Method::Cot => "cot",
            Method::SelfConsistency => "self-consistency",
            Method::BestOfN => "best-of-n",
            Method::SelfRefine => "self-refine",
        }
    }

    /// Whether N changes anything (greedy and CoT always make one answer).
    pub fn uses_n(self) -> bool {
        !matches!(self, Method::Greedy | Method::Cot)
    }
}

/// How best-of-N ranks its samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Ranking {
    /// Average token log-probability (book ch. 5).
    #[value(name = "logprob")]
    AvgLogprob,
    /// The book's heuristic score.
    Heuristic,
}

/// Everything a method needs besides the problem.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MethodConfig {
    /// Which method.
    pub method: Method,
    /// Samples (self-consistency, best-of-N) or rounds (self-refinement).
    pub n: usize,
    /// The prompt for the sampling methods (greedy is plain, CoT is CoT).
    pub prompt: PromptStyle,
    /// Raw prompts, or user messages in the model's chat template (thinking on or off).
    pub prompt_mode: PromptMode,
    /// Most tokens per answer.
    pub max_new_tokens: usize,
    /// Most tokens per self-refinement critique.
    pub critique_max_new_tokens: usize,
    /// Temperature and top-p of the sampling methods.
    pub sampling: SamplingConfig,
    /// Base seed of the samples.
    pub seed: u64,
    /// How best-of-N ranks.
    pub ranking: Ranking,
    /// How self-refinement scores a draft and its revision.
    pub refine_score: Score,
    /// How self-consistency votes: tie rule, grouping, group score, early stop.
    pub vote: VoteRule,
}

/// One problem solved by one method: the final answer, every sample's short
/// answer, and the cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MethodRecord {
    /// 1-based position in the dataset.
    pub index: usize,
    /// The question.
    pub problem: String,
    /// The ground-truth answer.
    pub gtruth_answer: String,
    /// The method's name.
    pub method: Method,
    /// N (1 for greedy and CoT).
    pub n: usize,
    /// Each sample's (or round's) extracted answer.
    pub answers: Vec<String>,
    /// The method's final answer (empty when a vote tie is reported).
    pub final_answer: String,
    /// Whether it grades equal to the ground truth.
    pub correct: bool,
    /// Whether self-consistency's top vote was shared.
    #[serde(default)]
    pub tie: bool,
    /// Tokens generated for this problem (all samples, critiques, revisions).
    pub tokens: usize,
    /// Seconds spent on this problem.
    pub seconds: f64,
    /// The problem's difficulty level.
    #[serde(default)]
    pub level: Option<u32>,
    /// Each sample's average token log-probability (self-consistency and best-of-N;
    /// `None` for a sample that generated nothing), so that a log can be ranked again
    /// without generating.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub logprobs: Vec<Option<f64>>,
    /// Each sample's generated token count (self-consistency and best-of-N), so that
    /// the first n samples of a larger-N record make the N = n record with its cost.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sample_tokens: Vec<usize>,
    /// Each sample's heuristic score (self-consistency and best-of-N), for the
    /// heuristic tie-break when a log is voted again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub heuristic_scores: Vec<f64>,
}

/// Solves one problem with `config.method`.
pub fn solve_problem(
    loaded: &LoadedModel,
    index: usize,
    problem: &Problem,
    config: &MethodConfig,
) -> Result<MethodRecord> {
    let start = Instant::now();
    let outcome = match config.method {
        Method::Greedy => greedy(loaded, index, problem, config, PromptStyle::Plain)?,
        Method::Cot => greedy(loaded, index, problem, config, PromptStyle::Cot)?,
        Method::SelfConsistency | Method::BestOfN => sampled(loaded, problem, config)?,
        Method::SelfRefine => refined(loaded, problem, config)?,
    };
    let correct =
        !outcome.final_answer.is_empty() && grade_answer(&outcome.final_answer, &problem.answer);
    Ok(MethodRecord {
        index,
        problem: problem.problem.clone(),
        gtruth_answer: problem.answer.clone(),
        method: config.method,
        n: if config.method.uses_n() { config.n } else { 1 },
        answers: outcome.answers,
        final_answer: outcome.final_answer,
        correct,
        tie: outcome.tie,
        tokens: outcome.tokens,
        seconds: start.elapsed().as_secs_f64(),
        level: problem.level,
        logprobs: outcome.logprobs,
        sample_tokens: outcome.sample_tokens,
        heuristic_scores: outcome.heuristic_scores,
    })
}

/// What a method produced for one problem.
struct Outcome {
    answers: Vec<String>,
    final_answer: String,
    tie: bool,
    tokens: usize,
    logprobs: Vec<Option<f64>>,
    sample_tokens: Vec<usize>,
    heuristic_scores: Vec<f64>,
}

fn greedy(
    loaded: &LoadedModel,
    index: usize,
    problem: &Problem,
    config: &MethodConfig,
    prompt: PromptStyle,
) -> Result<Outcome> {
    let eval = EvalConfig {
        prompt,
        prompt_mode: config.prompt_mode,
        max_new_tokens: config.max_new_tokens,
    };
    let record = evaluate_problem(loaded, index, problem, &eval)?;
    Ok(Outcome {
        answers: vec![record.extracted.clone()],
        final_answer: record.extracted,
        tie: false,
        tokens: record.tokens,
        logprobs: Vec::new(),
        sample_tokens: Vec::new(),
        heuristic_scores: Vec::new(),
    })
}

/// Self-consistency and best-of-N: N batched samples, then a vote or a ranking.
fn sampled(loaded: &LoadedModel, problem: &Problem, config: &MethodConfig) -> Result<Outcome> {
    let prompt =
        loaded.encode_prompt_as(&config.prompt.render(&problem.problem), config.prompt_mode)?;
    let opts = SampleOptions {
        max_new_tokens: config.max_new_tokens,
        stop_ids: loaded.stop_ids(),
        sampling: config.sampling,
        seed: config.seed,
    };
    let samples = sample_batched(&loaded.model, &prompt, config.n, &opts)?;
    let tokenizer = loaded.tokenizer()?;
    let texts = samples
        .iter()
        .map(|s| tokenizer.decode(&s.generation.ids))
        .collect::<Vec<String>>();
    let answers: Vec<String> = texts
        .iter()
        .map(|t| extract_final_candidate(t, Fallback::NumberThenFull))
        .collect();
    let sample_tokens: Vec<usize> = samples.iter().map(|s| s.generation.ids.len()).collect();
    let mut tokens = sample_tokens.iter().sum();
    let logprobs: Vec<f64> = samples.iter().map(|s| s.avg_logprob).collect();
    let heuristic_scores: Vec<f64> = texts
        .iter()
        .map(|t| heuristic_score(t, &HeuristicWeights::default()))
        .collect();
    let (final_answer, tie) = match config.method {
        Method::SelfConsistency => {
            let scores = SampleScores {
                avg_logprobs: Some(&logprobs),
                heuristic: Some(&heuristic_scores),
            };
            let vote = self_consistency_vote(&answers, scores, config.vote);
            // With early stop, what the samples the vote needed cost.
            tokens = sample_tokens[..vote.samples_used].iter().sum();
            (vote.final_answer.unwrap_or_default(), vote.tie)
        }
        _ => {
            let scores: Vec<f64> = match config.ranking {
                Ranking::AvgLogprob => logprobs.clone(),
                Ranking::Heuristic => heuristic_scores.clone(),
            };
            let best = best_of_n(&scores).map(|i| answers[i].clone());
            (best.unwrap_or_default(), false)
        }
    };
    Ok(Outcome {
        answers,
        final_answer,
        tie,
        tokens,
        logprobs: logprobs
            .iter()
            .map(|&l| (!l.is_nan()).then_some(l))
            .collect(),
        sample_tokens,
        heuristic_scores,
    })
}

/// Self-refinement with `n` rounds.
fn refined(loaded: &LoadedModel, problem: &Problem, config: &MethodConfig) -> Result<Outcome> {
    let refine = RefineConfig {
        iterations: config.n,
        max_response_tokens: config.max_new_tokens,
        max_critique_tokens: config.critique_max_new_tokens,
        sampling: config.sampling,
        seed: config.seed,
        prompt_mode: config.prompt_mode,
        prompt: config.prompt,
        score: config.refine_score,
    };
    let result = self_refinement_loop(loaded, &problem.problem, &refine)?;
    let mut answers = vec![result
        .steps
        .first()
        .map_or(result.final_extracted.clone(), |s| {
            s.draft_extracted.clone()
        })];
    answers.extend(result.steps.iter().map(|s| s.revised_extracted.clone()));
    Ok(Outcome {
        answers,
        final_answer: result.final_extracted,
        tie: false,
        tokens: result.tokens,
        logprobs: Vec::new(),
        sample_tokens: Vec::new(),
        heuristic_scores: Vec::new(),
    })
}

/// Best-of-N by average log-probability over the samples a self-consistency record
/// already holds: the same seeds give the same samples, so this is the record
/// best-of-N would write, with the generation's tokens and seconds. `None` when
/// `record` is not a self-consistency record with a log-probability per sample.
pub fn best_of_n_from_self_consistency(record: &MethodRecord) -> Option<MethodRecord> {
    if record.method != Method::SelfConsistency || record.logprobs.len() != record.answers.len() {
        return None;
    }
    let scores: Vec<f64> = record
        .logprobs
        .iter()
        .map(|l| l.unwrap_or(f64::NAN))
        .collect();
    let final_answer = best_of_n(&scores)
        .map(|i| record.answers[i].clone())
        .unwrap_or_default();
    Some(MethodRecord {
        method: Method::BestOfN,
        correct: !final_answer.is_empty() && grade_answer(&final_answer, &record.gtruth_answer),
        final_answer,
        tie: false,
        ..record.clone()
    })
}

/// A self-consistency record voted again by `rule`, from the short answers and scores
/// it holds (no generation): what the run would have given with that rule. Its tokens
/// are the samples the vote used (fewer with early stop) when the record has each
/// sample's count. `None` when `record` is not a self-consistency record with a
/// log-probability per sample (and, for the heuristic tie-break, a heuristic score).
pub fn revote_self_consistency(record: &MethodRecord, rule: VoteRule) -> Option<MethodRecord> {
    let samples = record.answers.len();
    if record.method != Method::SelfConsistency
        || record.logprobs.len() != samples
        || (rule.tie_break == TieBreak::Heuristic && record.heuristic_scores.len() != samples)
    {
        return None;
    }
    let logprobs: Vec<f64> = record
        .logprobs
        .iter()
        .map(|l| l.unwrap_or(f64::NAN))
        .collect();
    let scores = SampleScores {
        avg_logprobs: Some(&logprobs),
        heuristic: (record.heuristic_scores.len() == samples)
            .then_some(&record.heuristic_scores[..]),
    };
    let vote = self_consistency_vote(&record.answers, scores, rule);
    let final_answer = vote.final_answer.unwrap_or_default();
    let tokens = if record.sample_tokens.len() == samples {
        record.sample_tokens[..vote.samples_used].iter().sum()
    } else {
        record.tokens
    };
    Some(MethodRecord {
        correct: !final_answer.is_empty() && grade_answer(&final_answer, &record.gtruth_answer),
        final_answer,
        tie: vote.tie,
        tokens,
        ..record.clone()
    })
}

/// The self-consistency record with N = `n` made from the first `n` samples of a
/// larger-N `record`: sample `i` has the seed `seed + i + 1` whatever N is, so these
/// are the samples an N = `n` run generates, voted again by `rule`. Its tokens
/// are those samples' tokens; its seconds are `record`'s in proportion to them (an
/// estimate: the samples were generated together). `None` when `record` is not a
/// self-consistency record with at least `n` samples, each with its log-probability
/// and token count.
pub fn self_consistency_prefix(
    record: &MethodRecord,
    n: usize,
    rule: VoteRule,
) -> Option<MethodRecord> {
    let samples = record.answers.len();
    if record.method != Method::SelfConsistency
        || n == 0
        || n > samples
        || record.logprobs.len() != samples
        || record.sample_tokens.len() != samples
    {
        return None;
    }
    let tokens: usize = record.sample_tokens[..n].iter().sum();
    let share = if record.tokens == 0 {
        n as f64 / samples as f64
    } else {
        tokens as f64 / record.tokens as f64
    };
    let prefix = MethodRecord {
        n,
        answers: record.answers[..n].to_vec(),
        logprobs: record.logprobs[..n].to_vec(),
        sample_tokens: record.sample_tokens[..n].to_vec(),
        heuristic_scores: record
            .heuristic_scores
            .get(..n)
            .map_or_else(Vec::new, <[f64]>::to_vec),
        tokens,
        seconds: record.seconds * share,
        ..record.clone()
    };
    revote_self_consistency(&prefix, rule)
}

/// Evaluates `problems` with one method into the JSON-lines log `out`;
/// `resume` continues an existing log. `on_record` sees every record, old
/// ones first. Returns all records in order.
pub fn evaluate_method(
    loaded: &LoadedModel,
    problems: &[Problem],
    config: &MethodConfig,
    out: &Path,
    resume: bool,
    on_record: &mut dyn FnMut(&MethodRecord),
) -> Result<Vec<MethodRecord>> {
    fill_method_log(
        problems,
        config.method,
        out,
        resume,
        on_record,
        &mut |i, problem| solve_problem(loaded, i, problem, config),
    )
}

/// The log `out` of `method` over `problems`, completed: records already in it (with
/// `resume`) are kept, and `solve(index, problem)` makes each missing one (1-based
/// index), appended as it comes. A log written for other problems or another method
/// is refused. `on_record` sees every record, old ones first. Returns all in order.
pub fn fill_method_log(
    problems: &[Problem],
    method: Method,
    out: &Path,
    resume: bool,
    on_record: &mut dyn FnMut(&MethodRecord),
    solve: &mut dyn FnMut(usize, &Problem) -> Result<MethodRecord>,
) -> Result<Vec<MethodRecord>> {
    let (mut log, mut records): (RecordLog, Vec<MethodRecord>) = RecordLog::open(out, resume)?;
    for r in &records {
        let same = problems
            .get(r.index.wrapping_sub(1))
            .is_some_and(|p| p.problem == r.problem);
        if !same || r.method != method {
            return Err(Error::InvalidArgument(format!(
                "{}: record {} was written by another run (other dataset, seed, limit or method); \
                 choose another --out",
                out.display(),
                r.index
            )));
        }
    }
    records.iter().for_each(&mut *on_record);
    let done: std::collections::HashSet<usize> = records.iter().map(|r| r.index).collect();
    for (i, problem) in problems.iter().enumerate() {
        if done.contains(&(i + 1)) {
            continue;
        }
        let record = solve(i + 1, problem)?;
        log.append(&record)?;
        on_record(&record);
        records.push(record);
    }
    records.sort_by_key(|r| r.index);
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sc_record(answers: &[&str], logprobs: Vec<f64>) -> MethodRecord {
        let logprobs = logprobs
            .into_iter()
            .map(|l| (!l.is_nan()).then_some(l))
            .collect();
        MethodRecord {
            index: 1,
            problem: "What is 1/2 + 0?".into(),
            gtruth_answer: "\\frac{1}{2}".into(),
            method: Method::SelfConsistency,
            n: answers.len(),
            answers: answers.iter().map(|a| a.to_string()).collect(),
            final_answer: "7".into(),
            correct: false,
            tie: false,
            tokens: 30,
            seconds: 1.5,
            level: Some(1),
            logprobs,
            sample_tokens: Vec::new(),
            heuristic_scores: Vec::new(),
        }
    }

    #[test]
    fn best_of_n_takes_the_most_likely_sample_and_keeps_the_cost() {
        let sc = sc_record(&["7", "0.5", "7"], vec![-0.9, -0.2, -0.4]);
        let best = best_of_n_from_self_consistency(&sc).unwrap();
        assert_eq!(best.method, Method::BestOfN);
        assert_eq!(best.final_answer, "0.5");
        assert!(best.correct, "0.5 grades equal to \\frac{{1}}{{2}}");
        assert_eq!(
            (best.tokens, best.seconds, &best.answers),
            (30, 1.5, &sc.answers)
        );

        let worse = sc_record(&["7", "0.5", ""], vec![-0.1, -0.2, f64::NAN]);
        let best = best_of_n_from_self_consistency(&worse).unwrap();
        assert_eq!((best.final_answer.as_str(), best.correct), ("7", false));
        // A sample that generated nothing has no log-probability, and the log keeps it.
        let line = serde_json::to_string(&worse).unwrap();
        assert!(line.contains(r#""logprobs":[-0.1,-0.2,null]"#), "{line}");
        assert_eq!(serde_json::from_str::<MethodRecord>(&line).unwrap(), worse);
    }

    #[test]
    fn best_of_n_needs_a_self_consistency_record_with_every_logprob() {
        assert!(best_of_n_from_self_consistency(&sc_record(&["1", "2"], vec![-0.1])).is_none());
        let mut greedy = sc_record(&["1"], vec![-0.1]);
        greedy.method = Method::Greedy;
        assert!(best_of_n_from_self_consistency(&greedy).is_none());
    }

    #[test]
    fn revoting_breaks_ties_by_log_probability_without_generating() {
        let tied = sc_record(&["7", "0.5", "7", "1/2"], vec![-0.9, -0.2, -0.8, -0.3]);
        let report = revote_self_consistency(&tied, VoteRule::ours(TieBreak::Report)).unwrap();
        assert!(report.tie && report.final_answer.is_empty() && !report.correct);
        let broken = revote_self_consistency(&tied, VoteRule::ours(TieBreak::AvgLogprob)).unwrap();
        assert!(broken.tie, "the vote was still tied");
        assert_eq!(
            (broken.final_answer.as_str(), broken.correct),
            ("0.5", true)
        );
        assert_eq!(
            (broken.tokens, &broken.answers),
            (tied.tokens, &tied.answers)
        );
        let mut greedy = tied.clone();
        greedy.method = Method::Greedy;
        assert!(revote_self_consistency(&greedy, VoteRule::ours(TieBreak::AvgLogprob)).is_none());
    }

    #[test]
    fn the_first_samples_of_a_larger_n_make_the_smaller_n_record() {
        let mut sc = sc_record(&["7", "0.5", "0.5", "7", "7"], vec![-0.1; 5]);
        sc.sample_tokens = vec![10, 20, 30, 40, 50];
        sc.tokens = 150;
        sc.seconds = 3.0;
        let three = self_consistency_prefix(&sc, 3, VoteRule::ours(TieBreak::Report)).unwrap();
        assert_eq!(three.n, 3);
        assert_eq!(three.answers, ["7", "0.5", "0.5"]);
        assert_eq!((three.final_answer.as_str(), three.correct), ("0.5", true));
        assert_eq!(three.sample_tokens, [10, 20, 30]);
        assert_eq!(three.tokens, 60);
        assert!((three.seconds - 1.2).abs() < 1e-12, "{}", three.seconds);
        let one = self_consistency_prefix(&sc, 1, VoteRule::ours(TieBreak::Report)).unwrap();
        assert_eq!((one.final_answer.as_str(), one.correct), ("7", false));
        let all = self_consistency_prefix(&sc, 5, VoteRule::ours(TieBreak::Report)).unwrap();
        assert_eq!((all.final_answer.as_str(), all.tokens), ("7", 150));

        assert!(self_consistency_prefix(&sc, 6, VoteRule::ours(TieBreak::Report)).is_none());
        assert!(self_consistency_prefix(&sc, 0, VoteRule::ours(TieBreak::Report)).is_none());
        sc.sample_tokens.pop();
        assert!(
            self_consistency_prefix(&sc, 3, VoteRule::ours(TieBreak::Report)).is_none(),
            "a log without every sample's tokens cannot be cut"
        );
    }
}
