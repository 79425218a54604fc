//! The caps that keep grading bounded on hostile input. Beyond a cap the
//! grader does not fail: it falls back to comparing normalized strings, or to
//! "not equal".

/// Longest answer (in bytes) that is parsed; longer ones compare as strings.
pub const MAX_PARSE_BYTES: usize = 1024;
/// Deepest nesting of groups and operators the parser follows.
pub const MAX_DEPTH: usize = 64;
/// Most digits in one number literal.
pub const MAX_DIGITS: usize = 1200;
/// Largest bit size of any integer in exact arithmetic (numerators,
/// denominators, radicands).
pub const MAX_BITS: u64 = 4096;
/// Largest integer exponent applied exactly (`x^n`, `10^n`, scientific notation).
pub const MAX_EXPONENT: u32 = 256;
/// Largest `n` whose factorial is computed exactly.
pub const MAX_FACTORIAL: u32 = 300;
/// Largest radicand whose square part is extracted (trial division up to its cube root).
pub const MAX_RADICAND: u64 = 1 << 53;
/// Most terms in an exact sum.
pub const MAX_TERMS: usize = 64;
/// Most items compared in order (tuples, matrix cells).
pub const MAX_ITEMS: usize = 256;
/// Most items compared in any order (sets, lists, unions): matching is quadratic.
pub const MAX_UNORDERED_ITEMS: usize = 64;
/// Most alternatives a `\pm` answer expands into.
pub const MAX_PM_BRANCHES: usize = 16;
