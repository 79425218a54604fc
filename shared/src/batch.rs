//! Decoding several sequences in one step (chapter 4's batched sampling): the
//! N samples of one prompt each keep their own KV cache, but every linear
//! layer multiplies all N rows at once (a matrix–matrix product), so each
//! weight is read from memory once per step instead of N times. Decoding is
//! memory-bound, so this is where the speedup comes from.
//!
//! Row `i` of a batched product equals the single-row product exactly for
//! quantized and bf16 weights (see [`crate::linear::WeightMatrix::matmul`]), so a
//! batched sample follows the same path as one decoded alone.

use ndarray::{s, Array2, ArrayView2};
use rayon::prelude::*;

use crate::attention::{attend, KvCache};
use crate::device::Device;
use crate::io::DType;
use crate::linear::{on_worker, WeightMatrix};
use crate::model::{add_bias, add_inplace, swiglu_inplace, Model, TransformerBlock};
use crate::tensor::rms_norm;

/// Preallocated buffers for decoding up to `batch` sequences a step: one KV
/// cache per sequence and every intermediate matrix, so a step allocates
/// nothing of the model's size.
#[derive(Debug, Clone)]
pub struct BatchDecodeState {
    /// One KV cache per sequence.
    pub caches: Vec<KvCache>,
    x: Array2<f32>,
    normed: Array2<f32>,
    q: Array2<f32>,
    k: Array2<f32>,
    v: Array2<f32>,
    attn_out: Array2<f32>,
    gate: Array2<f32>,
    up: Array2<f32>,
    delta: Array2<f32>,
    logits: Array2<f32>,
    /// Per-sequence scratch for attention, beside `caches`.
    lanes: Vec<LaneScratch>,
    /// The GPU's buffers, when the model runs on one.
    #[cfg(feature = "cuda")]
    gpu: Option<crate::cuda::GpuScratch>,
}

/// One sequence's attention buffers: its rotated query and key, its attention
/// output and the scores over its positions. Each sequence attends on its own
/// thread, so each has its own.
#[derive(Debug, Clone)]
struct LaneScratch {
    q: Vec<f32>,
    k: Vec<f32>,
    out: Vec<f32>,
    scores: Vec<f32>,
}

impl BatchDecodeState {
    /// How many sequences this state holds.
    pub fn batch(&self) -> usize {
        self.caches.len()
    }
}

impl Model {
    /// Buffers for `batch` sequences with room for `capacity` positions each.
    pub fn new_batch_state(&self, batch: usize, capacity: usize) -> BatchDecodeState {
        let c = &self.config;
        let q_dim = c.num_heads * c.head_dim;
        let kv_dim = c.num_kv_heads * c.head_dim;
        let m = |cols| Array2::<f32>::zeros((batch, cols));
        BatchDecodeState {
            caches: (0..batch).map(|_| self.new_cache(capacity)).collect(),
            #[cfg(feature = "cuda")]
            gpu: self.gpu().map(|gpu| self.gpu_scratch(gpu, batch)),
            x: m(c.hidden_size),
            normed: m(c.hidden_size),
            q: m(q_dim),
            k: m(kv_dim),
            v: m(kv_dim),
            attn_out: m(q_dim),
            gate: m(c.intermediate_size),
            up: m(c.intermediate_size),
            delta: m(c.hidden_size),
            logits: m(c.vocab_size),
            lanes: (0..batch)
                .map(|_| LaneScratch {
                    q: vec![0.0; q_dim],
                    k: vec![0.0; kv_dim],
                    out: vec![0.0; q_dim],
                    scores: vec![0.0; capacity],
                })
                .collect(),
        }
    }

    /// Whether a batched step gives every sequence exactly the logits it gets
    /// decoded alone with [`Model::forward_step`], bit for bit: on the CPU, with
    /// no matrix stored as f32 (bf16 and quantized batched products equal the
    /// single-row kernel row by row; f32 ones use a blocked GEMM that may sum
    /// in another order, so a near-tie in an argmax can go the other way).
    pub fn batched_rows_are_exact(&self) -> bool {
        let f32_matrix = self
            .blocks
            .iter()
            .flat_map(TransformerBlock::projections)
            .chain([self.output_layer()])
            .any(|w| w.dtype() == DType::F32);
        self.device() == Device::Cpu && !f32_matrix
    }

    /// Decodes one token for each of several sequences: `tokens[i]` is fed to
    /// sequence `seqs[i]` at the position its cache has reached. Returns the
    /// next-token logits, one row per entry of `tokens`.
    ///
    /// The caller checks the tokens and capacities first ([`Model::check_input`]).
    ///
    /// # Panics
    /// If `tokens` and `seqs` differ in length, hold more rows than the state,
    /// name a sequence the state does not have, or `seqs` is not strictly
    /// increasing.
    pub fn forward_batch_step<'s>(
        &self,
        tokens: &[u32],
        seqs: &[usize],
        state: &'s mut BatchDecodeState,
    ) -> ArrayView2<'s, f32> {
        assert_eq!(tokens.len(), seqs.len(), "one sequence per token");
        assert!(
            tokens.len() <= state.batch(),
            "more rows than the batch state holds"
        );
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]) && seqs.iter().all(|&s| s < state.batch()),
            "seqs must be strictly increasing sequence indices of the state"
        );
        #[cfg(feature = "cuda")]
        if let (Some(gpu), Some(scratch)) = (self.gpu(), state.gpu.as_mut()) {
            let logits = state
                .logits
                .as_slice_mut()
                .expect("owned arrays are contiguous");
            self.gpu_decode_step(gpu, tokens, seqs, &mut state.caches, scratch, logits);
            return state.logits.slice(s![..tokens.len(), ..]);
        }
        on_worker(|| self.decode_batch(tokens, seqs, state));
        state.logits.slice(s![..tokens.len(), ..])
    }

    /// The body of [`Model::forward_batch_step`]; leaves the logits in `state.logits`.
    fn decode_batch(&self, tokens: &[u32], seqs: &[usize], st: &mut BatchDecodeState) {
        let n = tokens.len();
        let eps = self.config.rms_norm_eps;
        for (i, &t) in tokens.iter().enumerate() {
            self.embed_tokens
                .row_to_f32(t as usize, row_mut(&mut st.x, i));
        }
        for (layer, block) in self.blocks.iter().enumerate() {
            let attn = &block.attention;
            norm_rows(&st.x, &block.input_norm, eps, &mut st.normed, n);
            product(
                &attn.q_proj,
                attn.q_bias.as_deref(),
                &st.normed,
                &mut st.q,
                n,
            );
            product(
                &attn.k_proj,
                attn.k_bias.as_deref(),
                &st.normed,
                &mut st.k,
                n,
            );
            product(
                &attn.v_proj,
                attn.v_bias.as_deref(),
                &st.normed,
                &mut st.v,
                n,
            );
            self.attend_lanes(layer, seqs, st);
            product(&attn.o_proj, None, &st.attn_out, &mut st.delta, n);
            add_rows(&mut st.x, &st.delta, n);
            norm_rows(&st.x, &block.post_attention_norm, eps, &mut st.normed, n);
            product(&block.mlp.gate_proj, None, &st.normed, &mut st.gate, n);
            product(&block.mlp.up_proj, None, &st.normed, &mut st.up, n);
            swiglu_rows(&mut st.gate, &st.up, n);
            product(&block.mlp.down_proj, None, &st.gate, &mut st.delta, n);
            add_rows(&mut st.x, &st.delta, n);
        }
        for &seq in seqs {
            let cache = &mut st.caches[seq];
            cache.set_len(cache.len() + 1);
        }
        norm_rows(&st.x, &self.final_norm, eps, &mut st.normed, n);
        product(self.output_layer(), None, &st.normed, &mut st.logits, n);
    }

    /// One layer's attention for every sequence in `seqs` (row `i` of `st.q`, `st.k`,
    /// `st.v` belongs to sequence `seqs[i]`), in parallel over the sequences: rotate
    /// the query and key at the sequence's position, store the key and value in its
    /// cache, attend over its positions, and leave the result in row `i` of
    /// `st.attn_out`. Each sequence gets exactly the operations it gets decoded alone.
    fn attend_lanes(&self, layer: usize, seqs: &[usize], st: &mut BatchDecodeState) {
        let block = &self.blocks[layer];
        let heads = self.heads();
        let (q, k, v) = (&st.q, &st.k, &st.v);
        st.caches
            .par_iter_mut()
            .zip(st.lanes.par_iter_mut())
            .enumerate()
            .for_each(|(seq, (cache, lane))| {
                let Ok(i) = seqs.binary_search(&seq) else {
                    return;
                };
                let pos = cache.len();
                lane.q.copy_from_slice(row(q, i));
                lane.k.copy_from_slice(row(k, i));
                self.position_queries_and_keys(&block.attention, &mut lane.q, &mut lane.k, pos);
                cache.store(layer, pos, &lane.k, row(v, i));
                attend(
                    &lane.q,
                    cache.layer_keys(layer),
                    cache.layer_values(layer),
                    pos + 1,
                    heads,
                    &mut lane.scores,
                    &mut lane.out,
                );
            });
        for (i, &seq) in seqs.iter().enumerate() {
            row_mut(&mut st.attn_out, i).copy_from_slice(&st.lanes[seq].out);
        }
    }
}

/// `y[..n] = x[..n] Wᵀ (+ b)`.
fn product(w: &WeightMatrix, bias: Option<&[f32]>, x: &Array2<f32>, y: &mut Array2<f32>, n: usize) {
    w.matmul(x.slice(s![..n, ..]), y.slice_mut(s![..n, ..]));
    for i in 0..n {
        add_bias(row_mut(y, i), bias);
    }
}

/// SwiGLU of the first `n` rows, `gate[i] = silu(gate[i]) · up[i]`, in parallel
/// over the rows.
fn swiglu_rows(gate: &mut Array2<f32>, up: &Array2<f32>, n: usize) {
    let cols = gate.ncols();
    let gate = &mut gate.as_slice_mut().expect("owned arrays are contiguous")[..n * cols];
    let up = &up.as_slice().expect("owned arrays are contiguous")[..n * cols];
    gate.par_chunks_mut(cols)
        .zip(up.par_chunks(cols))
        .for_each(|(g, u)| swiglu_inplace(g, u));
}

/// RMSNorm of the first `n` rows of `x` into `out`.
fn norm_rows(x: &Array2<f32>, weight: &[f32], eps: f32, out: &mut Array2<f32>, n: usize) {
    for i in 0..n {
        rms_norm(row(x, i), weight, eps, row_mut(out, i));
    }
}

/// `x[..n] += y[..n]`.
fn add_rows(x: &mut Array2<f32>, y: &Array2<f32>, n: usize) {
    for i in 0..n {
        add_inplace(row_mut(x, i), row(y, i));
    }
}

fn row(a: &Array2<f32>, i: usize) -> &[f32] {
    let cols = a.ncols();
    &a.as_slice().expect("owned arrays are contiguous")[i * cols..(i + 1) * cols]
}

fn row_mut(a: &mut Array2<f32>, i: usize) -> &mut [f32] {
    let cols = a.ncols();
    &mut a.as_slice_mut().expect("owned arrays are contiguous")[i * cols..(i + 1) * cols]
}
