//! What the command line's subcommands do: the chapter's demo, `grade` (one pair or a
//! JSON-lines file), `data`, `eval` (resumable, with a progress bar and a summary) and
//! `regrade`.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use shared::cli::{load_model_on, DeviceArgs};
use shared::io::{open_lines, Line};

use crate::arith::{generate_arith, parse_levels, ArithConfig};
use crate::cli::{DataCommand, EvalArgs};
use crate::evaluate::{evaluate_problems_batched, regrade_records};
use crate::grader::{
    extract_final_candidate, grade_answer, run_demos_table, Fallback, BOOK_DEMO_CASES,
};
use crate::records::{read_records_repairing, write_records_atomically};
use crate::summary::format_comparison;
use crate::{
    arith_test_problems, evaluate_math500_stream, load_math500_test, load_math_train, EvalConfig,
    EvalRecord, EvalSummary, PromptStyle,
};

/// Problems in the demo's mini evaluation.
const DEMO_PROBLEMS: usize = 20;
/// Problems the demo decodes at once (the same records as one by one).
const DEMO_BATCH: usize = 8;
/// Token budget per answer in the demo.
const DEMO_MAX_NEW_TOKENS: usize = 256;

/// The demo: the book's grader table, then plain vs chain-of-thought on arith
/// (the model on `device`).
pub fn demo(model: &str, device: DeviceArgs) -> Result<()> {
    println!("== The verifier on the book's test cases (book ch. 3.7) ==\n");
    println!("{}", run_demos_table(&BOOK_DEMO_CASES));
    println!("\n== Mini evaluation: {DEMO_PROBLEMS} arith problems, plain vs chain-of-thought (book ch. 3.9, 4.3) ==\n");
    let loaded = load_model_on(model, device)?;
    let problems = arith_test_problems(DEMO_PROBLEMS, 0, "1-5")?;
    let prompt_mode = loaded.default_prompt_mode();
    let mut runs = Vec::new();
    for prompt in [PromptStyle::Plain, PromptStyle::Cot] {
        let config = EvalConfig {
            prompt,
            prompt_mode,
            max_new_tokens: DEMO_MAX_NEW_TOKENS,
        };
        let bar = progress_bar(problems.len() as u64, prompt.name());
        let mut records = Vec::new();
        let todo: Vec<usize> = (1..=problems.len()).collect();
        evaluate_problems_batched(
            &loaded,
            &problems,
            &todo,
            &config,
            DEMO_BATCH,
            &mut |record| {
                bar.inc(1);
                records.push(record);
                Ok(())
            },
        )?;
        bar.finish_and_clear();
        runs.push(records);
    }
    println!("{}", format_comparison(&problems, &runs[0], &runs[1]));
    Ok(())
}

/// `grade --pred --gt`: extract from the prediction if it holds a \boxed{}, then grade.
pub fn grade_one(pred: &str, gt: &str, json: bool) -> Result<()> {
    let extracted = extract_final_candidate(pred, Fallback::None);
    let extracted = if extracted.is_empty() {
        pred.trim().to_owned()
    } else {
        extracted
    };
    let correct = grade_answer(&extracted, gt);
    if json {
        println!("{}", json!({ "extracted": extracted, "correct": correct }));
    } else {
        println!("{}", if correct { "correct" } else { "incorrect" });
    }
    Ok(())
}

/// `grade --jsonl FILE`: one verdict line per input line, in order.
pub fn grade_jsonl(path: &Path) -> Result<()> {
    let mut out = std::io::stdout().lock();
    for line in open_lines(path)? {
        let (number, line) = match line? {
            (number, Line::Complete(line)) => (number, line),
            (number, Line::Unterminated(bytes)) => (number, String::from_utf8_lossy(&bytes).into()),
        };
        if line.trim().is_empty() {
            continue;
        }
        let (extracted, correct) =
            grade_json_line(&line).with_context(|| format!("{} line {number}", path.display()))?;
        writeln!(
            out,
            "{}",
            json!({ "extracted": extracted, "correct": correct })
        )?;
    }
    Ok(())
}

/// Grades one `grade --jsonl` input line.
fn grade_json_line(line: &str) -> Result<(String, bool)> {
    let value: serde_json::Value = serde_json::from_str(line).context("not JSON")?;
    let field = |name: &str| value.get(name).and_then(|v| v.as_str());
    // `gtruth_answer` and `generated_text`: the book's evaluation logs.
    let Some(gt) = field("answer")
        .or_else(|| field("gt"))
        .or_else(|| field("gtruth_answer"))
    else {
        bail!("needs a string `answer` (or `gt`, or the book's `gtruth_answer`)");
    };
    let response = field("response").or_else(|| field("generated_text"));
    let extracted = match (response, field("pred")) {
        (Some(response), _) => extract_final_candidate(response, Fallback::NumberThenFull),
        (None, Some(pred)) => pred.to_owned(),
        (None, None) => {
            bail!(
                "needs a string `response` (a full answer; the book's `generated_text`) or \
                 `pred` (an extracted one)"
            )
        }
    };
    let correct = grade_answer(&extracted, gt);
    Ok((extracted, correct))
}

/// `data arith` / `data math500`: writes the dataset as a JSON array, atomically.
pub fn write_dataset(dataset: DataCommand) -> Result<()> {
    let (problems, out) = match dataset {
        DataCommand::Arith {
            n,
            seed,
            levels,
            split,
            out,
        } => {
            let config = ArithConfig {
                n,
                seed,
                levels: parse_levels(&levels)?,
                split,
            };
            (generate_arith(&config)?, out)
        }
        DataCommand::Math500 { data, out } => (load_math500_test(data.as_deref())?, out),
        DataCommand::MathTrain { data, out } => (load_math_train(data.as_deref())?, out),
    };
    let text = serde_json::to_string_pretty(&problems)?;
    shared::io::write_atomically(&out, text.as_bytes())?;
    eprintln!("wrote {} problems to {}", problems.len(), out.display());
    Ok(())
}

/// `eval`: the resumable evaluation with a progress bar and a closing summary
/// (the model on `device`).
pub fn run_eval(model: &str, device: DeviceArgs, args: &EvalArgs) -> Result<()> {
    let problems = args.source.load(args.limit, args.seed)?;
    let prompt = args.prompt;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| default_out(&args.source.dataset, prompt));
    let loaded = load_model_on(model, device)?;
    let prompt_mode = args.prompt_args.mode(&loaded)?;
    args.prompt_args.announce(&loaded, prompt_mode);
    let config = EvalConfig {
        prompt,
        prompt_mode,
        max_new_tokens: args.max_new_tokens,
    };
    eprintln!(
        "evaluating {} problems ({} prompt, {} at a time) into {}",
        problems.len(),
        prompt.name(),
        args.batch,
        out.display()
    );
    if args.batch > 1 && !loaded.model.batched_rows_are_exact() {
        eprintln!(
            "note: this model has f32 matrices (or runs on a GPU): a batched product may round \
             differently from a single one, so --batch {} can change an answer where two tokens \
             nearly tie; --batch 1 gives the unbatched records",
            args.batch
        );
    }
    let started = std::time::Instant::now();
    let bar = progress_bar(problems.len() as u64, prompt.name());
    let mut correct = 0;
    let mut on_record = |r: &EvalRecord| {
        correct += usize::from(r.correct);
        bar.inc(1);
        bar.set_message(format!("{correct}/{} correct", bar.position()));
    };
    let records = evaluate_math500_stream(
        &loaded,
        &problems,
        &config,
        args.batch,
        &out,
        args.resume,
        &mut on_record,
    )?;
    bar.finish_and_clear();
    println!("{}", EvalSummary::from_records(&records));
    println!(
        "wall time of this run: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    println!("records: {}", out.display());
    Ok(())
}

/// `regrade`: grades a log's responses again and rewrites it.
pub fn regrade(log: &Path, dry_run: bool) -> Result<()> {
    if !log.exists() {
        bail!("--log {}: no such file", log.display());
    }
    let mut records = read_records_repairing(log)?;
    let changed = regrade_records(&mut records);
    if !dry_run {
        write_records_atomically(log, &records)?;
    }
    println!("{}", EvalSummary::from_records(&records));
    println!("{changed} of {} records changed", records.len());
    Ok(())
}

fn default_out(dataset: &str, prompt: PromptStyle) -> PathBuf {
    let stem = Path::new(dataset)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("data");
    PathBuf::from(format!("ch03-eval-{stem}-{}.jsonl", prompt.name()))
}

fn progress_bar(len: u64, label: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    let style = ProgressStyle::with_template(
        "{prefix:>6} [{bar:30}] {pos}/{len} {msg} ({elapsed}, ETA {eta})",
    )
    .expect("the template is valid")
    .progress_chars("=> ");
    bar.set_style(style);
    bar.set_prefix(label.to_owned());
    bar
}
