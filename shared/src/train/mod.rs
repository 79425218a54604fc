//! Training from scratch: parameters as plain arrays, a forward pass that keeps
//! what it needs, a hand-written backward pass, and the loss (book ch. 6, 7).
//!
//! ```text
//! Params ─ forward ─▶ logits + Tape ─ loss ─▶ dlogits ─ backward ─▶ Grads
//! ```
//!
//! The backward pass is written by hand, one function per layer type
//! ([`backward::rms_norm_backward`], [`backward::attention_backward`], …), each
//! mirroring its forward, and the forward saves a plain [`forward::LayerTape`]
//! struct per block. We chose this over a generic autograd tape (a graph of
//! recorded operations replayed in reverse): the model has a fixed shape, so
//! the per-layer version is shorter, allocates only what the layers need, and
//! every gradient formula sits next to its layer where a reader can check it.
//! The gradients are checked against PyTorch autograd on tiny models of every
//! family (`shared/tests/train_grads.rs`) and by finite differences.
//!
//! [`Params::to_model`] turns trained parameters back into an inference model, and
//! [`checkpoint::save_model_dir`] saves them as a Hugging Face folder that
//! `--model DIR` loads.

pub mod backward;
pub mod checkpoint;
pub mod forward;
pub mod lora;
pub mod loss;
pub mod matmul;
pub mod optim;
pub mod params;

pub use checkpoint::save_model_dir;
pub use lora::{Lora, LoraConfig, LoraTensors};
pub use optim::{clip_grad_norm, AdamW, AdamWConfig, Trainable};
pub use params::{Grads, Params, Tensors};

use crate::{Error, Result};

/// The loss of one sequence and what it is made of.
#[derive(Debug, Clone, PartialEq)]
pub struct LossReport {
    /// Mean next-token cross-entropy.
    pub loss: f32,
    /// `log p(ids[t + 1] | ids[..=t])` for `t = 0..n − 1`.
    pub token_logprobs: Vec<f32>,
}

/// Mean next-token cross-entropy of `ids` and the gradient of every parameter
/// (one forward and one backward pass). Needs at least 2 ids, all in the vocabulary.
pub fn loss_and_grads(params: &Params, ids: &[u32]) -> Result<(LossReport, Grads)> {
    if ids.len() < 2 {
        return Err(Error::InvalidArgument(format!(
            "the next-token loss needs at least 2 token ids, got {}",
            ids.len()
        )));
    }
    let (logits, tape) = forward::forward(params, ids)?;
    let (loss, token_logprobs) = loss::next_token_loss(logits.view(), ids);
    let weights = vec![1.0 / (ids.len() - 1) as f32; ids.len() - 1];
    let dlogits = backward::cross_entropy_backward(logits.view(), &ids[1..], &weights);
    drop(logits);
    let grads = backward::backward(params, &tape, dlogits.view());
    Ok((
        LossReport {
            loss,
            token_logprobs,
        },
        grads,
    ))
}
