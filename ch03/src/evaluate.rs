//! The evaluation loop (book ch. 3.9, `evaluate_math500_stream`): for each
//! problem, render the prompt, generate greedily, extract the final answer,
//! grade it, and append a record to the log as soon as it is known.

use std::path::Path;
use std::time::Instant;

use shared::generate::{generate_text_basic_cache, Generation};
use shared::loader::LoadedModel;
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
    /// Wrap the prompt as a user message in the model's chat template.
    pub chat: bool,
    /// The most tokens an answer may take.
    pub max_new_tokens: usize,
}

/// Generates a greedy answer to `prompt` and returns its text with the
/// generation's ids and statistics (the book's `generate_text_stream_concat`).
pub fn generate_text_stream_concat(
    loaded: &LoadedModel,
    prompt: &str,
    chat: bool,
    max_new_tokens: usize,
) -> Result<(String, Generation)> {
    let ids = loaded.encode_prompt(prompt, chat)?;
    let generation = generate_text_basic_cache(
        &loaded.model,
        &ids,
        max_new_tokens,
        &loaded.stop_ids(),
        &mut |_| {},
    )?;
    let text = loaded.tokenizer()?.decode(&generation.ids)?;
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
        generate_text_stream_concat(loaded, &prompt, config.chat, config.max_new_tokens)?;
    let extracted = extract_final_candidate(&text, Fallback::NumberThenFull);
    let correct = grade_answer(&extracted, &problem.answer);
    Ok(EvalRecord {
        index,
        problem: problem.problem.clone(),
        gtruth_answer: problem.answer.clone(),
        generated_text: text,
        extracted,
        correct,
        tokens: generation.ids.len(),
        seconds: start.elapsed().as_secs_f64(),
        level: problem.level,
    })
}

/// Evaluates `problems` into the JSON-lines log at `out` (the book's
/// `evaluate_math500_stream`). With `resume`, problems already in the log are
/// skipped; without it an existing log is an error, never overwritten.
/// `on_record` sees every record, old ones first. Returns all records in order.
pub fn evaluate_math500_stream(
    loaded: &LoadedModel,
    problems: &[Problem],
    config: &EvalConfig,
    out: &Path,
    resume: bool,
    on_record: &mut dyn FnMut(&EvalRecord),
) -> Result<Vec<EvalRecord>> {
    let (mut log, mut records) = RecordLog::open(out, resume)?;
    check_same_dataset(out, &records, problems)?;
    records.iter().for_each(&mut *on_record);
    let done: std::collections::HashSet<usize> = records.iter().map(|r| r.index).collect();
    for (i, problem) in problems.iter().enumerate() {
        let index = i + 1;
        if done.contains(&index) {
            continue;
        }
        let record = evaluate_problem(loaded, index, problem, config)?;
        log.append(&record)?;
        on_record(&record);
        records.push(record);
    }
    records.sort_by_key(|r| r.index);
    Ok(records)
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
