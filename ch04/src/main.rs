//! `cargo run -p ch04`: how temperature and top-p reshape a next-token
//! distribution, then one self-consistency vote. `ch04 eval` compares the
//! inference-time scaling methods on a dataset, with a table and plots.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::builder::RangedU64ValueParser;
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

use ch03::records::{read_records_repairing, write_records_atomically};
use ch03::{
    arith_test_problems, extract_final_candidate, load_dataset, Fallback, Problem, PromptStyle,
};
use ch04::batched::{sample_batched, SampleOptions};
use ch04::evaluate::{
    best_of_n_from_self_consistency, evaluate_method, fill_method_log, revote_self_consistency,
    self_consistency_prefix, Method, MethodConfig, MethodRecord, Ranking,
};
use ch04::plot::{save_line_plot, LinePlot, Series};
use ch04::report::{
    format_distribution_chart, format_results_table, token_label, top_tokens, ResultRow,
};
use ch04::sampling::{Sampler, SamplingConfig};
use ch04::scoring::HeuristicWeights;
use ch04::self_consistency::{
    self_consistency_vote, GroupScore, Grouping, SampleScores, TieBreak, VoteRule,
};
use ch04::self_refine::Score;
use shared::cli::{
    demo_model, exit_code, load_model_on, non_negative_f32, probability_f32, DeviceArgs, Preset,
    PresetName, PromptArgs,
};
use shared::loader::{LoadedModel, PromptMode};
use shared::models::DEFAULT_MODEL;

#[derive(Parser)]
#[command(
    name = "ch04",
    about = "Chapter 4: inference-time scaling: sampling, self-consistency, best-of-N, self-refinement",
    long_about = "Without a subcommand, runs the chapter's demo: how temperature and top-p reshape the \
                  model's next-token distribution, then one self-consistency vote on an arithmetic \
                  problem (on qwen2.5-coder-0.5b-instruct unless --model says otherwise, fetched on first use)."
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
    /// Evaluate methods on a dataset: JSON lines per method and N, a results table, plots.
    Eval(EvalArgs),
    /// Vote a self-consistency log again with another tie rule, from the answers and
    /// log-probabilities it holds (no generation).
    Revote {
        /// A self-consistency log written by `eval` (e.g. ch04-eval/self-consistency-n3.jsonl).
        #[arg(long)]
        log: PathBuf,
        /// How to settle a tie.
        #[arg(long, value_enum, default_value_t = TieBreakArg::Logprob)]
        tie_break: TieBreakArg,
        #[command(flatten)]
        vote: VoteArgs,
        /// Also write the revoted records here (JSON lines; must not exist yet).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// How self-consistency counts votes, beside the tie rule (`eval` and `revote`).
#[derive(Clone, Copy, clap::Args)]
struct VoteArgs {
    /// Which answers vote together: equivalent (ours: the ch03 verifier groups `1/2` and
    /// `0.5`) or exact (the book's: identical strings).
    #[arg(long, value_enum, default_value_t = Grouping::Equivalent)]
    grouping: Grouping,
    /// How a tied answer's samples' scores combine for the logprob and heuristic
    /// tie-breaks: mean (ours) or max (the book's scorer script).
    #[arg(long, value_enum, default_value_t = GroupScore::Mean)]
    group_score: GroupScore,
    /// Stop counting at the first sample whose answer then holds more than half of the
    /// N samples (the book's --early_stop); the record's tokens count only the samples
    /// the vote used, what sampling one at a time would have spent.
    #[arg(long)]
    early_stop: bool,
}

impl VoteArgs {
    /// The vote rule with `tie_break`.
    fn rule(&self, tie_break: TieBreakArg) -> VoteRule {
        VoteRule {
            tie_break: tie_break_of(tie_break),
            grouping: self.grouping,
            group_score: self.group_score,
            early_stop: self.early_stop,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum MethodArg {
    Greedy,
    Cot,
    SelfConsistency,
    BestOfN,
    SelfRefine,
}

#[derive(Clone, Copy, ValueEnum)]
enum PromptArg {
    Plain,
    Cot,
    OneShot,
}

#[derive(Clone, Copy, ValueEnum)]
enum RankingArg {
    /// Average token log-probability.
    Logprob,
    /// The book's heuristic score (boxed answer, brevity).
    Heuristic,
}

#[derive(Clone, Copy, ValueEnum)]
enum RefineScoringArg {
    /// No score: every revision is kept (the book's `--scoring none`).
    None,
    /// The book's heuristic score of the whole answer.
    Heuristic,
    /// The whole answer's average token log-probability.
    Logprob,
    /// The average token log-probability of only the boxed answer (the book's `logprob_extract`).
    LogprobExtract,
}

#[derive(Clone, Copy, ValueEnum)]
enum TieBreakArg {
    /// Report a tie and give no answer (the book's function).
    Report,
    /// Take the first-appearing of the tied answers (the book's MATH-500 scripts).
    FirstSeen,
    /// Take the tied answer with the highest mean log-probability.
    Logprob,
    /// Take the tied answer whose samples score the highest heuristic score (the book's
    /// scorer script, `--scoring heuristic`).
    Heuristic,
}

#[derive(clap::Args)]
struct EvalArgs {
    /// Defaults for the flags not given: ours (shown with each flag), or the book's MATH-500
    /// scripts' (self_consistency_math500.py, best_of_n_math500.py, self_refinement_math500.py):
    /// MATH-500's first 10 problems, N = 3, T 1.0, top-p 1.0, seed 42, the step-by-step prompt,
    /// 2048 new tokens, first-seen ties, the heuristic score, 192-token critiques.
    #[arg(long, value_enum, default_value_t = PresetName::Ours)]
    preset: PresetName,
    /// arith (generated, test split), math500, math-train (the book's MATH training set), or a
    /// path to a JSON/JSON-lines file of problems.
    #[arg(long, default_value = "arith")]
    dataset: String,
    /// A local math500_test.json or math_train.json (for --dataset math500 or math-train).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Evaluate only the first N problems (arith: generate N).
    #[arg(long, default_value_t = 100)]
    limit: usize,
    /// Levels for --dataset arith.
    #[arg(long, default_value = "1-5")]
    levels: String,
    /// Methods to run, comma-separated (run in this order: greedy, cot, self-consistency,
    /// best-of-n, self-refine). Self-consistency generates the largest N once and votes
    /// each smaller N on its first samples (the same seeds); best-of-n by logprob ranks
    /// the self-consistency samples of the same N when both run.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [MethodArg::Greedy, MethodArg::Cot, MethodArg::SelfConsistency, MethodArg::BestOfN])]
    method: Vec<MethodArg>,
    /// Samples (self-consistency, best-of-n) or rounds (self-refine), comma-separated, each 1 to 1024.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 3, 5, 9], value_parser = RangedU64ValueParser::<usize>::new().range(1..=1024))]
    n: Vec<usize>,
    /// Sampling temperature.
    #[arg(long, default_value_t = 0.8, value_parser = non_negative_f32)]
    temperature: f32,
    /// Top-p of sampling.
    #[arg(long, default_value_t = 0.9, value_parser = probability_f32)]
    top_p: f32,
    /// Seed of the samples (sample i uses seed + i + 1) and of the arith problems.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Prompt of the sampling methods.
    #[arg(long, value_enum, default_value_t = PromptArg::Cot)]
    prompt: PromptArg,
    #[command(flatten)]
    prompt_args: PromptArgs,
    /// Most tokens per answer.
    #[arg(long, default_value_t = 256)]
    max_new_tokens: usize,
    /// Most tokens per self-refinement critique.
    #[arg(long, default_value_t = 256)]
    critique_max_new_tokens: usize,
    /// How best-of-n ranks samples (and self-refine scores revisions).
    #[arg(long, value_enum, default_value_t = RankingArg::Logprob)]
    ranking: RankingArg,
    /// How self-refinement scores a draft and its revision (a revision is kept if its score
    /// does not drop): none (every revision kept), heuristic, logprob (the whole answer),
    /// logprob-extract (only its boxed answer) [default: as --ranking].
    #[arg(long, value_enum)]
    refine_scoring: Option<RefineScoringArg>,
    /// How self-consistency settles a tie.
    #[arg(long, value_enum, default_value_t = TieBreakArg::Report)]
    tie_break: TieBreakArg,
    #[command(flatten)]
    vote: VoteArgs,
    /// Output folder: <method>-n<N>.jsonl, results.md, accuracy_vs_n.{svg,png}, accuracy_vs_tokens.{svg,png}.
    #[arg(long, default_value = "ch04-eval")]
    out: PathBuf,
    /// Continue the logs already in --out.
    #[arg(long)]
    resume: bool,
}

/// The demo's prompt (book ch. 4.4).
const DEMO_PROMPT: &str = "The capital of Germany is";
/// Samples in the demo's self-consistency vote.
const DEMO_SAMPLES: usize = 5;

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
        Some(Command::Eval(mut args)) => {
            args.preset
                .apply(matches, "eval", &mut args, book_eval_defaults);
            eval(
                cli.model.as_deref().unwrap_or(DEFAULT_MODEL),
                cli.device,
                &args,
            )
        }
        Some(Command::Revote {
            log,
            tie_break,
            vote,
            out,
        }) => revote(&log, vote.rule(tie_break), out.as_deref()),
    }
}

/// The book's MATH-500 scripts' defaults, for `--preset book`.
fn book_eval_defaults(args: &mut EvalArgs, preset: &mut Preset) {
    preset.set("dataset", &mut args.dataset, "math500".to_string());
    preset.set("limit", &mut args.limit, 10);
    preset.set_shown("n", &mut args.n, vec![3], "3");
    preset.set("temperature", &mut args.temperature, 1.0);
    preset.set("top_p", &mut args.top_p, 1.0);
    preset.set("seed", &mut args.seed, 42);
    preset.set_choice("prompt", &mut args.prompt, PromptArg::Cot);
    preset.set("max_new_tokens", &mut args.max_new_tokens, 2048);
    preset.set_choice("tie_break", &mut args.tie_break, TieBreakArg::FirstSeen);
    preset.set_choice("grouping", &mut args.vote.grouping, Grouping::Exact);
    preset.set_choice("group_score", &mut args.vote.group_score, GroupScore::Max);
    preset.set_choice("ranking", &mut args.ranking, RankingArg::Heuristic);
    preset.set(
        "critique_max_new_tokens",
        &mut args.critique_max_new_tokens,
        192,
    );
    preset.set_shown(
        "refine_scoring",
        &mut args.refine_scoring,
        Some(RefineScoringArg::Heuristic),
        "heuristic",
    );
    preset.note(
        "(prompts by model kind: raw for a base model, the chat template for a reasoning one)",
    );
}

/// `ch04 revote`: the log's votes again by `rule`, and the accuracy before and after.
fn revote(log: &Path, rule: VoteRule, out: Option<&Path>) -> Result<()> {
    if !log.exists() {
        bail!("--log {}: no such file", log.display());
    }
    if let Some(out) = out.filter(|o| o.exists()) {
        bail!(
            "--out {}: already exists; choose another path",
            out.display()
        );
    }
    let records: Vec<MethodRecord> = read_records_repairing(log)?;
    let revoted = records
        .iter()
        .map(|r| {
            revote_self_consistency(r, rule).with_context(|| {
                format!(
                    "{}: record {} is not a self-consistency record with a log-probability per sample \
                     (logs written before log-probabilities were kept cannot be revoted; \
                     --tie-break heuristic also needs the heuristic scores, kept since 2026-12-01)",
                    log.display(),
                    r.index
                )
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let count =
        |rs: &[MethodRecord], f: fn(&MethodRecord) -> bool| rs.iter().filter(|r| f(r)).count();
    let n = records.first().map_or(0, |r| r.n);
    let tokens = |rs: &[MethodRecord]| rs.iter().map(|r| r.tokens).sum::<usize>();
    println!(
        "self-consistency N={n}, {} problems, {} tied votes: {} correct as logged, {} with ties {} \
         ({} answers, {}{}); tokens {} → {}",
        records.len(),
        count(&revoted, |r| r.tie),
        count(&records, |r| r.correct),
        count(&revoted, |r| r.correct),
        match rule.tie_break {
            TieBreak::Report => "reported",
            TieBreak::FirstSeen => "settled by first appearance",
            TieBreak::AvgLogprob => "broken by log-probability",
            TieBreak::Heuristic => "broken by heuristic score",
        },
        match rule.grouping {
            Grouping::Equivalent => "equivalent",
            Grouping::Exact => "exact",
        },
        match rule.group_score {
            GroupScore::Mean => "mean group score",
            GroupScore::Max => "max group score",
        },
        if rule.early_stop { ", early stop" } else { "" },
        tokens(&records),
        tokens(&revoted),
    );
    if let Some(out) = out {
        write_records_atomically(out, &revoted)?;
        println!("wrote {}", out.display());
    }
    Ok(())
}

/// The demo: temperature, top-p, and one vote (the model on `device`).
fn demo(model: &str, device: DeviceArgs) -> Result<()> {
    let loaded = load_model_on(model, device)?;
    let tokenizer = loaded.tokenizer()?;
    let ids = loaded.encode_prompt(DEMO_PROMPT, false)?;
    let logits = loaded.model.forward(&ids)?;
    let last = logits.row(logits.nrows() - 1).to_vec();
    println!("== 4.4 Temperature reshapes the next-token distribution of {DEMO_PROMPT:?} ==\n");
    for temperature in [0.5, 1.0, 5.0] {
        let config = SamplingConfig {
            temperature,
            top_k: 0,
            top_p: 1.0,
        };
        print_distribution(&loaded, &format!("T = {temperature}"), config, &last)?;
    }
    println!("== 4.5 Top-p = 0.9 at T = 1: the tail is cut, the rest renormalized ==\n");
    let config = SamplingConfig {
        temperature: 1.0,
        top_k: 0,
        top_p: 0.9,
    };
    print_distribution(&loaded, "T = 1, top-p = 0.9", config, &last)?;
    let kept = Sampler::new(config, 0)?
        .next_token_distribution(&last)
        .iter()
        .filter(|&&p| p > 0.0)
        .count();
    println!("top-p keeps {kept} of {} tokens\n", last.len());

    println!("== 4.6 Self-consistency: {DEMO_SAMPLES} samples of one arith problem, one vote ==\n");
    let problem = &arith_test_problems(1, 0, "1")?[0];
    println!("{}\n(answer: {})\n", problem.problem, problem.answer);
    let prompt = loaded.encode_prompt_as(
        &PromptStyle::Cot.render(&problem.problem),
        loaded.default_prompt_mode(),
    )?;
    let opts = SampleOptions {
        max_new_tokens: 192,
        stop_ids: loaded.stop_ids(),
        sampling: SamplingConfig {
            temperature: 0.8,
            top_k: 0,
            top_p: 0.9,
        },
        seed: 0,
    };
    let samples = sample_batched(&loaded.model, &prompt, DEMO_SAMPLES, &opts)?;
    let mut answers = Vec::new();
    for (i, s) in samples.iter().enumerate() {
        let text = tokenizer.decode(&s.generation.ids);
        let short = extract_final_candidate(&text, Fallback::NumberThenFull);
        println!(
            "sample {} ({} tokens, avg log-prob {:.3}): {short:?}",
            i + 1,
            s.generation.ids.len(),
            s.avg_logprob
        );
        answers.push(short);
    }
    let logprobs: Vec<f64> = samples.iter().map(|s| s.avg_logprob).collect();
    let scores = SampleScores {
        avg_logprobs: Some(&logprobs),
        heuristic: None,
    };
    let vote = self_consistency_vote(&answers, scores, VoteRule::ours(TieBreak::Report));
    for g in &vote.groups {
        println!("  {:?}: {} vote(s)", g.answer, g.members.len());
    }
    match &vote.final_answer {
        Some(a) => println!("majority answer: {a:?} ({})", verdict(a, &problem.answer)),
        None => println!(
            "tie between {:?}: no majority (the book's behaviour; --tie-break logprob picks one)",
            vote.majority_winners
        ),
    }
    Ok(())
}

fn verdict(answer: &str, truth: &str) -> &'static str {
    if ch03::grade_answer(answer, truth) {
        "correct"
    } else {
        "wrong"
    }
}

/// Prints the top tokens of the distribution `config` makes of `logits`.
fn print_distribution(
    loaded: &LoadedModel,
    title: &str,
    config: SamplingConfig,
    logits: &[f32],
) -> Result<()> {
    let tokenizer = loaded.tokenizer()?;
    let mut sampler = Sampler::new(config, 0)?;
    let probs = sampler.next_token_distribution(logits);
    let rows = top_tokens(probs, 6)
        .into_iter()
        .map(|(id, p)| (token_label(&tokenizer.decode(&[id])), p))
        .collect::<Vec<_>>();
    println!("{title}\n{}", format_distribution_chart(&rows, 40));
    Ok(())
}

/// `eval`: every method and N into its own log, then the table and the plots
/// (the model on `device`).
fn eval(model: &str, device: DeviceArgs, args: &EvalArgs) -> Result<()> {
    let problems = load_dataset(
        &args.dataset,
        args.data.as_deref(),
        Some(args.limit),
        args.seed,
        &args.levels,
    )?;
    let loaded = load_model_on(model, device)?;
    let prompt_mode = args.prompt_args.mode(&loaded)?;
    args.prompt_args.announce(&loaded, prompt_mode);
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let mut rows = Vec::new();
    // Self-consistency records by N: best-of-N by log-probability reuses their samples.
    let mut sc_records = HashMap::new();
    // In the enum's order, so that self-consistency runs before best-of-N.
    let mut methods: Vec<Method> = args.method.iter().map(|&m| method_of(m)).collect();
    methods.sort_by_key(|&m| m as u8);
    methods.dedup();
    if args.n.contains(&0) {
        bail!("--n: N must be at least 1");
    }
    for method in methods {
        let ns: Vec<usize> = if method.uses_n() {
            args.n.clone()
        } else {
            vec![1]
        };
        if method == Method::SelfConsistency {
            sc_records = self_consistency_records(&loaded, &problems, args, prompt_mode, &ns)?;
            rows.extend(
                ns.iter()
                    .map(|n| ResultRow::from_records(method, *n, &sc_records[n])),
            );
            continue;
        }
        for n in ns {
            let config = method_config(args, prompt_mode, method, n);
            let log = args.out.join(format!("{}-n{n}.jsonl", method.name()));
            let reuse = match (method, config.ranking) {
                (Method::BestOfN, Ranking::AvgLogprob) => {
                    sc_records.get(&n).filter(|sc: &&Vec<MethodRecord>| {
                        sc.iter().all(|r| r.logprobs.len() == r.answers.len())
                    })
                }
                _ => None,
            };
            let records = match reuse {
                Some(sc) => best_of_n_from_samples(&problems, sc, &log, args.resume)?,
                None => run_method(&loaded, &problems, &config, &log, args.resume)?,
            };
            rows.push(ResultRow::from_records(method, n, &records));
        }
    }
    let table = format_results_table(&rows);
    println!("\n{table}");
    shared::io::write_atomically(&args.out.join("results.md"), table.as_bytes())?;
    for path in save_plots(&args.out, &rows)? {
        println!("wrote {}", path.display());
    }
    Ok(())
}

/// Self-consistency at every N of `ns`, by N: the largest N is generated, and each
/// smaller N is the vote of the first N of those samples (sample `i` has the same
/// seed whatever N is, so this is what generating N samples gives, at no cost).
/// A log written before per-sample token counts were kept is generated again per N.
fn self_consistency_records(
    loaded: &LoadedModel,
    problems: &[Problem],
    args: &EvalArgs,
    prompt_mode: PromptMode,
    ns: &[usize],
) -> Result<HashMap<usize, Vec<MethodRecord>>> {
    let largest = ns.iter().copied().max().unwrap_or(1);
    let log_of = |n: usize| args.out.join(format!("self-consistency-n{n}.jsonl"));
    let config = method_config(args, prompt_mode, Method::SelfConsistency, largest);
    let full = run_method(loaded, problems, &config, &log_of(largest), args.resume)?;
    let can_cut = full
        .iter()
        .all(|r| r.sample_tokens.len() == r.answers.len());
    let mut by_n = HashMap::new();
    for &n in ns.iter().filter(|&&n| n != largest) {
        let records = if can_cut {
            let log = log_of(n);
            let records = fill_method_log(
                problems,
                Method::SelfConsistency,
                &log,
                args.resume,
                &mut |_| {},
                &mut |i, _| {
                    full.iter()
                        .find(|r| r.index == i)
                        .and_then(|r| self_consistency_prefix(r, n, config.vote))
                        .ok_or_else(|| {
                            shared::Error::InvalidArgument(format!(
                                "self-consistency N={largest} has no samples for problem {i}"
                            ))
                        })
                },
            )
            .with_context(|| format!("self-consistency N={n} ({})", log.display()))?;
            eprintln!(
                "self-consistency N={n}: {}/{} correct, the first {n} of the N={largest} samples → {}",
                records.iter().filter(|r| r.correct).count(),
                records.len(),
                log.display()
            );
            records
        } else {
            let config = method_config(args, prompt_mode, Method::SelfConsistency, n);
            run_method(loaded, problems, &config, &log_of(n), args.resume)?
        };
        by_n.insert(n, records);
    }
    by_n.insert(largest, full);
    Ok(by_n)
}

/// One method and N over all problems, with a progress bar.
fn run_method(
    loaded: &LoadedModel,
    problems: &[Problem],
    config: &MethodConfig,
    log: &Path,
    resume: bool,
) -> Result<Vec<MethodRecord>> {
    let label = format!("{} N={}", config.method.name(), config.n);
    let bar = ProgressBar::new(problems.len() as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix:>22} [{bar:30}] {pos}/{len} {msg} ({elapsed}, ETA {eta})",
        )
        .expect("the template is valid")
        .progress_chars("=> "),
    );
    bar.set_prefix(label.clone());
    let mut correct = 0;
    let records = evaluate_method(loaded, problems, config, log, resume, &mut |r| {
        correct += usize::from(r.correct);
        bar.inc(1);
        bar.set_message(format!("{correct}/{} correct", bar.position()));
    })
    .with_context(|| format!("{label} ({})", log.display()))?;
    bar.finish_and_clear();
    eprintln!(
        "{label}: {correct}/{} correct → {}",
        records.len(),
        log.display()
    );
    Ok(records)
}

/// Best-of-N by log-probability from the samples of this run's self-consistency
/// records with the same N (the same seeds give the same samples bit for bit), so
/// they are not generated twice; the records keep the generation's tokens and time.
fn best_of_n_from_samples(
    problems: &[Problem],
    sc: &[MethodRecord],
    log: &Path,
    resume: bool,
) -> Result<Vec<MethodRecord>> {
    let n = sc.first().map_or(0, |r| r.n);
    let records = fill_method_log(
        problems,
        Method::BestOfN,
        log,
        resume,
        &mut |_| {},
        &mut |i, _| {
            sc.iter()
                .find(|r| r.index == i)
                .and_then(best_of_n_from_self_consistency)
                .ok_or_else(|| {
                    shared::Error::InvalidArgument(format!(
                    "self-consistency N={n} has no samples with log-probabilities for problem {i}"
                ))
                })
        },
    )
    .with_context(|| format!("best-of-n N={n} ({})", log.display()))?;
    let correct = records.iter().filter(|r| r.correct).count();
    eprintln!(
        "best-of-n N={n}: {correct}/{} correct, ranked from the self-consistency N={n} samples → {}",
        records.len(),
        log.display()
    );
    Ok(records)
}

/// Accuracy vs N (one line per method) and accuracy vs tokens generated.
fn save_plots(dir: &Path, rows: &[ResultRow]) -> Result<Vec<PathBuf>> {
    let mut methods: Vec<Method> = rows.iter().map(|r| r.method).collect();
    methods.dedup();
    let series = |x: &dyn Fn(&ResultRow) -> f64| -> Vec<Series> {
        methods
            .iter()
            .map(|&m| Series {
                name: m.name().to_string(),
                points: rows
                    .iter()
                    .filter(|r| r.method == m)
                    .map(|r| (x(r), 100.0 * r.accuracy()))
                    .collect(),
            })
            .collect()
    };
    let by_n = LinePlot {
        title: "Accuracy vs N".into(),
        x_label: "N (samples or rounds)".into(),
        y_label: "accuracy (%)".into(),
        series: series(&|r| r.n as f64),
    };
    let by_tokens = LinePlot {
        title: "Accuracy vs tokens generated".into(),
        x_label: "tokens generated per problem".into(),
        y_label: "accuracy (%)".into(),
        series: series(&|r| r.tokens as f64 / r.total.max(1) as f64),
    };
    let mut paths = save_line_plot(&dir.join("accuracy_vs_n"), &by_n)?;
    paths.extend(save_line_plot(&dir.join("accuracy_vs_tokens"), &by_tokens)?);
    Ok(paths)
}

fn method_config(
    args: &EvalArgs,
    prompt_mode: PromptMode,
    method: Method,
    n: usize,
) -> MethodConfig {
    MethodConfig {
        method,
        n,
        prompt: match args.prompt {
            PromptArg::Plain => PromptStyle::Plain,
            PromptArg::Cot => PromptStyle::Cot,
            PromptArg::OneShot => PromptStyle::OneShot,
        },
        prompt_mode,
        max_new_tokens: args.max_new_tokens,
        critique_max_new_tokens: args.critique_max_new_tokens,
        sampling: SamplingConfig {
            temperature: args.temperature,
            top_k: 0,
            top_p: args.top_p,
        },
        seed: args.seed,
        ranking: match args.ranking {
            RankingArg::Logprob => Ranking::AvgLogprob,
            RankingArg::Heuristic => Ranking::Heuristic,
        },
        vote: args.vote.rule(args.tie_break),
        refine_score: match args.refine_scoring {
            Some(RefineScoringArg::None) => Score::None,
            Some(RefineScoringArg::Heuristic) => Score::Heuristic(HeuristicWeights::default()),
            Some(RefineScoringArg::Logprob) => Score::AvgLogprob,
            Some(RefineScoringArg::LogprobExtract) => Score::AvgLogprobExtract,
            None => match args.ranking {
                RankingArg::Logprob => Score::AvgLogprob,
                RankingArg::Heuristic => Score::Heuristic(HeuristicWeights::default()),
            },
        },
    }
}

fn tie_break_of(t: TieBreakArg) -> TieBreak {
    match t {
        TieBreakArg::Report => TieBreak::Report,
        TieBreakArg::FirstSeen => TieBreak::FirstSeen,
        TieBreakArg::Logprob => TieBreak::AvgLogprob,
        TieBreakArg::Heuristic => TieBreak::Heuristic,
    }
}

fn method_of(m: MethodArg) -> Method {
    match m {
        MethodArg::Greedy => Method::Greedy,
        MethodArg::Cot => Method::Cot,
        MethodArg::SelfConsistency => Method::SelfConsistency,
        MethodArg::BestOfN => Method::BestOfN,
        MethodArg::SelfRefine => Method::SelfRefine,
    }
}
