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

use crate::attention::{attend, KvCache};
use crate::linear::{on_worker, WeightMatrix};
use crate::model::{add_bias, add_inplace, swiglu_inplace, Model};
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
            caches: (0..batch)
                .map(|_| KvCache::new(c.num_layers, c.num_kv_heads, c.head_dim, capacity))
                .collect(),
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
            scores: vec![0.0; capacity],
        }
    }

    /// Decodes one token for each of several sequences: `tokens[i]` is fed to
    /// sequence `seqs[i]` at the position its cache has reached. Returns the
    /// next-token logits, one row per entry of `tokens`.
    ///
    /// The caller checks the tokens and capacities first ([`Model::check_input`]).
    ///
    /// # Panics
    /// If `tokens` and `seqs` differ in length, hold more rows than the state,
    /// or name a sequence the state does not have.
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
        on_worker(|| self.decode_batch(tokens, seqs, state));
        state.logits.slice(s![..tokens.len(), ..])
    }

    /// The body of [`Model::forward_batch_step`]; leaves the logits in `state.logits`.
    fn decode_batch(&self, tokens: &[u32], seqs: &[usize], st: &mut BatchDecodeState) {
        let n = tokens.len();
        let eps = self.config.rms_norm_eps;
        let heads = self.heads();
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
            for (i, &seq) in seqs.iter().enumerate() {
                let cache = &mut st.caches[seq];
                let pos = cache.len();
                let (q, k) = (row_mut(&mut st.q, i), row_mut(&mut st.k, i));
                self.position_queries_and_keys(attn, q, k, pos);
                cache.store(layer, pos, row(&st.k, i), row(&st.v, i));
                attend(
                    row(&st.q, i),
                    cache.layer_keys(layer),
                    cache.layer_values(layer),
                    pos + 1,
                    heads,
                    &mut st.scores,
                    row_mut(&mut st.attn_out, i),
                );
            }
            product(&attn.o_proj, None, &st.attn_out, &mut st.delta, n);
            add_rows(&mut st.x, &st.delta, n);
            norm_rows(&st.x, &block.post_attention_norm, eps, &mut st.normed, n);
            product(&block.mlp.gate_proj, None, &st.normed, &mut st.gate, n);
            product(&block.mlp.up_proj, None, &st.normed, &mut st.up, n);
            for i in 0..n {
                swiglu_inplace(row_mut(&mut st.gate, i), row(&st.up, i));
            }
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
}

/// `y[..n] = x[..n] Wᵀ (+ b)`.
fn product(w: &WeightMatrix, bias: Option<&[f32]>, x: &Array2<f32>, y: &mut Array2<f32>, n: usize) {
    w.matmul(x.slice(s![..n, ..]), y.slice_mut(s![..n, ..]));
    for i in 0..n {
        add_bias(row_mut(y, i), bias);
    }
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
