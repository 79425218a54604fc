//! Chapter 3: evaluating reasoning (book ch. 3, and ch. 4.3's chain-of-thought
//! prompting).
//!
//! - [`grader`]: answer extraction (`\boxed{}`) and a from-scratch math verifier
//!   (book ch. 3.4–3.7): LaTeX to an expression tree, exact and numeric equivalence
//! - [`problem`], [`math500`], [`arith`], [`dataset`]: the datasets (MATH-500, and
//!   generated arithmetic word problems with a train/test split)
//! - [`prompts`]: the book's `render_prompt` and its chain-of-thought variant
//! - [`evaluate`], [`records`], [`summary`]: the resumable evaluation loop
//!   (book ch. 3.9), its JSON-lines log and the closing summary
//! - [`cli`] and [`commands`]: the command line's flags and what its subcommands do

pub mod arith;
pub mod cli;
pub mod commands;
pub mod dataset;
pub mod evaluate;
pub mod grader;
pub mod math500;
pub mod problem;
pub mod prompts;
pub mod records;
pub mod summary;

pub use arith::{generate_arith, ArithConfig, Split};
pub use dataset::{arith_test_problems, load_dataset};
pub use evaluate::{
    evaluate_math500_stream, evaluate_problem, evaluate_problems_batched,
    generate_text_stream_concat, EvalConfig,
};
pub use grader::{
    equality_check, extract_final_candidate, get_last_boxed, grade_answer, normalize_text,
    parse_answer, run_demos_table, split_into_parts, Fallback, BOOK_DEMO_CASES,
};
pub use math500::{load_math500_test, load_math_train};
pub use problem::{load_problems, Problem};
pub use prompts::{render_prompt, render_prompt_cot, PromptStyle};
pub use records::EvalRecord;
pub use summary::EvalSummary;
