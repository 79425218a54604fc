//! `ch04 eval`: every method and N of the flags into its own log (resumable), then the
//! results table and the plots of accuracy against N and against tokens generated.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use ch03::Problem;
use indicatif::{ProgressBar, ProgressStyle};
use shared::cli::{load_model_on, DeviceArgs};
use shared::loader::{LoadedModel, PromptMode};

use crate::eval_args::EvalArgs;
use crate::evaluate::{
    best_of_n_from_self_consistency, evaluate_method, fill_method_log, self_consistency_prefix,
    Method, MethodConfig, MethodRecord, Ranking,
};
use crate::plot::{save_line_plot, LinePlot, Series};
use crate::report::{format_results_table, ResultRow};
use crate::sampling::SamplingConfig;
use crate::scoring::HeuristicWeights;
use crate::self_refine::Score;

/// `eval`: every method and N into its own log, then the table and the plots
/// (the model on `device`).
pub fn run_eval(model: &str, device: DeviceArgs, args: &EvalArgs) -> Result<()> {
    let problems = args.source.load(Some(args.limit), args.seed)?;
    let loaded = load_model_on(model, device)?;
    let prompt_mode = args.prompt_args.mode(&loaded)?;
    args.prompt_args.announce(&loaded, prompt_mode);
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let mut rows = Vec::new();
    // Self-consistency records by N: best-of-N by log-probability reuses their samples.
    let mut sc_records = HashMap::new();
    // In the enum's order, so that self-consistency runs before best-of-N.
    let mut methods: Vec<Method> = args.method.clone();
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

/// The settings of `method` at `n` that the flags describe.
fn method_config(
    args: &EvalArgs,
    prompt_mode: PromptMode,
    method: Method,
    n: usize,
) -> MethodConfig {
    MethodConfig {
        method,
        n,
        prompt: args.prompt,
        prompt_mode,
        max_new_tokens: args.max_new_tokens,
        critique_max_new_tokens: args.critique_max_new_tokens,
        sampling: SamplingConfig {
            temperature: args.temperature,
            top_k: 0,
            top_p: args.top_p,
        },
        seed: args.seed,
        ranking: args.ranking,
        vote: args.vote.rule(args.tie_break),
        refine_score: match (args.refine_scoring, args.ranking) {
            (Some(scoring), _) => scoring.score(),
            (None, Ranking::AvgLogprob) => Score::AvgLogprob,
            (None, Ranking::Heuristic) => Score::Heuristic(HeuristicWeights::default()),
        },
    }
}
