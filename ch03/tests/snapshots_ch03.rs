//! Snapshots of the chapter's outputs: the arith dataset, the prompts, and the
//! evaluation records of five arith problems (greedy, so deterministic).
//! Change a chapter function and `cargo insta test -p ch03` shows the difference.

use ch03::arith::{generate_arith, ArithConfig, Split};
use ch03::{evaluate_problem, EvalConfig, EvalRecord, PromptStyle};
use shared::fixtures::default_model;
use shared::loader::{load_model_files, PromptMode};

fn first_arith_problems(n: usize) -> Vec<ch03::Problem> {
    let config = ArithConfig {
        n,
        seed: 0,
        levels: vec![1, 2, 3, 4, 5],
        split: Split::Test,
    };
    generate_arith(&config).unwrap()
}

#[test]
fn arith_dataset_seed_0() {
    let mut out = String::new();
    for p in first_arith_problems(5) {
        out.push_str(&format!(
            "## {} (level {})\n{}\nanswer: {}\n\n{}\n\n",
            p.unique_id,
            p.level.unwrap(),
            p.problem,
            p.answer,
            p.solution
        ));
    }
    insta::assert_snapshot!(out);
}

#[test]
fn prompts_plain_and_cot() {
    let problem = "Compute 1/2 + 1/6.";
    let out = format!(
        "--- plain ---\n{}\n--- cot ---\n{}\n",
        PromptStyle::Plain.render(problem),
        PromptStyle::Cot.render(problem)
    );
    insta::assert_snapshot!(out);
}

/// A readable table of records, then each response.
fn format_records(records: &[EvalRecord]) -> String {
    let mut out = format!(
        "{:>5} | {:>5} | {:>6} | {:<12} | {:<7} | {:>6}\n",
        "index", "level", "answer", "extracted", "correct", "tokens"
    );
    for r in records {
        out.push_str(&format!(
            "{:>5} | {:>5} | {:>6} | {:<12} | {:<7} | {:>6}\n",
            r.index,
            r.level.unwrap_or(0),
            r.gtruth_answer,
            r.extracted
                .replace('\n', " ")
                .chars()
                .take(12)
                .collect::<String>(),
            r.correct,
            r.tokens
        ));
    }
    for r in records {
        out.push_str(&format!("\n--- {} ---\n{}\n", r.index, r.generated_text));
    }
    out
}

#[test]
fn eval_records_of_five_arith_problems() {
    let Some(files) = default_model() else {
        return;
    };
    let loaded = load_model_files(&files).unwrap();
    let config = EvalConfig {
        prompt: PromptStyle::Plain,
        prompt_mode: PromptMode {
            chat: true,
            thinking: None,
        },
        max_new_tokens: 96,
    };
    let records: Vec<EvalRecord> = first_arith_problems(5)
        .iter()
        .enumerate()
        .map(|(i, p)| evaluate_problem(&loaded, i + 1, p, &config).unwrap())
        .collect();
    insta::assert_snapshot!(format_records(&records));
}
