//! The evaluation loop (book ch. 3.9, `evaluate_math500_stream`): for each
//! problem, render the prompt, generate greedily, extract the final answer,
//! grade it, and append a record to the log as soon as it is known. With a
//! batch of several problems decoded at once, the records are the same and are
//! still written in dataset order.

use std::path::Path;
use std::time::Instant;

use shared::generate::{generate_greedy_batch, generate_text_basic_cache, Generation};
use shared::loader::{LoadedModel, PromptMode};
use shared::{Error, Result};

use crate::grader::{extract_final_candidate, grade_answer, Fallback};
use crate::problem::Problem;
use crate::prompts::PromptStyle;
use crate::records::{EvalRecord, RecordLog};

/// How to pose each problem and how long an answer may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EvalConfig {
    /// Plain or chain-of-thought prompt.
    pub prompt: PromptStyle,
    /// Raw, or a user message in the model's chat template (thinking on or off).
    pub prompt_mode: PromptMode,
    /// The most tokens an answer may take.
    pub max_new_tokens: usize,
}

/// Generates a greedy answer to `prompt` and returns its text with the
/// generation's ids and statistics (the book's `generate_text_stream_concat`).
pub fn generate_text_stream_concat(
    loaded: &LoadedModel,
    prompt: &str,
    mode: PromptMode,
    max_new_tokens: usize,
) -> Result<(String, Generation)> {
    let ids = loaded.encode_prompt_as(prompt, mode)?;
    let generation = generate_text_basic_cache(
        &loaded.model,
        &ids,
        max_new_tokens,
        &loaded.stop_ids(),
        &mut |_| {},
    )?;
    let text = loaded.tokenizer()?.decode(&generation.ids);
    Ok((text, generation))
}

/// Poses one problem, grades the answer and returns the record
/// (`index` is the problem's 1-based position in its dataset).
pub fn evaluate_problem(
    loaded: &LoadedModel,
    index: usize,
    problem: &Problem,
    config: &EvalConfig,
) -> Result<EvalRecord> {
    let start = Instant::now();
    let prompt = config.prompt.render(&problem.problem);
    let (text, generation) =
        generate_text_stream_concat(loaded, &prompt, config.prompt_mode, config.max_new_tokens)?;
    Ok(grade_response(
        index,
        problem,
        text,
        &generation,
        0.0,
        start,
    ))
}

/// Extracts the final answer from a response, grades it and makes the record;
/// its `seconds` are `seconds_before` plus the time since `start`.
fn grade_response(
    index: usize,
    problem: &Problem,
    text: String,
    generation: &Generation,
    seconds_before: f64,
    start: Instant,
) -> EvalRecord {
    let extracted = extract_final_candidate(&text, Fallback::NumberThenFull);
    let correct = grade_answer(&extracted, &problem.answer);
    EvalRecord {
        index,
        problem: problem.problem.clone(),
        gtruth_answer: problem.answer.clone(),
        generated_text: text,
        extracted,
        correct,
        tokens: generation.ids.len(),
        seconds: seconds_before + start.elapsed().as_secs_f64(),
        level: problem.level,
    }
}

/// Evaluates `problems` into the JSON-lines log at `out` (the book's
/// `evaluate_math500_stream`). With `resume`, problems already in the log are
/// skipped; without it an existing log is an error, never overwritten.
/// `on_record` sees every record, old ones first. Returns all records in order.
///
/// `batch` problems are decoded at once (see [`evaluate_problems_batched`]);
/// 1 poses them one by one with [`evaluate_problem`]. Either way the log gets
/// the same records (but for `seconds`), in dataset order, each line appended
/// whole and flushed once it and every earlier problem are graded, so the log
/// is always a prefix of the dataset that `resume` continues.
pub fn evaluate_math500_stream(
    loaded: &LoadedModel,
    problems: &[Problem],
    config: &EvalConfig,
    batch: usize,
    out: &Path,
    resume: bool,
    on_record: &mut dyn FnMut(&EvalRecord),
) -> Result<Vec<EvalRecord>> {
    check_batch(batch)?;
    let (mut log, mut records) = RecordLog::open(out, resume)?;
    check_same_dataset(out, &records, problems)?;
    records.iter().for_each(&mut *on_record);
    let done: std::collections::HashSet<usize> = records.iter().map(|r| r.index).collect();
    let todo: Vec<usize> = (1..=problems.len())
        .filter(|index| !done.contains(index))
        .collect();
    let mut write = |record: EvalRecord| -> Result<()> {
        log.append(&record)?;
        on_record(&record);
        records.push(record);
        Ok(())
    };
    if batch == 1 {
        for &index in &todo {
            write(evaluate_problem(
                loaded,
                index,
                &problems[index - 1],
                config,
            )?)?;
        }
    } else {
        evaluate_problems_batched(loaded, problems, &todo, config, batch, &mut write)?;
    }
    records.sort_by_key(|r| r.index);
    Ok(records)
}

/// Poses the problems numbered `todo` (1-based positions in `problems`,
/// increasing) with `batch` of them decoded at once
/// ([`generate_greedy_batch`]: a finished problem's slot takes the next one)
/// and hands each record to `write` in `todo`'s order, as soon as it and every
/// earlier one are graded. An error from `write` stops the evaluation.
///
/// The records are those of [`evaluate_problem`] wherever batched rows are
/// exact ([`shared::model::Model::batched_rows_are_exact`]), except `seconds`:
/// here the problem's time in the batch, from its prefill until it is graded,
/// shared with the problems decoded beside it (their sum exceeds the wall time).
pub fn evaluate_problems_batched(
    loaded: &LoadedModel,
    problems: &[Problem],
    todo: &[usize],
    config: &EvalConfig,
    batch: usize,
    write: &mut dyn FnMut(EvalRecord) -> Result<()>,
) -> Result<()> {
    let problem = |index: usize| {
        problems.get(index.wrapping_sub(1)).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "problem {index} is not in the dataset (1..={})",
                problems.len()
            ))
        })
    };
    let prompts = todo
        .iter()
        .map(|&index| {
            let prompt = config.prompt.render(&problem(index)?.problem);
            loaded.encode_prompt_as(&prompt, config.prompt_mode)
        })
        .collect::<Result<Vec<_>>>()?;
    let tokenizer = loaded.tokenizer()?;
    let mut graded: Vec<Option<EvalRecord>> = vec![None; todo.len()];
    let mut written = 0;
    generate_greedy_batch(
        &loaded.model,
        &prompts,
        batch,
        config.max_new_tokens,
        &loaded.stop_ids(),
        &mut |k, generation| {
            let start = Instant::now();
            let text = tokenizer.decode(&generation.ids);
            let index = todo[k];
            let before = generation.stats.total_s;
            let record = grade_response(index, problem(index)?, text, &generation, before, start);
            graded[k] = Some(record);
            while let Some(record) = graded.get_mut(written).and_then(Option::take) {
                write(record)?;
                written += 1;
            }
            Ok(())
        },
    )
}

/// Refuses a batch of no problems.
fn check_batch(batch: usize) -> Result<()> {
    if batch == 0 {
        return Err(Error::InvalidArgument(
            "--batch 0: decode at least 1 problem at a time (1 poses them one by one)".into(),
        ));
    }
    Ok(())
}

/// Extracts and grades every record's response again with the current
/// verifier (after you change it: no need to generate again). Returns how
/// many verdicts changed.
pub fn regrade_records(records: &mut [EvalRecord]) -> usize {
    let mut changed = 0;
    for record in records.iter_mut() {
        let extracted = extract_final_candidate(&record.generated_text, Fallback::NumberThenFull);
        let correct = grade_answer(&extracted, &record.gtruth_answer);
        changed += usize::from(correct != record.correct || extracted != record.extracted);
        record.extracted = extracted;
        record.correct = correct;
    }
    changed
}

/// Refuses to resume a log written for other problems.
fn check_same_dataset(out: &Path, records: &[EvalRecord], problems: &[Problem]) -> Result<()> {
    for record in records {
        let matches = record
            .index
            .checked_sub(1)
            .and_then(|i| problems.get(i))
            .is_some_and(|p| p.problem == record.problem);
        if !matches {
            return Err(Error::InvalidArgument(format!(
                "{}: record {} is not problem {} of this dataset: it was written by another \
                 run (other --dataset, --seed or --limit?); choose another --out",
                out.display(),
                record.index,
                record.index
            )));
        }
    }
    Ok(())
}
