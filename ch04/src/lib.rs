//! Chapter 4: inference-time scaling (book ch. 4 and 5).
//!
//! - [`sampling`]: temperature, top-k and top-p, a seeded sampler (book ch. 4.4–4.5)
//! - [`self_consistency`]: majority vote over answers grouped by the ch03 verifier (book ch. 4.6)
//! - [`book_vote`]: the book's own vote and its scripts' tie rules (exact strings), to compare with
//! - [`scoring`]: the heuristic score, average log-probability, best-of-N (book ch. 5)
//! - [`self_refine`]: draft → critique → revise, keeping a revision whose score does not drop (book ch. 5)
//! - [`evaluate`]: greedy, CoT, self-consistency, best-of-N and self-refinement on a dataset, resumable
//! - [`report`] and [`plot`]: the terminal chart, the results table, SVG/PNG line plots
//! - [`batched`]: N samples of one prompt, one by one or batched (book ch. 4.6)
//! - [`eval_args`], [`eval_run`], [`revote`], [`demo`]: the command line's `eval` (flags, then the run),
//!   `revote`, and the chapter's demo

pub mod batched;
pub mod book_vote;
pub mod demo;
pub mod eval_args;
pub mod eval_run;
pub mod evaluate;
pub mod plot;
pub mod report;
pub mod revote;
pub mod sampling;
pub mod scoring;
pub mod self_consistency;
pub mod self_refine;

pub use sampling::{
    sample_from_probs, scale_logits_by_temperature, top_k_filter, top_p_filter, Sampler,
    SamplingConfig,
};
