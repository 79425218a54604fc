//! Chapter 5: reinforcement learning with verifiable rewards: a from-scratch backward pass, AdamW and GRPO (book ch. 6, 7).
//!
//! Not written yet: this crate holds the chapter's place in the workspace until
//! its issue lands. [`COMING`] says what it will contain.

/// What this chapter will build, printed by `cargo run -p ch05`.
pub const COMING: &str = "Chapter 5 is coming: reinforcement learning with verifiable rewards: a from-scratch backward pass, AdamW and GRPO (book ch. 6, 7).";
