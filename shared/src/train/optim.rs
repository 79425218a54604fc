//! AdamW with bias correction and decoupled weight decay, and global gradient-norm
//! clipping: the update the book's GRPO loop (ch. 6) applies after each backward pass.
//! Both follow PyTorch (`torch.optim.AdamW`, `torch.nn.utils.clip_grad_norm_`) step for step.

use ndarray::{ArrayViewD, ArrayViewMutD, Zip};

use super::Tensors;

/// A set of named f32 arrays an optimizer can update: the full model's
/// [`Tensors`], or only the LoRA adapters ([`super::lora::LoraTensors`]).
pub trait Trainable: Clone {
    /// Every array with its name, in a fixed order.
    fn named(&self) -> Vec<(String, ArrayViewD<'_, f32>)>;
    /// Every array, mutable, in the order of [`Trainable::named`].
    fn named_mut(&mut self) -> Vec<(String, ArrayViewMutD<'_, f32>)>;
    /// All-zero arrays of the same shapes.
    fn zeros_like(&self) -> Self;
}

impl Trainable for Tensors {
    fn named(&self) -> Vec<(String, ArrayViewD<'_, f32>)> {
        Tensors::named(self)
    }
    fn named_mut(&mut self) -> Vec<(String, ArrayViewMutD<'_, f32>)> {
        Tensors::named_mut(self)
    }
    fn zeros_like(&self) -> Self {
        Tensors::zeros_like(self)
    }
}

/// AdamW's settings; the defaults are PyTorch's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamWConfig {
    /// Learning rate.
    pub lr: f32,
    /// Decay of the first moment (the running mean of the gradients).
    pub beta1: f32,
    /// Decay of the second moment (the running mean of the squared gradients).
    pub beta2: f32,
    /// Added to the second moment's square root, so a zero gradient divides safely.
    pub eps: f32,
    /// Decoupled weight decay: each step shrinks every parameter by `lr · weight_decay`.
    pub weight_decay: f32,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        Self {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.01,
        }
    }
}

/// AdamW's state: the settings, the steps taken, and both moments of every parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct AdamW<T = Tensors> {
    /// The settings.
    pub config: AdamWConfig,
    /// Steps taken so far.
    pub step: u64,
    /// First moments, shaped like the parameters.
    pub m: T,
    /// Second moments, shaped like the parameters.
    pub v: T,
}

impl<T: Trainable> AdamW<T> {
    /// A fresh optimizer for parameters shaped like `params` (zero moments, step 0).
    pub fn new(params: &T, config: AdamWConfig) -> AdamW<T> {
        AdamW {
            config,
            step: 0,
            m: params.zeros_like(),
            v: params.zeros_like(),
        }
    }

    /// One update of `params` with `grads`, as `torch.optim.AdamW` does it:
    /// `p ← p·(1 − lr·wd)`, `m ← β1·m + (1 − β1)·g`, `v ← β2·v + (1 − β2)·g²`, then
    /// `p ← p − lr/(1 − β1ᵗ) · m / (√v / √(1 − β2ᵗ) + eps)`.
    ///
    /// # Panics
    /// If `grads` is not shaped like `params` and the state (a programmer error).
    pub fn step(&mut self, params: &mut T, grads: &T) {
        self.step += 1;
        let c = self.config;
        let t = self.step as i32;
        let step_size = c.lr / (1.0 - c.beta1.powi(t));
        let correction2_sqrt = (1.0 - c.beta2.powi(t)).sqrt();
        let decay = 1.0 - c.lr * c.weight_decay;
        let (mut ps, gs) = (params.named_mut(), grads.named());
        let (mut ms, mut vs) = (self.m.named_mut(), self.v.named_mut());
        assert!(
            ps.len() == gs.len() && ps.len() == ms.len() && ps.len() == vs.len(),
            "AdamW::step: parameters, gradients and state differ"
        );
        for (((p, g), m), v) in ps.iter_mut().zip(&gs).zip(&mut ms).zip(&mut vs) {
            assert_eq!(p.0, g.0, "AdamW::step: parameter and gradient names differ");
            Zip::from(&mut p.1)
                .and(&g.1)
                .and(&mut m.1)
                .and(&mut v.1)
                .for_each(|p, &g, m, v| {
                    *p *= decay;
                    *m += (g - *m) * (1.0 - c.beta1);
                    *v = *v * c.beta2 + (1.0 - c.beta2) * g * g;
                    let denom = v.sqrt() / correction2_sqrt + c.eps;
                    *p -= step_size * *m / denom;
                });
        }
    }
}

/// Scales every gradient by `max_norm / (‖g‖ + 1e-6)` when that is below 1, as
/// `torch.nn.utils.clip_grad_norm_` does, where `‖g‖` is the L2 norm of all gradients
/// together. Returns `‖g‖` before clipping (the "grad norm" a training log reports).
pub fn clip_grad_norm<T: Trainable>(grads: &mut T, max_norm: f32) -> f32 {
    let total = grads
        .named()
        .iter()
        .flat_map(|(_, g)| g.iter())
        .map(|&x| f64::from(x) * f64::from(x))
        .sum::<f64>()
        .sqrt() as f32;
    let coef = (max_norm / (total + 1e-6)).min(1.0);
    if coef < 1.0 {
        for (_, mut g) in grads.named_mut() {
            g.mapv_inplace(|x| x * coef);
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array1, Array2};

    /// Parameters with only an embedding and a final norm (no blocks).
    fn tensors(embed: Array2<f32>, norm: Array1<f32>) -> Tensors {
        Tensors {
            embed_tokens: embed,
            layers: Vec::new(),
            norm,
            lm_head: None,
        }
    }

    #[test]
    fn two_adamw_steps_follow_the_hand_computation() {
        let config = AdamWConfig {
            lr: 0.1,
            beta1: 0.9,
            beta2: 0.99,
            eps: 1e-8,
            weight_decay: 0.5,
        };
        let mut p = tensors(array![[1.0, -2.0]], array![0.5]);
        let g1 = tensors(array![[0.2, -0.4]], array![0.0]);
        let g2 = tensors(array![[-0.1, 0.3]], array![0.0]);
        let mut opt = AdamW::new(&p, config);
        opt.step(&mut p, &g1);
        opt.step(&mut p, &g2);
        // By hand, in f64, for each scalar (p, g1, g2).
        let hand = |p0: f64, g1: f64, g2: f64| {
            let (lr, b1, b2, eps, wd) = (0.1, 0.9, 0.99, 1e-8, 0.5);
            let mut p = p0 * (1.0 - lr * wd);
            let (m, v) = ((1.0 - b1) * g1, (1.0 - b2) * g1 * g1);
            p -= lr / (1.0 - b1) * m / ((v / (1.0 - b2)).sqrt() + eps);
            p *= 1.0 - lr * wd;
            let (m, v) = (b1 * m + (1.0 - b1) * g2, b2 * v + (1.0 - b2) * g2 * g2);
            let (c1, c2) = (1.0 - b1 * b1, 1.0 - b2 * b2);
            p - lr / c1 * m / ((v / c2).sqrt() + eps)
        };
        let want = [hand(1.0, 0.2, -0.1), hand(-2.0, -0.4, 0.3)];
        for (got, want) in p.embed_tokens.iter().zip(want) {
            assert!((f64::from(*got) - want).abs() < 1e-6, "{got} vs {want}");
        }
        // A parameter with zero gradients only decays.
        assert!(
            (p.norm[0] - 0.5 * 0.95 * 0.95).abs() < 1e-7,
            "{}",
            p.norm[0]
        );
        assert_eq!(opt.step, 2);
    }

    #[test]
    fn clipping_scales_only_a_norm_above_the_limit() {
        let mut g = tensors(array![[3.0, 0.0]], array![4.0]);
        assert_eq!(clip_grad_norm(&mut g, 10.0), 5.0);
        assert_eq!(g.embed_tokens[[0, 0]], 3.0);
        assert_eq!(clip_grad_norm(&mut g, 1.0), 5.0);
        let coef = 1.0 / (5.0 + 1e-6);
        assert!((g.embed_tokens[[0, 0]] - 3.0 * coef).abs() < 1e-7);
        assert!((g.norm[0] - 4.0 * coef).abs() < 1e-7);
    }
}
