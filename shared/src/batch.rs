//! Decoding several sequences in one step (chapter 4's batched sampling): the
//! N samples of one prompt each keep their own KV cache, but every linear
//! layer multiplies all N rows at once (a matrix–matrix product), so each
//! weight is read from memory once per step instead of N times. Decoding is
//! memory-bound, so this is where the speedup comes from.
//!
//! A batched step is the model's one forward pass over rows with one row per
//! sequence. Row `i` of a batched product equals the single-row product exactly
//! for quantized and bf16 weights (see [`crate::linear::WeightMatrix::matmul`]),
//! so a batched sample follows the same path as one decoded alone.

use ndarray::{s, ArrayView2};

use crate::attention::KvCache;
use crate::device::Device;
use crate::io::DType;
use crate::model::{Model, TransformerBlock};
use crate::rows::{RowBuffers, RowOutput};

/// Preallocated buffers for decoding up to `batch` sequences a step: one KV
/// cache per sequence and every intermediate matrix, so a step allocates
/// nothing of the model's size.
#[derive(Debug, Clone)]
pub struct BatchDecodeState {
    /// One KV cache per sequence.
    pub caches: Vec<KvCache>,
    buffers: RowBuffers,
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
        BatchDecodeState {
            caches: (0..batch).map(|_| self.new_cache(capacity)).collect(),
            buffers: self.row_buffers(batch, capacity, RowOutput::Logits),
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
            seqs.windows(2).all(|w| w[0] < w[1]),
            "seqs must be strictly increasing sequence indices of the state"
        );
        let (caches, buffers) = (&mut state.caches, &mut state.buffers);
        self.forward_rows(tokens, seqs, caches, buffers, RowOutput::Logits);
        state.buffers.logits.slice(s![..tokens.len(), ..])
    }
}
