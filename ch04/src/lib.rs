//! Chapter 4: inference-time scaling: temperature, top-p, self-consistency, best-of-N, log-probability scoring, self-refinement, batched sampling (book ch. 4, 5).
//!
//! Not written yet: this crate holds the chapter's place in the workspace until
//! its issue lands. [`COMING`] says what it will contain.

/// What this chapter will build, printed by `cargo run -p ch04`.
pub const COMING: &str = "Chapter 4 is coming: inference-time scaling: temperature, top-p, self-consistency, best-of-N, log-probability scoring, self-refinement, batched sampling (book ch. 4, 5).";
