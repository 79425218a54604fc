//! The backward pass, one function per layer type, each mirroring its forward in
//! [`super::forward`] (book ch. 6: the gradients that GRPO's updates follow).
//!
//! Every function takes the gradient of the loss with respect to its layer's
//! output (`d…`) and what the forward saved, returns the gradient with respect
//! to the layer's input, and adds the parameters' gradients into [`Grads`]
//! (adding, not assigning: a tied embedding matrix receives two contributions).

use ndarray::{s, Array1, Array2, ArrayView2, ArrayViewMut2, Axis, Zip};
use rayon::prelude::*;

use crate::tensor::RopeTable;

use super::forward::{LayerTape, NormTape, Tape};
use super::matmul::{matmul, matmul_add};
use super::params::{Grads, LayerTensors, Params};

/// Gradients of every parameter, given the gradient of the loss with respect
/// to the logits the forward pass computed (`tokens × vocab_size`, or the rows of
/// `tape.scope.outputs_from..`; e.g. from [`cross_entropy_backward`]).
pub fn backward(params: &Params, tape: &Tape, dlogits: ArrayView2<f32>) -> Grads {
    let mut grads = Grads::zeros_like(params);
    backward_into(params, tape, dlogits, &mut grads);
    grads
}

/// [`backward`] that adds the gradients into `grads` instead of returning new
/// ones: a loss summed over several sequences (GRPO's group, book ch. 6)
/// accumulates one sequence at a time without a second set of gradients. What the
/// tape's [`super::forward::Scope`] freezes gets no gradient.
pub fn backward_into(params: &Params, tape: &Tape, dlogits: ArrayView2<f32>, grads: &mut Grads) {
    let t = &params.tensors;
    let scope = tape.scope;
    let outputs = tape.hidden.slice(s![scope.outputs_from.., ..]);
    let doutputs = if scope.frozen_embeddings {
        matmul(dlogits, params.output_layer().view())
    } else {
        linear_backward(
            dlogits,
            outputs,
            params.output_layer(),
            grads.output_layer_mut().view_mut(),
            None,
        )
    };
    let mut dhidden = Array2::<f32>::zeros(tape.hidden.raw_dim());
    dhidden
        .slice_mut(s![scope.outputs_from.., ..])
        .assign(&doutputs);
    let mut dx = rms_norm_backward(
        dhidden.view(),
        &tape.final_norm,
        &t.norm,
        &mut grads.tensors.norm,
    );
    let trained = scope.frozen_layers..;
    for ((layer, layer_tape), layer_grads) in t.layers[trained.clone()]
        .iter()
        .zip(&tape.layers)
        .zip(&mut grads.tensors.layers[trained])
        .rev()
    {
        dx = block_backward(params, layer, layer_tape, &tape.rope, dx, layer_grads);
    }
    if scope.frozen_layers == 0 && !scope.frozen_embeddings {
        embedding_backward(&tape.ids, dx.view(), grads.tensors.embed_tokens.view_mut());
    }
}

/// One transformer block, backwards: the MLP half, then the attention half;
/// each residual passes its gradient straight through and adds the branch's.
fn block_backward(
    params: &Params,
    layer: &LayerTensors,
    tape: &LayerTape,
    rope: &RopeTable,
    dout: Array2<f32>,
    grads: &mut LayerTensors,
) -> Array2<f32> {
    let c = &params.config;
    // MLP: out = x_mid + down(silu(gate(h)) · up(h)), h = norm(x_mid).
    let dact = linear_backward(
        dout.view(),
        tape.act.view(),
        &layer.down_proj,
        grads.down_proj.view_mut(),
        None,
    );
    let (dgate, dup) = swiglu_backward(dact.view(), tape.gate.view(), tape.up.view());
    let mut dh = linear_backward(
        dgate.view(),
        tape.mlp_normed.view(),
        &layer.gate_proj,
        grads.gate_proj.view_mut(),
        None,
    );
    dh += &linear_backward(
        dup.view(),
        tape.mlp_normed.view(),
        &layer.up_proj,
        grads.up_proj.view_mut(),
        None,
    );
    let mut dx_mid = dout;
    dx_mid += &rms_norm_backward(
        dh.view(),
        &tape.mlp_norm,
        &layer.post_attention_norm,
        &mut grads.post_attention_norm,
    );
    // Attention: x_mid = x + o(attn(rope(qknorm(q(h))), …)), h = norm(x).
    let dattn = linear_backward(
        dx_mid.view(),
        tape.attn_out.view(),
        &layer.o_proj,
        grads.o_proj.view_mut(),
        None,
    );
    let (dq, dk, dv) = attention_backward(
        dattn.view(),
        tape.q.view(),
        tape.k.view(),
        tape.v.view(),
        &tape.probs,
        c.num_kv_heads,
    );
    let dq = rope_backward(dq, rope, c.head_dim);
    let dk = rope_backward(dk, rope, c.head_dim);
    let dq = qk_norm_backward(
        dq,
        tape.q_norm.as_ref(),
        layer.q_norm.as_ref(),
        grads.q_norm.as_mut(),
    );
    let dk = qk_norm_backward(
        dk,
        tape.k_norm.as_ref(),
        layer.k_norm.as_ref(),
        grads.k_norm.as_mut(),
    );
    let h = tape.attn_normed.view();
    let mut dh = linear_backward(
        dq.view(),
        h,
        &layer.q_proj,
        grads.q_proj.view_mut(),
        grads.q_bias.as_mut(),
    );
    dh += &linear_backward(
        dk.view(),
        h,
        &layer.k_proj,
        grads.k_proj.view_mut(),
        grads.k_bias.as_mut(),
    );
    dh += &linear_backward(
        dv.view(),
        h,
        &layer.v_proj,
        grads.v_proj.view_mut(),
        grads.v_bias.as_mut(),
    );
    dx_mid += &rms_norm_backward(
        dh.view(),
        &tape.attn_norm,
        &layer.input_norm,
        &mut grads.input_norm,
    );
    dx_mid
}

/// `y = x Wᵀ + b` backwards: adds `dyᵀ x` to `dw` and the column sums of `dy`
/// to `db` (when there is a bias), and returns `dx = dy W`.
pub fn linear_backward(
    dy: ArrayView2<f32>,
    x: ArrayView2<f32>,
    w: &Array2<f32>,
    dw: ArrayViewMut2<f32>,
    db: Option<&mut Array1<f32>>,
) -> Array2<f32> {
    matmul_add(dy.t(), x, dw);
    if let Some(db) = db {
        *db += &dy.sum_axis(Axis(0));
    }
    matmul(dy, w.view())
}

/// RMSNorm `y = x · r · w` (`r = 1/sqrt(mean(x²) + ε)`, per row) backwards.
///
/// With `g = dy · w`: `dx = r·g − x · r³ · mean(g · x)`, and `dw += Σ_rows dy · x · r`.
pub fn rms_norm_backward(
    dy: ArrayView2<f32>,
    tape: &NormTape,
    weight: &Array1<f32>,
    dweight: &mut Array1<f32>,
) -> Array2<f32> {
    let d = dy.ncols();
    let w = weight.as_slice().expect("a parameter vector is contiguous");
    let dy = dy.as_standard_layout();
    let dys = dy.as_slice().expect("standard layout");
    let xs = tape
        .input
        .as_slice()
        .expect("the tape's arrays are contiguous");
    let rs = tape.inv_rms.as_slice().expect("contiguous");
    let mut dx = Array2::<f32>::zeros(tape.input.raw_dim());
    dx.as_slice_mut()
        .expect("fresh")
        .par_chunks_mut(d)
        .zip(dys.par_chunks(d).zip(xs.par_chunks(d)).zip(rs.par_iter()))
        .for_each(|(dx, ((dy, x), &r))| {
            let gx: f64 = dy
                .iter()
                .zip(w)
                .zip(x)
                .map(|((&dy, &w), &x)| (dy * w) as f64 * x as f64)
                .sum();
            let c = (gx / d as f64) as f32 * r * r * r;
            for (((dx, &dy), &w), &x) in dx.iter_mut().zip(dy).zip(w).zip(x) {
                *dx = r * dy * w - c * x;
            }
        });
    // dw = Σ_rows dy · (x · r), summed column by column.
    let mut normed = tape.input.clone();
    normed *= &tape.inv_rms.view().insert_axis(Axis(1));
    normed *= &dy;
    *dweight += &normed.sum_axis(Axis(0));
    dx
}

/// Qwen3's QK-norm backwards (per head, see [`rms_norm_backward`]); without
/// QK-norm the gradient passes through unchanged.
pub fn qk_norm_backward(
    dy: Array2<f32>,
    tape: Option<&NormTape>,
    weight: Option<&Array1<f32>>,
    dweight: Option<&mut Array1<f32>>,
) -> Array2<f32> {
    let (Some(tape), Some(w), Some(dw)) = (tape, weight, dweight) else {
        return dy;
    };
    let (n, width) = dy.dim();
    let per_head = dy
        .into_shape_with_order(tape.input.raw_dim())
        .expect("a fresh gradient is contiguous");
    rms_norm_backward(per_head.view(), tape, w, dw)
        .into_shape_with_order((n, width))
        .expect("a fresh array is contiguous")
}

/// RoPE backwards: each head of row `pos` turned back by position `pos`'s
/// angles (a rotation's transpose is its inverse).
pub fn rope_backward(mut dy: Array2<f32>, rope: &RopeTable, head_dim: usize) -> Array2<f32> {
    let width = dy.ncols();
    dy.as_slice_mut()
        .expect("contiguous")
        .par_chunks_mut(width)
        .enumerate()
        .for_each(|(pos, row)| {
            for head in row.chunks_exact_mut(head_dim) {
                rope.apply_inverse(head, pos);
            }
        });
    dy
}

/// Causal grouped-query attention backwards. For each query head `h` (key/value
/// head `g`), with `P` its saved weights and `dO` its output's gradient:
/// `dV_g += Pᵀ dO`, `dP = dO V_gᵀ`, `dS = P ∘ (dP − rowsum(dP ∘ P)) / sqrt(d)`,
/// `dQ_h = dS K_g`, `dK_g += dSᵀ Q_h`. Key/value heads run in parallel.
/// Returns `(dq, dk, dv)` shaped like `q`, `k`, `v`.
pub fn attention_backward(
    dout: ArrayView2<f32>,
    q: ArrayView2<f32>,
    k: ArrayView2<f32>,
    v: ArrayView2<f32>,
    probs: &[Array2<f32>],
    num_kv_heads: usize,
) -> (Array2<f32>, Array2<f32>, Array2<f32>) {
    let num_heads = probs.len();
    let hd = q.ncols() / num_heads;
    let group = num_heads / num_kv_heads;
    let n = q.nrows();
    let scale = 1.0 / (hd as f32).sqrt();
    let per_kv: Vec<KvHeadGrads> = (0..num_kv_heads)
        .into_par_iter()
        .map(|g| {
            let kg = k.slice(s![.., g * hd..(g + 1) * hd]);
            let vg = v.slice(s![.., g * hd..(g + 1) * hd]);
            let mut dk = Array2::<f32>::zeros((n, hd));
            let mut dv = Array2::<f32>::zeros((n, hd));
            let mut dqs = Vec::with_capacity(group);
            for (h, p) in probs.iter().enumerate().skip(g * group).take(group) {
                let doh = dout.slice(s![.., h * hd..(h + 1) * hd]);
                let qh = q.slice(s![.., h * hd..(h + 1) * hd]);
                matmul_add(p.t(), doh, dv.view_mut());
                let mut ds = matmul(doh, vg.t());
                Zip::from(ds.rows_mut())
                    .and(p.rows())
                    .for_each(|mut dp, p| {
                        let dot: f32 = dp.iter().zip(p).map(|(a, b)| a * b).sum();
                        dp.zip_mut_with(&p, |d, &p| *d = p * (*d - dot) * scale);
                    });
                dqs.push(matmul(ds.view(), kg));
                matmul_add(ds.t(), qh, dk.view_mut());
            }
            KvHeadGrads { dqs, dk, dv }
        })
        .collect();
    let mut dq = Array2::<f32>::zeros(q.raw_dim());
    let mut dk = Array2::<f32>::zeros(k.raw_dim());
    let mut dv = Array2::<f32>::zeros(v.raw_dim());
    for (
        g,
        KvHeadGrads {
            dqs,
            dk: dkg,
            dv: dvg,
        },
    ) in per_kv.into_iter().enumerate()
    {
        for (i, dqh) in dqs.into_iter().enumerate() {
            let h = g * group + i;
            dq.slice_mut(s![.., h * hd..(h + 1) * hd]).assign(&dqh);
        }
        dk.slice_mut(s![.., g * hd..(g + 1) * hd]).assign(&dkg);
        dv.slice_mut(s![.., g * hd..(g + 1) * hd]).assign(&dvg);
    }
    (dq, dk, dv)
}

/// The gradients one key/value head's group computes in [`attention_backward`].
struct KvHeadGrads {
    /// `dQ_h` of each query head of the group.
    dqs: Vec<Array2<f32>>,
    /// `dK_g`.
    dk: Array2<f32>,
    /// `dV_g`.
    dv: Array2<f32>,
}

/// SwiGLU's elementwise step `a = silu(g) · u` backwards: returns `(dg, du)`
/// with `du = da · silu(g)` and `dg = da · u · σ(g) · (1 + g · (1 − σ(g)))`.
pub fn swiglu_backward(
    dact: ArrayView2<f32>,
    gate: ArrayView2<f32>,
    up: ArrayView2<f32>,
) -> (Array2<f32>, Array2<f32>) {
    let mut dgate = Array2::<f32>::zeros(gate.raw_dim());
    let mut dup = Array2::<f32>::zeros(up.raw_dim());
    Zip::from(&mut dgate)
        .and(&mut dup)
        .and(dact)
        .and(gate)
        .and(up)
        .par_for_each(|dg, du, &da, &g, &u| {
            let sig = 1.0 / (1.0 + (-g).exp());
            *du = da * g * sig;
            *dg = da * u * sig * (1.0 + g * (1.0 - sig));
        });
    (dgate, dup)
}

/// The embedding lookup backwards: row `t` of `dx` is added to row `ids[t]` of
/// the embedding's gradient (a token seen twice gets both rows).
pub fn embedding_backward(ids: &[u32], dx: ArrayView2<f32>, mut dembed: ArrayViewMut2<f32>) {
    for (&id, row) in ids.iter().zip(dx.rows()) {
        let mut target = dembed.row_mut(id as usize);
        target += &row;
    }
}

/// The gradient of `−Σ_t weight_t · log softmax(logits_t)[target_t]` with
/// respect to the logits: row `t` is `weight_t · (softmax(logits_t) − onehot(target_t))`;
/// rows without a target (`targets` is shorter) are zero.
///
/// Mean next-token cross-entropy over `n` tokens uses `n − 1` targets
/// (`ids[1..]`) of weight `1/(n − 1)`; GRPO (book ch. 7) weighs each
/// completion token by its advantage.
///
/// # Panics
/// If a target is outside the vocabulary, there are more targets than rows, or
/// `weights` and `targets` differ in length.
pub fn cross_entropy_backward(
    logits: ArrayView2<f32>,
    targets: &[u32],
    weights: &[f32],
) -> Array2<f32> {
    assert_eq!(targets.len(), weights.len(), "one weight per target");
    assert!(
        targets.len() <= logits.nrows(),
        "more targets than rows of logits"
    );
    let mut d = Array2::<f32>::zeros(logits.raw_dim());
    d.axis_iter_mut(Axis(0))
        .into_par_iter()
        .zip(logits.axis_iter(Axis(0)))
        .zip(targets.par_iter().zip(weights))
        .for_each(|((mut d, logits), (&target, &weight))| {
            let max = logits.fold(f32::NEG_INFINITY, |m, &v| m.max(v));
            let sum: f64 = logits.iter().map(|&v| ((v - max) as f64).exp()).sum();
            let log_sum = sum.ln();
            Zip::from(&mut d)
                .and(&logits)
                .for_each(|d, &v| *d = weight * ((v - max) as f64 - log_sum).exp() as f32);
            d[target as usize] -= weight;
        });
    d
}

#[cfg(test)]
mod tests {
    //! Each layer's backward against central differences of its forward, on
    //! small arrays: `L = Σ out ∘ R` for a fixed `R`, so `dL/dout = R`.

    use super::*;
    use crate::train::forward::{attention_forward, rms_norm_forward, rope_forward};
    use crate::train::loss::next_token_loss;

    /// Deterministic values in (−1, 1).
    fn values(rows: usize, cols: usize, seed: f32) -> Array2<f32> {
        Array2::from_shape_fn((rows, cols), |(i, j)| {
            let t = (i * cols + j) as f32 + seed;
            ((t * 12.9898).sin() * 43758.547).fract()
        })
    }

    fn weighted_sum(out: &Array2<f32>, r: &Array2<f32>) -> f64 {
        out.iter().zip(r).map(|(&o, &r)| o as f64 * r as f64).sum()
    }

    /// Checks every entry of `grad` against `(f(x + ε) − f(x − ε)) / 2ε`.
    fn check(what: &str, x: &Array2<f32>, grad: &Array2<f32>, f: impl Fn(&Array2<f32>) -> f64) {
        let eps = 1e-3;
        for (idx, &g) in grad.indexed_iter() {
            let mut plus = x.clone();
            plus[idx] += eps;
            let mut minus = x.clone();
            minus[idx] -= eps;
            let numeric = (f(&plus) - f(&minus)) / (2.0 * eps as f64);
            assert!(
                (numeric - g as f64).abs() < 2e-3 + 1e-2 * numeric.abs(),
                "{what} {idx:?}: backward {g}, finite difference {numeric}"
            );
        }
    }

    #[test]
    fn rms_norm_backward_matches_finite_differences() {
        let (x, r) = (values(3, 8, 0.0), values(3, 8, 100.0));
        let w = Array1::from_iter((0..8).map(|i| 0.5 + 0.1 * i as f32));
        let (_, tape) = rms_norm_forward(x.clone(), &w, 1e-6);
        let mut dw = Array1::zeros(8);
        let dx = rms_norm_backward(r.view(), &tape, &w, &mut dw);
        check("dx", &x, &dx, |x| {
            weighted_sum(&rms_norm_forward(x.clone(), &w, 1e-6).0, &r)
        });
        let w2 = w.clone().insert_axis(Axis(0));
        let dw2 = dw.insert_axis(Axis(0));
        check("dw", &w2, &dw2, |w| {
            let w = w.row(0).to_owned();
            weighted_sum(&rms_norm_forward(x.clone(), &w, 1e-6).0, &r)
        });
    }

    #[test]
    fn rope_backward_matches_finite_differences() {
        let (x, r) = (values(5, 8, 1.0), values(5, 8, 200.0));
        let rope = RopeTable::new(4, 10000.0, 5);
        let dx = rope_backward(r.clone(), &rope, 4);
        check("dx", &x, &dx, |x| {
            weighted_sum(&rope_forward(x.clone(), &rope, 4), &r)
        });
    }

    #[test]
    fn attention_backward_matches_finite_differences() {
        // 4 query heads sharing 2 key/value heads of size 4, over 5 positions.
        let (q, k, v) = (values(5, 16, 2.0), values(5, 8, 300.0), values(5, 8, 400.0));
        let r = values(5, 16, 500.0);
        let (_, probs) = attention_forward(&q, &k, &v, 4, 2);
        let (dq, dk, dv) = attention_backward(r.view(), q.view(), k.view(), v.view(), &probs, 2);
        let loss = |q: &Array2<f32>, k: &Array2<f32>, v: &Array2<f32>| {
            weighted_sum(&attention_forward(q, k, v, 4, 2).0, &r)
        };
        check("dq", &q, &dq, |q| loss(q, &k, &v));
        check("dk", &k, &dk, |k| loss(&q, k, &v));
        check("dv", &v, &dv, |v| loss(&q, &k, v));
    }

    #[test]
    fn swiglu_backward_matches_finite_differences() {
        let (g, u, r) = (values(3, 6, 3.0), values(3, 6, 600.0), values(3, 6, 700.0));
        let swiglu = |g: &Array2<f32>, u: &Array2<f32>| {
            Zip::from(g)
                .and(u)
                .map_collect(|&g, &u| crate::tensor::silu(g) * u)
        };
        let (dg, du) = swiglu_backward(r.view(), g.view(), u.view());
        check("dgate", &g, &dg, |g| weighted_sum(&swiglu(g, &u), &r));
        check("dup", &u, &du, |u| weighted_sum(&swiglu(&g, u), &r));
    }

    #[test]
    fn cross_entropy_backward_matches_finite_differences() {
        let logits = values(4, 7, 4.0) * 3.0;
        let ids = [2, 5, 0, 6];
        let weights = [1.0 / 3.0; 3];
        let d = cross_entropy_backward(logits.view(), &ids[1..], &weights);
        assert!(
            d.row(3).iter().all(|&v| v == 0.0),
            "the last row predicts nothing"
        );
        check("dlogits", &logits, &d, |l| {
            next_token_loss(l.view(), &ids).0 as f64
        });
    }

    #[test]
    fn a_wrong_gradient_fails_the_check() {
        let (x, r) = (values(2, 4, 5.0), values(2, 4, 800.0));
        let rope = RopeTable::new(4, 10000.0, 2);
        // The forward rotation instead of the inverse one is wrong at position 1.
        let wrong = rope_forward(r.clone(), &rope, 4);
        let result = std::panic::catch_unwind(|| {
            check("dx", &x, &wrong, |x| {
                weighted_sum(&rope_forward(x.clone(), &rope, 4), &r)
            })
        });
        assert!(result.is_err());
    }
}
