//! The chapter-3 math verifier (book sections 3.4–3.7), from scratch.
//!
//! Pipeline: [`extract_final_candidate`] pulls the final answer out of a model
//! response; [`grade_answer`] then compares it with the ground truth:
//!
//! 1. the two answers are equal as compact strings (case, spaces and pure
//!    formatting ignored), or
//! 2. both parse ([`parse_answer`]: LaTeX to an [`Answer`] tree) and are
//!    equivalent: shapes (tuples, intervals, sets, matrices, relations,
//!    lists) element by element, values exactly (rationals, `a·√b`, π) at
//!    seeded points for variables, in floating point only where no exact form
//!    exists.
//!
//! Every step is bounded (see [`limits`]): hostile input gets a verdict, never
//! a hang or a panic. `ch03/README.md` describes the rules and the measured figures.

mod demo;
mod equivalence;
mod eval;
mod exact;
mod expr;
mod extract;
mod lexer;
pub mod limits;
mod normalize;
mod parse;
mod points;

pub use demo::{run_demos_table, BOOK_DEMO_CASES};
pub use exact::Exact;
pub use expr::{Answer, Expr, Rel};
pub use extract::{extract_final_candidate, get_last_boxed, last_number, Fallback};
pub use normalize::{normalize_text, split_into_parts};
pub use parse::{parse_answer, ParseError};

/// Whether the predicted answer `pred` (already extracted, as in the book)
/// means the same as the ground truth `gt` (the book's `grade_answer`).
/// Empty answers are never correct. Symmetric in its two arguments.
pub fn grade_answer(pred: &str, gt: &str) -> bool {
    equality_check(gt, pred)
}

/// Whether two answers are equivalent (the book's `equality_check`, on raw
/// answers: our parser does the book's normalization and splitting itself).
pub fn equality_check(gt: &str, pred: &str) -> bool {
    // A fixed argument order makes the verdict symmetric by construction.
    let (a, b) = if gt <= pred { (gt, pred) } else { (pred, gt) };
    let ca = compact(a);
    if a == b {
        // Identical text: one compaction decides (a megabyte answer is compacted once).
        return !ca.is_empty();
    }
    let cb = compact(b);
    if ca.is_empty() || cb.is_empty() {
        return false;
    }
    if ca == cb {
        return true;
    }
    match (parse_answer(a), parse_answer(b)) {
        (Ok(x), Ok(y)) => equivalence::answers_equal(&x, &y),
        _ => false,
    }
}

/// The structural comparison alone: both answers parsed and compared as trees and
/// values, without [`equality_check`]'s string shortcut or its fixed argument order;
/// `None` when either does not parse. The property tests check that this comparison is
/// reflexive and symmetric by itself, which the shortcuts would otherwise hide.
pub fn parsed_equal(a: &str, b: &str) -> Option<bool> {
    Some(equivalence::answers_equal(
        &parse_answer(a).ok()?,
        &parse_answer(b).ok()?,
    ))
}

/// The canonical form of an answer for a reader: the parsed tree and, for a
/// constant, its exact value (`\frac{\sqrt{8}}{2}` → `√(8)/2 = √2`), or why it
/// did not parse.
pub fn canonical_form(text: &str) -> String {
    match parse_answer(text) {
        Ok(Answer::Expr(e)) => match eval::eval_exact(&e, &eval::Point::new()) {
            Some(value) if value.to_string() != e.to_string() => format!("{e} = {value}"),
            _ => e.to_string(),
        },
        Ok(answer) => answer.to_string(),
        Err(err) => format!("unparsed ({err})"),
    }
}

/// An answer without case, whitespace or formatting-only LaTeX: the first,
/// string-level equality test (like the book's exact string check). A space
/// that ends a command before a letter (`\cot x`) is kept: `\cotx` differs.
fn compact(text: &str) -> String {
    /// Formatting-only commands and symbols, dropped.
    const NOISE: [&str; 8] = [
        "\\left",
        "\\right",
        "\\!",
        "\\,",
        "\\;",
        "\\:",
        "\\displaystyle",
        "$",
    ];
    let lower = text.to_lowercase();
    let mut out = String::with_capacity(lower.len());
    let (mut in_command, mut pending_space) = (false, false);
    let mut push = |c: char, out: &mut String| {
        if c.is_whitespace() {
            pending_space = in_command;
            return;
        }
        if pending_space && c.is_alphabetic() {
            out.push(' ');
        }
        pending_space = false;
        in_command = c == '\\' || (in_command && c.is_ascii_alphabetic());
        out.push(c);
    };
    // One pass (inputs may be megabytes): drop noise, spell every fraction
    // `\frac`, keep a space only where it ends a command before a letter.
    let mut rest = lower.as_str();
    while let Some(c) = rest.chars().next() {
        let command = c == '\\' || c == '$';
        if let Some(noise) = NOISE.iter().find(|n| command && rest.starts_with(**n)) {
            rest = &rest[noise.len()..];
        } else if command && (rest.starts_with("\\dfrac") || rest.starts_with("\\tfrac")) {
            "\\frac".chars().for_each(|f| push(f, &mut out));
            rest = &rest["\\dfrac".len()..];
        } else {
            push(c, &mut out);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}
