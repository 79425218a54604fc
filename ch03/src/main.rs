//! `cargo run -p ch03`: the grader's demo table, then a mini evaluation of
//! arithmetic problems with plain and chain-of-thought prompts. Subcommands
//! `grade`, `data` and `eval` expose the chapter's tools.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::builder::RangedU64ValueParser;
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use ch03::arith::{generate_arith, parse_levels, ArithConfig, Split};
use ch03::evaluate::{evaluate_problems_batched, regrade_records};
use ch03::grader::{
    extract_final_candidate, grade_answer, run_demos_table, Fallback, BOOK_DEMO_CASES,
};
use ch03::records::{read_records_repairing, write_records_atomically};
use ch03::summary::format_comparison;
use ch03::{
    arith_test_problems, evaluate_math500_stream, load_dataset, load_math500_test, load_math_train,
    EvalConfig, EvalRecord, EvalSummary, PromptStyle,
};
use shared::cli::{
    demo_model, exit_code, load_model_on, DeviceArgs, Preset, PresetName, PromptArgs,
};
use shared::io::{open_lines, Line};
use shared::models::DEFAULT_MODEL;

#[derive(Parser)]
#[command(
    name = "ch03",
    about = "Chapter 3: evaluating reasoning: a math verifier, datasets, an evaluation runner, chain-of-thought prompting",
    long_about = "Without a subcommand, runs the chapter's demo: the grader's table of the book's test cases, \
                  then a mini evaluation of 20 arithmetic word problems with the plain and the \
                  chain-of-thought prompt (on qwen2.5-coder-0.5b-instruct unless --model says otherwise, fetched on first use)."
)]
struct Cli {
    /// Model: a known name (smollm2-135m-instruct, qwen3-0.6b-base, qwen3-0.6b, qwen2.5-coder-0.5b-instruct), a .gguf file or a Hugging Face folder.
    /// [default: smollm2-135m-instruct; the demo: qwen2.5-coder-0.5b-instruct, which can show the lesson]
    #[arg(long, global = true)]
    model: Option<String>,
    #[command(flatten, next_help_heading = "Device")]
    device: DeviceArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Grade an answer against a ground truth (one pair, or a JSON-lines file of pairs).
    Grade {
        /// The prediction: an extracted answer, or a whole response (its last \boxed{} is taken).
        #[arg(long, required_unless_present = "jsonl", requires = "gt")]
        pred: Option<String>,
        /// The ground-truth answer.
        #[arg(long)]
        gt: Option<String>,
        /// A JSON-lines file: each line has `answer` (or `gt`) and `response` (a full
        /// response, extracted first) or `pred` (an extracted answer). Prints one
        /// {"extracted", "correct"} line per input line.
        #[arg(long, conflicts_with_all = ["pred", "gt"])]
        jsonl: Option<PathBuf>,
        /// Print {"extracted": …, "correct": …} instead of correct/incorrect.
        #[arg(long)]
        json: bool,
    },
    /// Write a dataset to a file.
    Data {
        #[command(subcommand)]
        dataset: DataCommand,
    },
    /// Evaluate the model on a dataset: a progress bar, one JSON line per problem, a summary.
    Eval(EvalArgs),
    /// Grade an `eval` log again with the current verifier (no generation) and print its summary.
    Regrade {
        /// The JSON-lines log written by `eval --out`; rewritten in place, atomically.
        #[arg(long)]
        log: PathBuf,
        /// Only print the summary; keep the verdicts in the log as they are.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Subcommand)]
enum DataCommand {
    /// Generated multi-step arithmetic word problems (MATH-500's fields, integer answers).
    Arith {
        /// How many problems.
        #[arg(long, default_value_t = 500)]
        n: usize,
        /// Seed: the same seed gives the same problems on every machine.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Difficulty levels, e.g. 1-5, 2 or 1,3.
        #[arg(long, default_value = "1-5")]
        levels: String,
        /// Which split: train and test never share a problem.
        #[arg(long, value_enum, default_value_t = SplitArg::Test)]
        split: SplitArg,
        /// Output file (JSON array, like math500_test.json).
        #[arg(long)]
        out: PathBuf,
    },
    /// MATH-500: download it once into the cache (or copy it from --data) and write it to --out.
    Math500 {
        /// A local math500_test.json to read instead of the cache or the download.
        #[arg(long)]
        data: Option<PathBuf>,
        /// Output file.
        #[arg(long)]
        out: PathBuf,
    },
    /// The book's MATH training set (12,000 problems, none in MATH-500; what ch05 trains on
    /// with --dataset math-train): download it once into the cache (or copy it from --data)
    /// and write it to --out.
    MathTrain {
        /// A local math_train.json to read instead of the cache or the download.
        #[arg(long)]
        data: Option<PathBuf>,
        /// Output file.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum SplitArg {
    Train,
    Test,
}

#[derive(Clone, Copy, ValueEnum)]
enum PromptArg {
    /// The book's render_prompt.
    Plain,
    /// render_prompt + "Explain step by step."
    Cot,
    /// render_prompt with one worked example first (what ch05 trains with).
    OneShot,
}

#[derive(clap::Args)]
struct EvalArgs {
    /// Defaults for the flags not given: ours (shown with each flag), or the book's
    /// evaluate_math500.py (MATH-500, its first 10 problems, the plain prompt, 2048 new
    /// tokens; raw prompts for a base model, the chat template for a reasoning one).
    #[arg(long, value_enum, default_value_t = PresetName::Ours)]
    preset: PresetName,
    /// arith (generated, test split), math500, math-train (the book's MATH training set), or a
    /// path to a JSON/JSON-lines file of problems.
    #[arg(long, default_value = "arith")]
    dataset: String,
    /// A local math500_test.json or math_train.json (for --dataset math500 or math-train)
    /// instead of the cache or the download.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Evaluate only the first N problems (arith: generate N).
    #[arg(long)]
    limit: Option<usize>,
    /// Seed for --dataset arith.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Levels for --dataset arith, e.g. 1-5.
    #[arg(long, default_value = "1-5")]
    levels: String,
    /// Prompt: plain (the book's render_prompt) or cot (+ "Explain step by step.").
    #[arg(long, value_enum, default_value_t = PromptArg::Plain)]
    prompt: PromptArg,
    #[command(flatten)]
    prompt_args: PromptArgs,
    /// Most tokens per answer.
    #[arg(long, default_value_t = 512)]
    max_new_tokens: usize,
    /// The JSON-lines log (default: ch03-eval-<dataset>-<prompt>.jsonl).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Continue an existing --out log, skipping the problems already in it.
    #[arg(long)]
    resume: bool,
    /// Problems decoded at once (continuous batching: a finished problem's
    /// slot takes the next one). The records are the same as with 1, which
    /// poses them one by one; several times faster on a CPU. 1 to 256 (each slot holds
    /// its own KV cache).
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = RangedU64ValueParser::<usize>::new().range(1..=256))]
    batch: usize,
}

/// Problems in the demo's mini evaluation.
const DEMO_PROBLEMS: usize = 20;
/// Problems the demo decodes at once (the same records as one by one).
const DEMO_BATCH: usize = 8;
/// Token budget per answer in the demo.
const DEMO_MAX_NEW_TOKENS: usize = 256;

fn main() -> std::process::ExitCode {
    let matches = Cli::command().get_matches();
    match Cli::from_arg_matches(&matches) {
        Ok(cli) => exit_code(run(cli, &matches)),
        Err(e) => e.exit(),
    }
}

fn run(cli: Cli, matches: &ArgMatches) -> Result<()> {
    match cli.command {
        None => demo(&demo_model(cli.model.as_deref()), cli.device),
        Some(Command::Grade {
            pred,
            gt,
            jsonl,
            json,
        }) => match jsonl {
            Some(path) => grade_jsonl(&path),
            None => grade_one(
                pred.as_deref().unwrap_or_default(),
                gt.as_deref().unwrap_or_default(),
                json,
            ),
        },
        Some(Command::Data { dataset }) => write_dataset(dataset),
        Some(Command::Eval(mut args)) => {
            args.preset
                .apply(matches, "eval", &mut args, book_eval_defaults);
            eval(
                cli.model.as_deref().unwrap_or(DEFAULT_MODEL),
                cli.device,
                &args,
            )
        }
        Some(Command::Regrade { log, dry_run }) => regrade(&log, dry_run),
    }
}

/// The book's `evaluate_math500.py` defaults, for `--preset book`.
fn book_eval_defaults(args: &mut EvalArgs, preset: &mut Preset) {
    preset.set("dataset", &mut args.dataset, "math500".to_string());
    preset.set_shown("limit", &mut args.limit, Some(10), "10");
    preset.set_choice("prompt", &mut args.prompt, PromptArg::Plain);
    preset.set("max_new_tokens", &mut args.max_new_tokens, 2048);
    preset.note("(greedy; prompts by model kind: raw for a base model, the chat template for a reasoning one)");
}

/// The demo: the book's grader table, then plain vs chain-of-thought on arith
/// (the model on `device`).
fn demo(model: &str, device: DeviceArgs) -> Result<()> {
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
fn grade_one(pred: &str, gt: &str, json: bool) -> Result<()> {
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
fn grade_jsonl(path: &Path) -> Result<()> {
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
fn write_dataset(dataset: DataCommand) -> Result<()> {
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
                split: split.into(),
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
fn eval(model: &str, device: DeviceArgs, args: &EvalArgs) -> Result<()> {
    let problems = load_dataset(
        &args.dataset,
        args.data.as_deref(),
        args.limit,
        args.seed,
        &args.levels,
    )?;
    let prompt = match args.prompt {
        PromptArg::Plain => PromptStyle::Plain,
        PromptArg::Cot => PromptStyle::Cot,
        PromptArg::OneShot => PromptStyle::OneShot,
    };
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| default_out(&args.dataset, prompt));
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
fn regrade(log: &Path, dry_run: bool) -> Result<()> {
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

impl From<SplitArg> for Split {
    fn from(s: SplitArg) -> Self {
        match s {
            SplitArg::Train => Split::Train,
            SplitArg::Test => Split::Test,
        }
    }
}
