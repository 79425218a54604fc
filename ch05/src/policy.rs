//! The policy being trained: the whole model's weights with AdamW over all of
//! them (a full fine-tune), or frozen base weights with LoRA adapters and AdamW
//! over the adapters only (book ch. 7's cheaper variant).

use ndarray::{ArrayViewD, ArrayViewMutD};
use shared::train::forward::Scope;
use shared::train::{
    clip_grad_norm, AdamW, AdamWConfig, Grads, Lora, LoraConfig, LoraTensors, Params, Tensors,
    Trainable,
};
use shared::{Error, Result};

/// What is trained and the optimizer state that goes with it.
#[derive(Debug, Clone)]
pub enum Trained {
    /// Every weight, with AdamW's moments for every weight.
    Full(Box<AdamW<Tensors>>),
    /// Only the adapters: the frozen base weights, the adapters and their AdamW.
    Lora {
        /// The weights the adapters are added to.
        base: Box<Tensors>,
        /// `A` and `B` of every projection.
        lora: Lora,
        /// AdamW over the adapters.
        optimizer: AdamW<LoraTensors>,
    },
}

/// The policy: the weights a forward pass uses (with any adapters merged in)
/// and what updates them.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The effective weights (`base + s·B·A` under LoRA).
    pub params: Params,
    /// Full fine-tune or LoRA, with the optimizer state.
    pub trained: Trained,
}

impl Policy {
    /// A full fine-tune of `params` with AdamW.
    pub fn full(params: Params, adamw: AdamWConfig) -> Policy {
        let optimizer = AdamW::new(&params.tensors, adamw);
        Policy {
            params,
            trained: Trained::Full(Box::new(optimizer)),
        }
    }

    /// LoRA adapters (fresh: the policy starts equal to `params`) with AdamW on them.
    pub fn lora(
        params: Params,
        config: LoraConfig,
        seed: u64,
        adamw: AdamWConfig,
    ) -> Result<Policy> {
        let lora = Lora::new(&params.tensors, config, seed)?;
        let optimizer = AdamW::new(&lora.tensors, adamw);
        Ok(Policy {
            trained: Trained::Lora {
                base: Box::new(params.tensors.clone()),
                lora,
                optimizer,
            },
            params,
        })
    }

    /// This LoRA policy with blocks `0..layers` not adapted ([`Lora::frozen_layers`]):
    /// the training forward keeps no tapes for them and they get no gradient. A full
    /// fine-tune trains every block, so it is returned as it is.
    pub fn freezing_layers(mut self, layers: usize) -> Policy {
        if let Trained::Lora { lora, .. } = &mut self.trained {
            lora.frozen_layers = layers;
        }
        self
    }

    /// What the training forward over `prompt_len` prompt tokens and a response must
    /// compute: logits from the last prompt position on (the rows that predict the
    /// response), tapes for the trained blocks, and under LoRA no gradient for the
    /// embedding and output layer (adapters sit on the projections only).
    pub fn scope(&self, prompt_len: usize) -> Scope {
        let (frozen_layers, frozen_embeddings) = match &self.trained {
            Trained::Full(_) => (0, false),
            Trained::Lora { lora, .. } => (lora.frozen_layers, true),
        };
        Scope {
            outputs_from: prompt_len.saturating_sub(1),
            frozen_layers,
            frozen_embeddings,
        }
    }

    /// Clips the gradients of the trained arrays to `max_norm` (global L2), takes
    /// one AdamW step and refreshes the effective weights. `grads` are the
    /// gradients of the effective weights. Returns the norm before clipping, or an
    /// error, with the weights and optimizer untouched, when it is not finite.
    pub fn update(&mut self, grads: &mut Grads, max_norm: f32) -> Result<f32> {
        match &mut self.trained {
            Trained::Full(optimizer) => {
                let norm = finite_norm(clip_grad_norm(&mut grads.tensors, max_norm))?;
                optimizer.step(&mut self.params.tensors, &grads.tensors);
                Ok(norm)
            }
            Trained::Lora {
                base,
                lora,
                optimizer,
            } => {
                let mut lora_grads = lora.grads_from(&grads.tensors);
                let norm = finite_norm(clip_grad_norm(&mut lora_grads, max_norm))?;
                optimizer.step(&mut lora.tensors, &lora_grads);
                lora.merge_into(base, &mut self.params.tensors);
                Ok(norm)
            }
        }
    }

    /// How many scalars training changes.
    pub fn trainable_scalars(&self) -> usize {
        match &self.trained {
            Trained::Full(_) => self.params.tensors.num_scalars(),
            Trained::Lora { lora, .. } => lora.tensors.num_scalars(),
        }
    }

    /// AdamW's steps so far.
    pub fn optimizer_steps(&self) -> u64 {
        match &self.trained {
            Trained::Full(optimizer) => optimizer.step,
            Trained::Lora { optimizer, .. } => optimizer.step,
        }
    }

    /// The optimizer's moments as named arrays (`m.{name}`, `v.{name}`) and,
    /// under LoRA, the adapters (`lora.{name}`): what a checkpoint must keep
    /// beyond the effective weights to resume training exactly.
    pub fn training_state(&self) -> Vec<(String, ArrayViewD<'_, f32>)> {
        fn prefixed<'a>(
            prefix: &str,
            set: Vec<(String, ArrayViewD<'a, f32>)>,
        ) -> Vec<(String, ArrayViewD<'a, f32>)> {
            set.into_iter()
                .map(|(n, a)| (format!("{prefix}.{n}"), a))
                .collect()
        }
        match &self.trained {
            Trained::Full(o) => [prefixed("m", o.m.named()), prefixed("v", o.v.named())].concat(),
            Trained::Lora {
                lora, optimizer, ..
            } => [
                prefixed("lora", lora.tensors.named()),
                prefixed("m", optimizer.m.named()),
                prefixed("v", optimizer.v.named()),
            ]
            .concat(),
        }
    }

    /// Mutable [`Policy::training_state`], to restore it from a checkpoint.
    pub fn training_state_mut(&mut self) -> Vec<(String, ArrayViewMutD<'_, f32>)> {
        fn prefixed<'a>(
            prefix: &str,
            set: Vec<(String, ArrayViewMutD<'a, f32>)>,
        ) -> Vec<(String, ArrayViewMutD<'a, f32>)> {
            set.into_iter()
                .map(|(n, a)| (format!("{prefix}.{n}"), a))
                .collect()
        }
        match &mut self.trained {
            Trained::Full(o) => {
                let mut out = prefixed("m", o.m.named_mut());
                out.extend(prefixed("v", o.v.named_mut()));
                out
            }
            Trained::Lora {
                lora, optimizer, ..
            } => {
                let mut out = prefixed("lora", lora.tensors.named_mut());
                out.extend(prefixed("m", optimizer.m.named_mut()));
                out.extend(prefixed("v", optimizer.v.named_mut()));
                out
            }
        }
    }

    /// Sets AdamW's step count (restoring a checkpoint) and, under LoRA,
    /// merges the restored adapters into the effective weights.
    pub fn restore(&mut self, optimizer_steps: u64) {
        match &mut self.trained {
            Trained::Full(o) => o.step = optimizer_steps,
            Trained::Lora {
                base,
                lora,
                optimizer,
            } => {
                optimizer.step = optimizer_steps;
                lora.merge_into(base, &mut self.params.tensors);
            }
        }
    }
}

/// `norm`, if it is finite; a NaN or infinite gradient must not reach the weights.
fn finite_norm(norm: f32) -> Result<f32> {
    match norm.is_finite() {
        true => Ok(norm),
        false => Err(Error::NonFinite(format!(
            "the gradient norm is {norm}: this step was not applied; lower --lr or \
             --max-grad-norm, or resume from the last checkpoint"
        ))),
    }
}
