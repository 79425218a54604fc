//! Chapter 5: reinforcement learning with verifiable rewards: a from-scratch backward pass, AdamW and GRPO (book ch. 6, 7).
//!
//! In progress. The backward pass is built, in [`shared::train`] (so later
//! chapters and experiments can use it), and runs from `ch05 grads`; AdamW and
//! GRPO are still to come. [`COMING`] says what the chapter will contain.

/// What this chapter will build, printed by `cargo run -p ch05`.
pub const COMING: &str = "Chapter 5 is coming: reinforcement learning with verifiable rewards: a from-scratch backward pass, AdamW and GRPO (book ch. 6, 7).";
