//! LoRA (Hu et al., 2021): train a low-rank update `W = W₀ + (α/r)·B·A` of every
//! attention and MLP projection instead of the projection itself, with `A`
//! (`r × in`) and `B` (`out × r`) the only trainable arrays (book ch. 7 names
//! it as the way to fit RL training in less memory).
//!
//! We apply LoRA as a reparametrization: before a forward pass the adapters are
//! merged into a full copy of the weights ([`Lora::merge_into`]); the ordinary
//! forward and backward then give `dL/dW`, and the chain rule through
//! `W = W₀ + s·B·A` gives the adapters' gradients ([`Lora::grads_from`]):
//! `dL/dA = s·Bᵀ·dL/dW`, `dL/dB = s·dL/dW·Aᵀ`. The gradients are exact, the
//! forward and backward code stays the one the fixtures check, and the merged
//! weights are what sampling and checkpoints use. What LoRA saves is optimizer
//! memory (two moments of the adapters instead of the whole model) and what it
//! adds is a pull towards the base model, which is at `B = 0` at the start.

use ndarray::{Array2, ArrayViewD, ArrayViewMutD};
use ndarray_rand::rand::distr::StandardUniform;
use ndarray_rand::RandomExt;

use crate::rng::Rng;
use crate::{Error, Result};

use super::matmul::{matmul, matmul_add};
use super::optim::Trainable;
use super::params::{LayerTensors, Tensors};

/// The projections that get an adapter, as Hugging Face (and PEFT) name them.
pub const LORA_TARGETS: [&str; 7] = [
    "self_attn.q_proj",
    "self_attn.k_proj",
    "self_attn.v_proj",
    "self_attn.o_proj",
    "mlp.gate_proj",
    "mlp.up_proj",
    "mlp.down_proj",
];

/// Rank and scale of the adapters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoraConfig {
    /// The rank `r` of every update `B·A`.
    pub rank: usize,
    /// `α`: the update is scaled by `α / r`.
    pub alpha: f32,
}

impl LoraConfig {
    /// Rank `r` with `α = 2r` (a common choice: the update's scale stays 2 whatever the rank).
    pub fn with_rank(rank: usize) -> LoraConfig {
        LoraConfig {
            rank,
            alpha: 2.0 * rank as f32,
        }
    }

    /// `α / r`, the factor in front of `B·A`.
    pub fn scale(&self) -> f32 {
        self.alpha / self.rank as f32
    }
}

/// One adapter: `A` (`r × in`) and `B` (`out × r`).
#[derive(Debug, Clone, PartialEq)]
pub struct LoraAdapter {
    /// PEFT's `lora_A.weight`.
    pub a: Array2<f32>,
    /// PEFT's `lora_B.weight`.
    pub b: Array2<f32>,
}

/// The adapters of every block, one per [`LORA_TARGETS`] entry, in that order.
#[derive(Debug, Clone, PartialEq)]
pub struct LoraTensors {
    /// `layers[i][j]` adapts projection `LORA_TARGETS[j]` of block `i`.
    pub layers: Vec<Vec<LoraAdapter>>,
}

/// Adapters with their settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Lora {
    /// Rank and scale.
    pub config: LoraConfig,
    /// The trainable arrays.
    pub tensors: LoraTensors,
    /// Blocks `0..frozen_layers` are not adapted (LoRA on the top blocks only): their
    /// `B` stays 0, [`Lora::merge_into`] leaves them and [`Lora::grads_from`] gives
    /// them zero gradients without computing any.
    pub frozen_layers: usize,
}

/// The weights of one block's [`LORA_TARGETS`], in order.
fn target_weights(layer: &LayerTensors) -> [&Array2<f32>; 7] {
    [
        &layer.q_proj,
        &layer.k_proj,
        &layer.v_proj,
        &layer.o_proj,
        &layer.gate_proj,
        &layer.up_proj,
        &layer.down_proj,
    ]
}

/// [`target_weights`], mutable.
fn target_weights_mut(layer: &mut LayerTensors) -> [&mut Array2<f32>; 7] {
    [
        &mut layer.q_proj,
        &mut layer.k_proj,
        &mut layer.v_proj,
        &mut layer.o_proj,
        &mut layer.gate_proj,
        &mut layer.up_proj,
        &mut layer.down_proj,
    ]
}

impl Lora {
    /// Fresh adapters for the projections of `base`: `A` uniform in
    /// `±1/√in` (PEFT's Kaiming-uniform default), drawn by `ndarray-rand` from
    /// [`Rng`] seeded with `seed` (block by block, projections in
    /// [`LORA_TARGETS`] order, each `A` row-major), `B = 0`, so the merged
    /// weights start equal to the base. Fails if the rank is 0 or larger
    /// than a projection's smaller side.
    pub fn new(base: &Tensors, config: LoraConfig, seed: u64) -> Result<Lora> {
        let smallest = base
            .layers
            .iter()
            .flat_map(|l| target_weights(l).map(|w| w.nrows().min(w.ncols())))
            .min()
            .unwrap_or(0);
        if config.rank == 0 || config.rank > smallest {
            return Err(Error::InvalidArgument(format!(
                "--lora {}: the rank must be between 1 and {smallest} (the smallest side of a projection)",
                config.rank
            )));
        }
        let mut rng = Rng::new(seed);
        let mut adapter = |w: &Array2<f32>| {
            let bound = 1.0 / (w.ncols() as f64).sqrt();
            let unit =
                Array2::<f64>::random_using((config.rank, w.ncols()), StandardUniform, &mut rng);
            LoraAdapter {
                a: unit.mapv(|u| ((u * 2.0 - 1.0) * bound) as f32),
                b: Array2::zeros((w.nrows(), config.rank)),
            }
        };
        let layers = base
            .layers
            .iter()
            .map(|l| target_weights(l).map(&mut adapter).into_iter().collect())
            .collect();
        Ok(Lora {
            config,
            tensors: LoraTensors { layers },
            frozen_layers: 0,
        })
    }

    /// Writes `W₀ + s·B·A` into every adapted projection of `merged` (the
    /// other arrays of `merged` are left alone: keep them equal to `base`'s).
    ///
    /// # Panics
    /// If `base`, `merged` and the adapters have different shapes.
    pub fn merge_into(&self, base: &Tensors, merged: &mut Tensors) {
        let s = self.config.scale();
        for ((adapters, base_layer), merged_layer) in self
            .tensors
            .layers
            .iter()
            .zip(&base.layers)
            .zip(&mut merged.layers)
            .skip(self.frozen_layers)
        {
            for ((adapter, w0), w) in adapters
                .iter()
                .zip(target_weights(base_layer))
                .zip(target_weights_mut(merged_layer))
            {
                w.assign(w0);
                let scaled_b = &adapter.b * s;
                matmul_add(scaled_b.view(), adapter.a.view(), w.view_mut());
            }
        }
    }

    /// The adapters' gradients from the gradients of the merged weights:
    /// `dA = s·Bᵀ·dW`, `dB = s·dW·Aᵀ` for every adapted projection (zeros for the
    /// frozen blocks).
    pub fn grads_from(&self, full: &Tensors) -> LoraTensors {
        let s = self.config.scale();
        let layers = self
            .tensors
            .layers
            .iter()
            .zip(&full.layers)
            .enumerate()
            .map(|(i, (adapters, grads))| {
                adapters
                    .iter()
                    .zip(target_weights(grads))
                    .map(|(adapter, dw)| {
                        if i < self.frozen_layers {
                            LoraAdapter {
                                a: Array2::zeros(adapter.a.raw_dim()),
                                b: Array2::zeros(adapter.b.raw_dim()),
                            }
                        } else {
                            LoraAdapter {
                                a: matmul(adapter.b.t(), dw.view()) * s,
                                b: matmul(dw.view(), adapter.a.t()) * s,
                            }
                        }
                    })
                    .collect()
            })
            .collect();
        LoraTensors { layers }
    }
}

impl Trainable for LoraTensors {
    /// `model.layers.{i}.{target}.lora_A.weight` / `lora_B.weight`, block by
    /// block, targets in [`LORA_TARGETS`] order (PEFT's names without its
    /// `base_model.model.` prefix).
    fn named(&self) -> Vec<(String, ArrayViewD<'_, f32>)> {
        let mut out = Vec::new();
        for (i, adapters) in self.layers.iter().enumerate() {
            for (target, adapter) in LORA_TARGETS.iter().zip(adapters) {
                let name = |m: &str| format!("model.layers.{i}.{target}.lora_{m}.weight");
                out.push((name("A"), adapter.a.view().into_dyn()));
                out.push((name("B"), adapter.b.view().into_dyn()));
            }
        }
        out
    }

    fn named_mut(&mut self) -> Vec<(String, ArrayViewMutD<'_, f32>)> {
        let mut out = Vec::new();
        for (i, adapters) in self.layers.iter_mut().enumerate() {
            for (target, adapter) in LORA_TARGETS.iter().zip(adapters) {
                let name = |m: &str| format!("model.layers.{i}.{target}.lora_{m}.weight");
                out.push((name("A"), adapter.a.view_mut().into_dyn()));
                out.push((name("B"), adapter.b.view_mut().into_dyn()));
            }
        }
        out
    }

    fn zeros_like(&self) -> Self {
        let zeros = |a: &LoraAdapter| LoraAdapter {
            a: Array2::zeros(a.a.raw_dim()),
            b: Array2::zeros(a.b.raw_dim()),
        };
        LoraTensors {
            layers: self
                .layers
                .iter()
                .map(|l| l.iter().map(zeros).collect())
                .collect(),
        }
    }
}

impl LoraTensors {
    /// How many scalars the adapters hold together.
    pub fn num_scalars(&self) -> usize {
        self.named().iter().map(|(_, a)| a.len()).sum()
    }
}
