//! The activations of one forward pass over rows ([`crate::model`]), allocated once.
//!
//! A *row* is one token entering one sequence's KV cache at that cache's next position.
//! Decoding one token is one row; a prompt's prefill is many rows of one sequence; a
//! batched step (chapter 4's sampling) is one row per sequence. Every buffer holds up to
//! `rows` rows, so decoding allocates nothing per token, and the row helpers here work on
//! the first `n` rows of a buffer.

use ndarray::{s, Array2};
use rayon::prelude::*;

use crate::attention::KvCache;
use crate::config::ModelConfig;
use crate::device::DeviceScratch;
use crate::linear::{matvec_many, WeightMatrix};
use crate::model::{add_bias, add_inplace, swiglu_inplace};
use crate::tensor::rms_norm;

/// Attention score buffers per rayon thread: rows attend in this many groups, so a
/// prefill, whose later rows see more positions, still spreads evenly.
const LANES_PER_THREAD: usize = 4;

/// What a forward pass over rows leaves behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RowOutput {
    /// Next-token logits of every row, in `logits`.
    Logits,
    /// Only the final-normed hidden states, in `normed` (scoring and training compute
    /// what they need from them).
    Hidden,
}

/// Every intermediate of a forward pass over up to `rows` rows.
#[derive(Debug, Clone)]
pub(crate) struct RowBuffers {
    /// The residual stream, `rows × hidden_size`.
    pub x: Array2<f32>,
    /// RMSNorm's output; after the pass, the final-normed hidden states.
    pub normed: Array2<f32>,
    pub q: Array2<f32>,
    pub k: Array2<f32>,
    pub v: Array2<f32>,
    pub attn_out: Array2<f32>,
    pub gate: Array2<f32>,
    pub up: Array2<f32>,
    /// A sub-block's output before it is added to `x`.
    pub delta: Array2<f32>,
    /// `rows × vocab_size`, or no rows when only hidden states are asked for.
    pub logits: Array2<f32>,
    /// The cache position of each row.
    pub positions: Vec<usize>,
    /// Attention scores, one buffer of cache capacity per group of rows.
    pub lanes: Vec<Vec<f32>>,
    /// The GPU's buffers when the pass runs on one.
    pub device: DeviceScratch,
}

impl RowBuffers {
    /// Buffers for up to `rows` rows over caches of up to `capacity` positions, with
    /// room for the logits when `output` asks for them.
    pub fn new(config: &ModelConfig, rows: usize, capacity: usize, output: RowOutput) -> Self {
        let c = config;
        let q_dim = c.num_heads * c.head_dim;
        let kv_dim = c.num_kv_heads * c.head_dim;
        let m = |cols| Array2::<f32>::zeros((rows, cols));
        let lanes = rows.min(rayon::current_num_threads() * LANES_PER_THREAD);
        RowBuffers {
            x: m(c.hidden_size),
            normed: m(c.hidden_size),
            q: m(q_dim),
            k: m(kv_dim),
            v: m(kv_dim),
            attn_out: m(q_dim),
            gate: m(c.intermediate_size),
            up: m(c.intermediate_size),
            delta: m(c.hidden_size),
            logits: Self::logits_for(c, rows, output),
            positions: vec![0; rows],
            lanes: vec![vec![0.0; capacity]; lanes.max(1)],
            device: DeviceScratch::None,
        }
    }

    /// Host buffers for a pass that runs on a GPU (`device`): only what comes back, the
    /// hidden states or the logits, and the rows' positions.
    #[cfg(feature = "cuda")]
    pub fn for_device(
        config: &ModelConfig,
        rows: usize,
        output: RowOutput,
        device: DeviceScratch,
    ) -> Self {
        let mut buffers = RowBuffers::new(config, 0, 0, output);
        buffers.normed = Array2::zeros((rows, config.hidden_size));
        buffers.logits = Self::logits_for(config, rows, output);
        buffers.positions = vec![0; rows];
        buffers.device = device;
        buffers
    }

    fn logits_for(config: &ModelConfig, rows: usize, output: RowOutput) -> Array2<f32> {
        let rows = if output == RowOutput::Logits { rows } else { 0 };
        Array2::zeros((rows, config.vocab_size))
    }

    /// The most rows one pass can take.
    pub fn rows(&self) -> usize {
        self.positions.len()
    }

    /// Sets each row's position: the next free position of its sequence's cache, and one
    /// further for each earlier row of the same sequence (rows of one sequence come
    /// together, in order).
    ///
    /// # Panics
    /// If there are more rows than buffers, a row names a cache that is not there, or
    /// `seqs` goes down.
    pub fn place_rows(&mut self, seqs: &[usize], caches: &[KvCache]) {
        assert!(
            seqs.len() <= self.rows(),
            "{} rows for buffers of {}",
            seqs.len(),
            self.rows()
        );
        assert!(
            seqs.windows(2).all(|w| w[0] <= w[1]) && seqs.iter().all(|&s| s < caches.len()),
            "rows must name the caches in order, each sequence's rows together"
        );
        for (i, &seq) in seqs.iter().enumerate() {
            self.positions[i] = match i.checked_sub(1) {
                Some(prev) if seqs[prev] == seq => self.positions[prev] + 1,
                _ => caches[seq].len(),
            };
        }
    }
}

/// Marks in each cache the positions its rows filled (after every layer stored them).
pub(crate) fn advance_caches(seqs: &[usize], positions: &[usize], caches: &mut [KvCache]) {
    for (i, &seq) in seqs.iter().enumerate() {
        if seqs.get(i + 1) != Some(&seq) {
            caches[seq].set_len(positions[i] + 1);
        }
    }
}

/// `y[..n] = x[..n] Wᵀ (+ b)`: one row with the matrix–vector kernel, more with the
/// batched product (whose rows equal the single-row kernel's for bf16 and block weights).
pub(crate) fn project(
    w: &WeightMatrix,
    bias: Option<&[f32]>,
    x: &Array2<f32>,
    y: &mut Array2<f32>,
    n: usize,
) {
    if n == 1 {
        w.matvec(row(x, 0), row_mut(y, 0));
    } else {
        w.matmul(x.slice(s![..n, ..]), y.slice_mut(s![..n, ..]));
    }
    for i in 0..n {
        add_bias(row_mut(y, i), bias);
    }
}

/// One projection of [`project_many`]: the matrix, its bias, and where its rows go.
pub(crate) type Projection<'a> = (&'a WeightMatrix, Option<&'a [f32]>, &'a mut Array2<f32>);

/// Several projections of the same input (q, k, v; gate, up). One row runs them in one
/// parallel region ([`matvec_many`]), so the threads meet once instead of once per matrix.
pub(crate) fn project_many<const K: usize>(
    x: &Array2<f32>,
    n: usize,
    products: [Projection<'_>; K],
) {
    if n != 1 {
        for (w, bias, y) in products {
            project(w, bias, x, y, n);
        }
        return;
    }
    let mut outputs = products.map(|(w, bias, y)| (w, bias, row_mut(y, 0)));
    let mut pairs = outputs.each_mut().map(|(w, _, y)| (*w, &mut **y));
    matvec_many(row(x, 0), &mut pairs);
    for (_, bias, y) in outputs {
        add_bias(y, bias);
    }
}

/// RMSNorm of the first `n` rows of `x` into `out`.
pub(crate) fn norm_rows(
    x: &Array2<f32>,
    weight: &[f32],
    eps: f32,
    out: &mut Array2<f32>,
    n: usize,
) {
    for i in 0..n {
        rms_norm(row(x, i), weight, eps, row_mut(out, i));
    }
}

/// `x[..n] += y[..n]`: a residual connection.
pub(crate) fn add_rows(x: &mut Array2<f32>, y: &Array2<f32>, n: usize) {
    for i in 0..n {
        add_inplace(row_mut(x, i), row(y, i));
    }
}

/// SwiGLU of the first `n` rows, `gate[i] = silu(gate[i]) · up[i]`, in parallel over rows.
pub(crate) fn swiglu_rows(gate: &mut Array2<f32>, up: &Array2<f32>, n: usize) {
    let cols = gate.ncols();
    if n == 1 {
        swiglu_inplace(row_mut(gate, 0), row(up, 0));
        return;
    }
    let gate = &mut gate.as_slice_mut().expect("owned arrays are contiguous")[..n * cols];
    let up = &up.as_slice().expect("owned arrays are contiguous")[..n * cols];
    gate.par_chunks_mut(cols)
        .zip(up.par_chunks(cols))
        .for_each(|(g, u)| swiglu_inplace(g, u));
}

/// The first `n` rows of `a`, as one slice.
pub(crate) fn rows_of(a: &Array2<f32>, n: usize) -> &[f32] {
    &a.as_slice().expect("owned arrays are contiguous")[..n * a.ncols()]
}

/// The first `n` rows of `a`, as one mutable slice.
pub(crate) fn rows_of_mut(a: &mut Array2<f32>, n: usize) -> &mut [f32] {
    let cols = a.ncols();
    &mut a.as_slice_mut().expect("owned arrays are contiguous")[..n * cols]
}

/// Row `i` of `a`.
pub(crate) fn row(a: &Array2<f32>, i: usize) -> &[f32] {
    let cols = a.ncols();
    &a.as_slice().expect("owned arrays are contiguous")[i * cols..(i + 1) * cols]
}

/// Row `i` of `a`, mutable.
pub(crate) fn row_mut(a: &mut Array2<f32>, i: usize) -> &mut [f32] {
    let cols = a.ncols();
    &mut a.as_slice_mut().expect("owned arrays are contiguous")[i * cols..(i + 1) * cols]
}
