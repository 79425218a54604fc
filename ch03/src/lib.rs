//! Chapter 3: evaluating reasoning: answer extraction, a from-scratch math verifier, MATH-500 and arithmetic datasets, an evaluation runner, chain-of-thought prompting (book ch. 3, 4.1).
//!
//! Not written yet: this crate holds the chapter's place in the workspace until
//! its issue lands. [`COMING`] says what it will contain.

/// What this chapter will build, printed by `cargo run -p ch03`.
pub const COMING: &str = "Chapter 3 is coming: evaluating reasoning: answer extraction, a from-scratch math verifier, MATH-500 and arithmetic datasets, an evaluation runner, chain-of-thought prompting (book ch. 3, 4.1).";

pub mod grader;
pub use grader::{
    equality_check, extract_final_candidate, get_last_boxed, grade_answer, normalize_text,
    parse_answer, run_demos_table, split_into_parts, Fallback, BOOK_DEMO_CASES,
};
