//! Chapter 5: reinforcement learning with verifiable rewards (book ch. 6, 7).
//!
//! - [`reward`]: the verifiable reward (ch03's verifier on the boxed answer) and the format reward
//! - [`advantage`]: group-normalized advantages (and chapter 7's Dr. GRPO and GDPO)
//! - [`grpo`]: the GRPO loss, basic and clipped, with a KL penalty (the book's `compute_grpo_loss`)
//! - [`improvements`]: the book's Olmo 3 loss and DeepSeek-V3.2 off-policy mask as its scripts write them
//! - [`objective`]: `--objective`: ours and the book's chapter-7 scripts by name, with their defaults
//! - [`logprob`]: a response's log-probability and entropy (`sequence_logprob`, `sequence_logprob_and_entropy`)
//! - [`policy`]: what is trained (every weight, or LoRA adapters) and its AdamW
//! - [`rollout`]: a group of responses (the book's `sample_response`) and their rewards
//! - [`step`]: one GRPO step: rollouts, rewards, advantages, updates (the loss through the book's `compute_grpo_loss`)
//! - [`train`]: the training loop, the book's `train_rlvr_grpo`; [`run`] sets a run up
//! - [`evaluate`]: held-out accuracy, several problems decoded as one batch
//! - [`train_args`], [`demo`], [`grads`]: the command line's `train` flags, the demo, `ch05 grads`
//!
//! The backward pass, AdamW and LoRA live in `shared::train` so that later
//! chapters and experiments can use them.

pub mod advantage;
pub mod checkpoint;
pub mod demo;
pub mod evaluate;
pub mod grads;
pub mod grpo;
pub mod improvements;
pub mod logprob;
pub mod objective;
pub mod options;
pub mod plots;
pub mod policy;
pub mod reward;
pub mod rollout;
pub mod run;
pub mod run_log;
pub mod step;
pub mod train;
pub mod train_args;
pub mod trainer;
