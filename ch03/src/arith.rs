//! The "arith" dataset: multi-step arithmetic word problems generated from a
//! seed, with integer answers, in MATH-500's fields. Levels run from 1 (one
//! operation on small numbers) to 5 (three or four steps mixing × and exact ÷,
//! with a parenthesized group). Small models can solve some of them, which
//! makes accuracy differences (plain vs chain-of-thought prompts, chapter 4's
//! sampling, chapter 5's training) visible.
//!
//! Every problem belongs to one split, decided by a hash of its text, so a
//! train set and a test set never share a problem whatever their seeds.

use std::collections::HashSet;

use shared::rng::Rng;
use shared::{Error, Result};

use crate::problem::Problem;

/// Which half of the problem space: ch05 trains on `Train` and evaluates on `Test`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Split {
    /// Three quarters of all problems (by hash of the text).
    Train,
    /// The other quarter.
    Test,
}

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArithConfig {
    /// How many problems.
    pub n: usize,
    /// The seed: the same seed gives the same problems on every machine.
    pub seed: u64,
    /// The difficulty levels to draw from (1..=5), in turn.
    pub levels: Vec<u32>,
    /// The split every problem must belong to.
    pub split: Split,
}

/// One step of a story, applied to the running total.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Gets `b` more.
    Add(u64),
    /// Gives `b` away.
    Sub(u64),
    /// Ends up with `k` times as many.
    Mul(u64),
    /// Splits into `k` equal piles and keeps one.
    Div(u64),
    /// Buys `c` packs of `d`: adds the product, `(c × d)`.
    AddGroups(u64, u64),
}

/// A person in a story, with the pronouns the sentences need.
struct Person {
    name: &'static str,
    subject: &'static str,
    possessive: &'static str,
}

const PEOPLE: &[Person] = &[
    Person {
        name: "Ava",
        subject: "she",
        possessive: "her",
    },
    Person {
        name: "Ben",
        subject: "he",
        possessive: "his",
    },
    Person {
        name: "Chloe",
        subject: "she",
        possessive: "her",
    },
    Person {
        name: "Diego",
        subject: "he",
        possessive: "his",
    },
    Person {
        name: "Emma",
        subject: "she",
        possessive: "her",
    },
    Person {
        name: "Farid",
        subject: "he",
        possessive: "his",
    },
    Person {
        name: "Hana",
        subject: "she",
        possessive: "her",
    },
    Person {
        name: "Ivan",
        subject: "he",
        possessive: "his",
    },
    Person {
        name: "Jade",
        subject: "she",
        possessive: "her",
    },
    Person {
        name: "Kofi",
        subject: "he",
        possessive: "his",
    },
    Person {
        name: "Lena",
        subject: "she",
        possessive: "her",
    },
    Person {
        name: "Mateo",
        subject: "he",
        possessive: "his",
    },
    Person {
        name: "Nora",
        subject: "she",
        possessive: "her",
    },
    Person {
        name: "Omar",
        subject: "he",
        possessive: "his",
    },
    Person {
        name: "Priya",
        subject: "she",
        possessive: "her",
    },
    Person {
        name: "Sam",
        subject: "he",
        possessive: "his",
    },
];

const ITEMS: &[&str] = &[
    "apples", "marbles", "stickers", "books", "coins", "pencils", "cards", "shells", "stamps",
    "cookies", "beads", "toy cars",
];

const PACKS: &[&str] = &["bags", "boxes", "packs", "jars"];

/// The largest running total a story may reach.
const MAX_TOTAL: u64 = 10_000;

/// The most problems one request may ask for.
pub const MAX_ARITH_PROBLEMS: usize = 1_000_000;

/// Draws in a row that found no new problem, after which a level counts as used up.
const STALL_DRAWS: usize = 200_000;

/// Generates `config.n` distinct problems of `config.split`, cycling through
/// `config.levels`. Fails if a level is outside 1..=5 or the list is empty, if `n`
/// exceeds [`MAX_ARITH_PROBLEMS`], or as soon as a level has no new problem left to
/// give (level 1, the smallest, holds about 33,000 problems in the test split).
pub fn generate_arith(config: &ArithConfig) -> Result<Vec<Problem>> {
    validate_levels(&config.levels)?;
    if config.n > MAX_ARITH_PROBLEMS {
        return Err(Error::InvalidArgument(format!(
            "{} arith problems asked for; a request may ask for 0 to {MAX_ARITH_PROBLEMS}",
            config.n
        )));
    }
    let mut rng = Rng::new(config.seed);
    let mut seen = HashSet::new();
    let mut problems = Vec::with_capacity(config.n);
    let mut stalled = 0;
    while problems.len() < config.n {
        let level = config.levels[problems.len() % config.levels.len()];
        if stalled == STALL_DRAWS {
            return Err(level_used_up(config, level, &problems));
        }
        stalled += 1;
        let Some(problem) = arith_problem(&mut rng, level) else {
            continue;
        };
        if split_of(&problem.problem) == config.split && seen.insert(problem.problem.clone()) {
            problems.push(problem);
            stalled = 0;
        }
    }
    Ok(problems)
}

/// The error for a request larger than what `level` holds in the split.
fn level_used_up(config: &ArithConfig, level: u32, problems: &[Problem]) -> Error {
    let found = problems.iter().filter(|p| p.level == Some(level)).count();
    Error::InvalidArgument(format!(
        "asked for {} arith problems, but level {level} ran out at {found} distinct problems \
         of the {:?} split ({STALL_DRAWS} draws in a row found no new one); ask for fewer \
         or add levels",
        config.n, config.split
    ))
}

/// Parses a level list such as `1-5`, `2`, or `1,3,5`.
pub fn parse_levels(text: &str) -> Result<Vec<u32>> {
    let bad = || {
        Error::InvalidArgument(format!(
            "--levels `{text}`: expected levels 1 to 5 such as `1-5`, `2` or `1,3`"
        ))
    };
    let mut levels = Vec::new();
    for part in text.split(',').map(str::trim) {
        let (lo, hi) = match part.split_once('-') {
            Some((lo, hi)) => (lo.trim(), hi.trim()),
            None => (part, part),
        };
        let lo: u32 = lo.parse().map_err(|_| bad())?;
        let hi: u32 = hi.parse().map_err(|_| bad())?;
        if lo > hi {
            return Err(bad());
        }
        levels.extend(lo..=hi);
    }
    validate_levels(&levels).map_err(|_| bad())?;
    Ok(levels)
}

fn validate_levels(levels: &[u32]) -> Result<()> {
    if levels.is_empty() || levels.iter().any(|l| !(1..=5).contains(l)) {
        return Err(Error::InvalidArgument(format!(
            "arith levels must be between 1 and 5, got {levels:?}"
        )));
    }
    Ok(())
}

/// The split a problem belongs to: a quarter of all problem texts (by their
/// FNV-1a hash) are test problems, the rest training problems.
pub fn split_of(problem: &str) -> Split {
    if fnv1a(problem.as_bytes()).is_multiple_of(4) {
        Split::Test
    } else {
        Split::Train
    }
}

/// 64-bit FNV-1a: a tiny hash that no crate version can change.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// One problem of `level`, or `None` when the drawn story does not work out
/// (a total out of range, or nothing to divide by exactly).
pub fn arith_problem(rng: &mut Rng, level: u32) -> Option<Problem> {
    let person = rng.choose(PEOPLE)?;
    let item = *rng.choose(ITEMS)?;
    let pack = *rng.choose(PACKS)?;
    let (start, steps) = draw_story(rng, level)?;
    let totals = run_story(start, &steps)?;
    let answer = *totals.last()?;
    let problem = story_text(person, item, pack, start, &steps);
    let solution = solution_text(item, start, &steps, &totals);
    let id = format!("arith/level{level}/{:016x}", fnv1a(problem.as_bytes()));
    Some(Problem {
        problem,
        solution,
        answer: answer.to_string(),
        subject: "Arithmetic".into(),
        level: Some(level),
        unique_id: id,
    })
}

/// The starting amount and the steps for `level`.
fn draw_story(rng: &mut Rng, level: u32) -> Option<(u64, Vec<Step>)> {
    let mut r = |lo, hi| rng.range_inclusive(lo, hi);
    let (start, kinds): (u64, Vec<u8>) = match level {
        1 => (r(2, 20), vec![[b'+', b'-', b'*'][r(0, 2) as usize]]),
        2 => (r(10, 50), vec![pick(&mut r, b"+-"), pick(&mut r, b"+-")]),
        3 => {
            let mut kinds = vec![pick(&mut r, b"+-"), pick(&mut r, b"*g")];
            if r(0, 1) == 1 {
                kinds.swap(0, 1);
            }
            (r(5, 40), kinds)
        }
        4 => {
            let mut kinds = vec![
                pick(&mut r, b"+-"),
                pick(&mut r, b"*/"),
                pick(&mut r, b"+-*/"),
            ];
            if r(0, 1) == 1 {
                kinds.swap(0, 1);
            }
            (r(6, 60), kinds)
        }
        5 => {
            let mut kinds = vec![b'*', b'g', b'/'];
            if r(0, 1) == 1 {
                kinds.insert(r(0, 3) as usize, pick(&mut r, b"+-"));
            }
            let shift = r(0, 2) as usize;
            kinds.rotate_left(shift);
            (r(6, 60), kinds)
        }
        _ => return None,
    };
    let mut total = start;
    let mut steps = Vec::with_capacity(kinds.len());
    for kind in kinds {
        let step = draw_step(&mut r, kind, total, level)?;
        total = apply(step, total)?;
        steps.push(step);
    }
    Some((start, steps))
}

fn pick(r: &mut impl FnMut(u64, u64) -> u64, kinds: &[u8]) -> u8 {
    kinds[r(0, kinds.len() as u64 - 1) as usize]
}

/// One step of `kind` that keeps the total positive and divisions exact
/// (amounts are at least 2, so every noun stays plural).
fn draw_step(
    r: &mut impl FnMut(u64, u64) -> u64,
    kind: u8,
    total: u64,
    level: u32,
) -> Option<Step> {
    let small = if level <= 2 { 20 } else { 50 };
    match kind {
        b'+' => Some(Step::Add(r(2, small))),
        b'-' if total > 3 => Some(Step::Sub(r(2, (total - 1).min(small)))),
        b'*' => Some(Step::Mul(r(2, if level == 1 { 9 } else { 6 }))),
        b'g' => Some(Step::AddGroups(r(2, 9), r(2, 12))),
        b'/' => {
            let divisors: Vec<u64> = (2..=12)
                .filter(|&k| total.is_multiple_of(k) && total / k >= 2)
                .collect();
            let k = *divisors.get(r(0, divisors.len().max(1) as u64 - 1) as usize)?;
            Some(Step::Div(k))
        }
        _ => None,
    }
}

/// The total after `step`, or `None` when it leaves the allowed range.
fn apply(step: Step, total: u64) -> Option<u64> {
    let next = match step {
        Step::Add(b) => total.checked_add(b)?,
        Step::Sub(b) => total.checked_sub(b)?,
        Step::Mul(k) => total.checked_mul(k)?,
        Step::Div(k) if k > 0 && total.is_multiple_of(k) => total / k,
        Step::Div(_) => return None,
        Step::AddGroups(c, d) => total.checked_add(c.checked_mul(d)?)?,
    };
    (1..=MAX_TOTAL).contains(&next).then_some(next)
}

/// The running totals after each step.
fn run_story(start: u64, steps: &[Step]) -> Option<Vec<u64>> {
    let mut totals = Vec::with_capacity(steps.len());
    let mut total = start;
    for &step in steps {
        total = apply(step, total)?;
        totals.push(total);
    }
    Some(totals)
}

/// The word problem.
fn story_text(person: &Person, item: &str, pack: &str, start: u64, steps: &[Step]) -> String {
    let subject = capitalize(person.subject);
    let mut text = format!("{} has {start} {item}.", person.name);
    for step in steps {
        let sentence = match *step {
            Step::Add(b) => format!(" {subject} gets {b} more {item}."),
            Step::Sub(b) => format!(" {subject} gives {b} {item} to a friend."),
            Step::Mul(k) => format!(
                " {} number of {item} then becomes {k} times as large.",
                capitalize(person.possessive)
            ),
            Step::Div(k) => format!(
                " {subject} splits {} {item} into {k} equal piles and keeps only one pile.",
                person.possessive
            ),
            Step::AddGroups(c, d) => {
                format!(" {subject} buys {c} {pack} with {d} {item} in each.")
            }
        };
        text.push_str(&sentence);
    }
    text.push_str(&format!(" How many {item} does {} have now?", person.name));
    text
}

/// A worked solution: one line a step, the whole computation as one expression
/// (with its parentheses), and the boxed answer.
fn solution_text(item: &str, start: u64, steps: &[Step], totals: &[u64]) -> String {
    let mut lines = vec![format!("Start with {start} {item}.")];
    let mut before = start;
    let mut expression = start.to_string();
    for (step, &after) in steps.iter().zip(totals) {
        let (line, op) = match *step {
            Step::Add(b) => (format!("{before} + {b} = {after}"), format!(" + {b}")),
            Step::Sub(b) => (format!("{before} - {b} = {after}"), format!(" - {b}")),
            Step::Mul(k) => (
                format!("{before} \\times {k} = {after}"),
                format!(" \\times {k}"),
            ),
            Step::Div(k) => (
                format!("{before} \\div {k} = {after}"),
                format!(" \\div {k}"),
            ),
            Step::AddGroups(c, d) => (
                format!("{before} + {c} \\times {d} = {after}"),
                format!(" + ({c} \\times {d})"),
            ),
        };
        let needs_parens =
            matches!(step, Step::Mul(_) | Step::Div(_)) && expression.contains([' ']);
        if needs_parens && !is_product(&expression) {
            expression = format!("({expression})");
        }
        expression.push_str(&op);
        lines.push(format!("${line}$."));
        before = after;
    }
    let answer = totals.last().copied().unwrap_or(start);
    lines.push(format!("In one expression: ${expression} = {answer}$."));
    lines.push(format!("The answer is $\\boxed{{{answer}}}$."));
    lines.join("\n")
}

/// Whether an expression is only products and quotients (needs no parentheses
/// before another × or ÷).
fn is_product(expression: &str) -> bool {
    !expression.contains(" + ") && !expression.contains(" - ")
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(n: usize, seed: u64, split: Split) -> ArithConfig {
        ArithConfig {
            n,
            seed,
            levels: vec![1, 2, 3, 4, 5],
            split,
        }
    }

    #[test]
    fn same_seed_same_problems_other_seed_other_problems() {
        let a = generate_arith(&config(50, 0, Split::Test)).unwrap();
        let b = generate_arith(&config(50, 0, Split::Test)).unwrap();
        let c = generate_arith(&config(50, 1, Split::Test)).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn train_and_test_never_share_a_problem() {
        let test = generate_arith(&config(500, 0, Split::Test)).unwrap();
        let train = generate_arith(&config(2000, 0, Split::Train)).unwrap();
        let test_texts: HashSet<_> = test.iter().map(|p| &p.problem).collect();
        assert_eq!(test_texts.len(), 500, "problems in a set are distinct");
        assert!(train.iter().all(|p| !test_texts.contains(&p.problem)));
        assert!(test.iter().all(|p| split_of(&p.problem) == Split::Test));
    }

    #[test]
    fn answers_are_what_the_solution_computes() {
        for p in generate_arith(&config(300, 5, Split::Train)).unwrap() {
            let value: u64 = p.answer.parse().unwrap();
            assert!((1..=MAX_TOTAL).contains(&value));
            assert!(
                p.solution.ends_with(&format!("\\boxed{{{}}}$.", p.answer)),
                "{}",
                p.solution
            );
            assert!(p.problem.ends_with("have now?"));
        }
    }

    #[test]
    fn levels_have_their_number_of_steps() {
        let mut rng = Rng::new(9);
        for level in 1..=5u32 {
            for _ in 0..200 {
                if let Some((_, steps)) = draw_story(&mut rng, level) {
                    let expected = match level {
                        1 => 1..=1,
                        2 | 3 => 2..=2,
                        4 => 3..=3,
                        _ => 3..=4,
                    };
                    assert!(expected.contains(&steps.len()), "level {level}: {steps:?}");
                    if level == 5 {
                        assert!(steps.iter().any(|s| matches!(s, Step::Div(_))));
                        assert!(steps.iter().any(|s| matches!(s, Step::AddGroups(..))));
                    }
                }
            }
        }
    }

    #[test]
    fn level_lists_parse_and_bad_ones_are_refused() {
        assert_eq!(parse_levels("1-5").unwrap(), vec![1, 2, 3, 4, 5]);
        assert_eq!(parse_levels("2").unwrap(), vec![2]);
        assert_eq!(parse_levels("1, 3-4").unwrap(), vec![1, 3, 4]);
        for bad in ["0", "6", "3-1", "x", "", "1-"] {
            assert!(parse_levels(bad).is_err(), "{bad}");
        }
        assert!(generate_arith(&ArithConfig {
            levels: vec![],
            ..config(1, 0, Split::Test)
        })
        .is_err());
    }

    #[test]
    fn a_request_beyond_what_a_level_holds_stops_with_the_count() {
        let error = generate_arith(&ArithConfig {
            levels: vec![1],
            ..config(100_000, 0, Split::Test)
        })
        .unwrap_err()
        .to_string();
        assert!(error.contains("level 1 ran out at"), "{error}");
        let too_many = generate_arith(&config(MAX_ARITH_PROBLEMS + 1, 0, Split::Test))
            .unwrap_err()
            .to_string();
        assert!(too_many.contains("0 to 1000000"), "{too_many}");
    }
}
