//! Chapter 5: reinforcement learning with verifiable rewards (book ch. 6, 7).
//!
//! - [`reward`]: the verifiable reward (ch03's verifier on the boxed answer) and the format reward
//! - [`grpo`]: group-normalized advantages and the GRPO loss, basic and clipped, with a KL penalty
//! - [`objective`]: `--objective`: ours and the book's chapter-7 scripts by name, with their defaults
//! - [`logprob`]: a response's log-probability and entropy (`sequence_logprob`, `sequence_logprob_and_entropy`)
//! - [`policy`]: what is trained (every weight, or LoRA adapters) and its AdamW
//! - [`step`]: one GRPO step: rollouts, rewards, advantages, updates
//! - [`evaluate`]: held-out accuracy, several problems decoded as one batch
//!
//! The backward pass, AdamW and LoRA live in `shared::train` so that later
//! chapters and experiments can use them.

pub mod checkpoint;
pub mod evaluate;
pub mod grpo;
pub mod logprob;
pub mod objective;
pub mod options;
pub mod plots;
pub mod policy;
pub mod reward;
pub mod run;
pub mod run_log;
pub mod step;
pub mod trainer;
