//! The training forward pass: the whole sequence at once on f32 arrays, keeping
//! what the backward pass needs in one [`LayerTape`] per block (book ch. 6).
//!
//! It computes what [`crate::model::Model::forward`] computes (same RMSNorm
//! arithmetic, same RoPE table, same causal grouped-query attention) but on
//! [`Params`] with ndarray's matrix products, and without a KV cache.

use ndarray::{s, Array1, Array2, ArrayView2, Axis};
use rayon::prelude::*;

use crate::tensor::{silu, softmax_inplace, RopeTable};
use crate::{Error, Result};

use super::matmul::{matmul, matmul_add};
use super::params::{LayerTensors, Params};

/// What an RMSNorm over rows saves for its backward: its input and each row's
/// `1 / sqrt(mean(x²) + ε)`.
#[derive(Debug, Clone)]
pub struct NormTape {
    /// The rows that were normalized (for QK-norm: one row per position and head).
    pub input: Array2<f32>,
    /// `1 / sqrt(mean(x²) + ε)` of each row.
    pub inv_rms: Array1<f32>,
}

/// What one transformer block saves for its backward.
#[derive(Debug, Clone)]
pub struct LayerTape {
    /// The RMSNorm before attention (its input is the block's input).
    pub attn_norm: NormTape,
    /// That norm's output, the input of the q/k/v projections.
    pub attn_normed: Array2<f32>,
    /// Qwen3's QK-norm on queries (rows: position × head), before RoPE.
    pub q_norm: Option<NormTape>,
    /// Qwen3's QK-norm on keys.
    pub k_norm: Option<NormTape>,
    /// Queries after QK-norm and RoPE (`tokens × num_heads·head_dim`).
    pub q: Array2<f32>,
    /// Keys after QK-norm and RoPE (`tokens × num_kv_heads·head_dim`).
    pub k: Array2<f32>,
    /// Values (`tokens × num_kv_heads·head_dim`).
    pub v: Array2<f32>,
    /// Attention weights of each query head (`tokens × tokens`, zero above the diagonal).
    pub probs: Vec<Array2<f32>>,
    /// The heads' outputs side by side, the input of `o_proj`.
    pub attn_out: Array2<f32>,
    /// The RMSNorm before the MLP (its input is the residual stream after attention).
    pub mlp_norm: NormTape,
    /// That norm's output, the input of `gate_proj` and `up_proj`.
    pub mlp_normed: Array2<f32>,
    /// `gate_proj` output, before SiLU.
    pub gate: Array2<f32>,
    /// `up_proj` output.
    pub up: Array2<f32>,
    /// `silu(gate) · up`, the input of `down_proj`.
    pub act: Array2<f32>,
}

/// How much of a training step to compute. The default is everything: logits for every
/// position and gradients for every parameter. GRPO scores only the response, and a
/// large model can be trained in its top blocks only (`ch05 train --train-layers`):
/// then the frozen blocks run without a tape and the backward pass stops above them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scope {
    /// Logits are computed for positions `outputs_from..` only (the others' rows of
    /// the loss gradient are zero, so the backward pass starts from these rows).
    pub outputs_from: usize,
    /// Blocks `0..frozen_layers` get no gradient: no tape is kept for them.
    pub frozen_layers: usize,
    /// The embedding and the output layer get no gradient (LoRA trains neither),
    /// which skips the output layer's largest product.
    pub frozen_embeddings: bool,
}

/// Everything the backward pass needs from one forward pass.
#[derive(Debug, Clone)]
pub struct Tape {
    /// The input token ids.
    pub ids: Vec<u32>,
    /// What the forward pass computed.
    pub scope: Scope,
    /// RoPE angles for positions `0..tokens`.
    pub rope: RopeTable,
    /// One tape per trained block (`scope.frozen_layers..`), first block first.
    pub layers: Vec<LayerTape>,
    /// The final RMSNorm.
    pub final_norm: NormTape,
    /// The final-normed hidden states, the input of the output layer.
    pub hidden: Array2<f32>,
}

/// Checks that `ids` can run through the model: not empty, every id in the
/// vocabulary, no longer than the context.
pub fn check_ids(params: &Params, ids: &[u32]) -> Result<()> {
    let c = &params.config;
    if ids.is_empty() {
        return Err(Error::InvalidArgument(
            "empty input: no tokens to run".into(),
        ));
    }
    if let Some(&bad) = ids.iter().find(|&&t| t as usize >= c.vocab_size) {
        return Err(Error::InvalidArgument(format!(
            "token id {bad} is outside the vocabulary (size {})",
            c.vocab_size
        )));
    }
    if ids.len() > c.max_position_embeddings {
        return Err(Error::InvalidArgument(format!(
            "sequence of {} tokens is longer than the context ({} positions)",
            ids.len(),
            c.max_position_embeddings
        )));
    }
    Ok(())
}

/// Runs `ids` through the model and returns the logits (`tokens × vocab_size`)
/// with the tape for [`super::backward::backward`]. Checks the input first.
pub fn forward(params: &Params, ids: &[u32]) -> Result<(Array2<f32>, Tape)> {
    forward_scoped(params, ids, Scope::default())
}

/// [`forward`] computing only what `scope` asks for: the logits of positions
/// `scope.outputs_from..` (`tokens − outputs_from` rows), tapes for the trained blocks.
pub fn forward_scoped(params: &Params, ids: &[u32], scope: Scope) -> Result<(Array2<f32>, Tape)> {
    check_ids(params, ids)?;
    let c = &params.config;
    let t = &params.tensors;
    if scope.outputs_from >= ids.len() || scope.frozen_layers > t.layers.len() {
        return Err(Error::InvalidArgument(format!(
            "training scope: outputs from position {} of {} tokens, {} of {} blocks frozen",
            scope.outputs_from,
            ids.len(),
            scope.frozen_layers,
            t.layers.len()
        )));
    }
    let rope = RopeTable::new(c.head_dim, c.rope_theta, ids.len());
    let mut x = Array2::<f32>::zeros((ids.len(), c.hidden_size));
    for (mut row, &id) in x.rows_mut().into_iter().zip(ids) {
        row.assign(&t.embed_tokens.row(id as usize));
    }
    let mut layers = Vec::with_capacity(t.layers.len() - scope.frozen_layers);
    for (i, layer) in t.layers.iter().enumerate() {
        let (next, tape) = block_forward(params, layer, &rope, x);
        x = next;
        if i >= scope.frozen_layers {
            layers.push(tape);
        }
    }
    let (hidden, final_norm) = rms_norm_forward(x, &t.norm, c.rms_norm_eps);
    let outputs = hidden.slice(s![scope.outputs_from.., ..]);
    let logits = matmul(outputs, params.output_layer().t());
    let tape = Tape {
        ids: ids.to_vec(),
        scope,
        rope,
        layers,
        final_norm,
        hidden,
    };
    Ok((logits, tape))
}

/// One transformer block: `x + attn(norm(x))`, then `+ mlp(norm(·))`.
fn block_forward(
    params: &Params,
    layer: &LayerTensors,
    rope: &RopeTable,
    x: Array2<f32>,
) -> (Array2<f32>, LayerTape) {
    let c = &params.config;
    let eps = c.rms_norm_eps;
    let (attn_normed, attn_norm) = rms_norm_forward(x, &layer.input_norm, eps);
    let q = linear_forward(attn_normed.view(), &layer.q_proj, layer.q_bias.as_ref());
    let k = linear_forward(attn_normed.view(), &layer.k_proj, layer.k_bias.as_ref());
    let v = linear_forward(attn_normed.view(), &layer.v_proj, layer.v_bias.as_ref());
    let (q, q_norm) = qk_norm_forward(q, layer.q_norm.as_ref(), c.head_dim, eps);
    let (k, k_norm) = qk_norm_forward(k, layer.k_norm.as_ref(), c.head_dim, eps);
    let (q, k) = (
        rope_forward(q, rope, c.head_dim),
        rope_forward(k, rope, c.head_dim),
    );
    let (attn_out, probs) = attention_forward(&q, &k, &v, c.num_heads, c.num_kv_heads);
    let mut x = attn_norm.input.clone();
    matmul_add(attn_out.view(), layer.o_proj.t(), x.view_mut());
    let (mlp_normed, mlp_norm) = rms_norm_forward(x, &layer.post_attention_norm, eps);
    let gate = matmul(mlp_normed.view(), layer.gate_proj.t());
    let up = matmul(mlp_normed.view(), layer.up_proj.t());
    let act = ndarray::Zip::from(&gate)
        .and(&up)
        .map_collect(|&g, &u| silu(g) * u);
    let mut out = mlp_norm.input.clone();
    matmul_add(act.view(), layer.down_proj.t(), out.view_mut());
    let tape = LayerTape {
        attn_norm,
        attn_normed,
        q_norm,
        k_norm,
        q,
        k,
        v,
        probs,
        attn_out,
        mlp_norm,
        mlp_normed,
        gate,
        up,
        act,
    };
    (out, tape)
}

/// RMSNorm of every row of `x` (which the tape keeps), with the same arithmetic
/// as [`crate::tensor::rms_norm`]: mean of squares in f64, the rest in f32.
pub fn rms_norm_forward(x: Array2<f32>, weight: &Array1<f32>, eps: f32) -> (Array2<f32>, NormTape) {
    let d = x.ncols();
    let mut out = Array2::<f32>::zeros(x.raw_dim());
    let mut inv_rms = Array1::<f32>::zeros(x.nrows());
    let w = weight.as_slice().expect("a parameter vector is contiguous");
    let xs = x.as_slice().expect("the residual stream is contiguous");
    out.as_slice_mut()
        .expect("fresh")
        .par_chunks_mut(d)
        .zip(inv_rms.as_slice_mut().expect("fresh").par_iter_mut())
        .zip(xs.par_chunks(d))
        .for_each(|((out, r), x)| {
            let mean_sq = x.iter().map(|&v| (v as f64) * (v as f64)).sum::<f64>() / d as f64;
            *r = 1.0 / (mean_sq as f32 + eps).sqrt();
            for ((o, &v), &w) in out.iter_mut().zip(x).zip(w) {
                *o = v * *r * w;
            }
        });
    (out, NormTape { input: x, inv_rms })
}

/// `Y = X Wᵀ (+ b)`.
pub fn linear_forward(
    x: ArrayView2<f32>,
    w: &Array2<f32>,
    bias: Option<&Array1<f32>>,
) -> Array2<f32> {
    let mut y = matmul(x, w.t());
    if let Some(b) = bias {
        y += b;
    }
    y
}

/// Qwen3's QK-norm: RMSNorm over each head (`head_dim` values) of every row,
/// when the model has it; otherwise `x` passes through.
pub fn qk_norm_forward(
    x: Array2<f32>,
    weight: Option<&Array1<f32>>,
    head_dim: usize,
    eps: f32,
) -> (Array2<f32>, Option<NormTape>) {
    let Some(w) = weight else {
        return (x, None);
    };
    let (n, width) = x.dim();
    let per_head = x
        .into_shape_with_order((n * width / head_dim, head_dim))
        .expect("a fresh product is contiguous");
    let (normed, tape) = rms_norm_forward(per_head, w, eps);
    let normed = normed
        .into_shape_with_order((n, width))
        .expect("a fresh array is contiguous");
    (normed, Some(tape))
}

/// RoPE on every head of every row (row `i` is position `i`).
pub fn rope_forward(mut x: Array2<f32>, rope: &RopeTable, head_dim: usize) -> Array2<f32> {
    let width = x.ncols();
    x.as_slice_mut()
        .expect("contiguous")
        .par_chunks_mut(width)
        .enumerate()
        .for_each(|(pos, row)| {
            for head in row.chunks_exact_mut(head_dim) {
                rope.apply(head, pos);
            }
        });
    x
}

/// Causal grouped-query attention over the whole sequence: for each query head
/// `h`, `softmax(Q_h K_gᵀ / sqrt(d), masked) V_g` with `g = h / group`. Returns
/// the heads' outputs side by side and each head's attention weights.
pub fn attention_forward(
    q: &Array2<f32>,
    k: &Array2<f32>,
    v: &Array2<f32>,
    num_heads: usize,
    num_kv_heads: usize,
) -> (Array2<f32>, Vec<Array2<f32>>) {
    let n = q.nrows();
    let hd = q.ncols() / num_heads;
    let group = num_heads / num_kv_heads;
    let scale = 1.0 / (hd as f32).sqrt();
    let per_head: Vec<(Array2<f32>, Array2<f32>)> = (0..num_heads)
        .into_par_iter()
        .map(|h| {
            let g = h / group;
            let qh = q.slice(s![.., h * hd..(h + 1) * hd]);
            let kg = k.slice(s![.., g * hd..(g + 1) * hd]);
            let vg = v.slice(s![.., g * hd..(g + 1) * hd]);
            let mut p = matmul(qh, kg.t());
            for (i, mut row) in p.axis_iter_mut(Axis(0)).enumerate() {
                let row = row.as_slice_mut().expect("a fresh product is contiguous");
                for s in &mut row[..=i] {
                    *s *= scale;
                }
                softmax_inplace(&mut row[..=i]);
                row[i + 1..].fill(0.0);
            }
            let o = matmul(p.view(), vg);
            (p, o)
        })
        .collect();
    let mut out = Array2::<f32>::zeros((n, num_heads * hd));
    let mut probs = Vec::with_capacity(num_heads);
    for (h, (p, o)) in per_head.into_iter().enumerate() {
        out.slice_mut(s![.., h * hd..(h + 1) * hd]).assign(&o);
        probs.push(p);
    }
    (out, probs)
}
