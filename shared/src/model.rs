//! One decoder-only transformer for Qwen3, Qwen2 and Llama/SmolLM2 (book ch. 2,
//! appendix C), chosen by [`ModelConfig`].
//!
//! ```text
//! ids ─ embed ─▶ N × [RMSNorm ─ GQA attention (RoPE, QK-norm?, KV cache) ─ +res
//!                     RMSNorm ─ SwiGLU MLP ─ +res] ─ RMSNorm ─ lm_head ─▶ logits
//! ```
//!
//! Parameters are plain structs. One block loop (`Model::forward_rows_cpu`) runs
//! *rows* — a token entering a sequence's KV cache — so the same code decodes one token
//! without allocating ([`Model::forward_step`]), runs many positions at once (the
//! prefill, and the book's no-cache `generate_text_basic`: [`Model::forward_sequence`])
//! and decodes several sequences a step ([`Model::forward_batch_step`]). Which device
//! runs it is decided in one place, [`crate::device`].

use ndarray::{s, Array2, Axis};
use rayon::prelude::*;

use crate::attention::{attend, HeadLayout, KvCache};
use crate::config::ModelConfig;
use crate::device::Backend;
use crate::linear::WeightMatrix;
use crate::rows::{self, RowBuffers, RowOutput};
use crate::tensor::{log_softmax, rms_norm_inplace, silu, RopeTable};
use crate::{Error, Result};

/// The attention half of a transformer block.
#[derive(Debug, Clone)]
pub struct Attention {
    /// Queries: `num_heads·head_dim × hidden_size`.
    pub q_proj: WeightMatrix,
    /// Keys: `num_kv_heads·head_dim × hidden_size`.
    pub k_proj: WeightMatrix,
    /// Values: `num_kv_heads·head_dim × hidden_size`.
    pub v_proj: WeightMatrix,
    /// Output: `hidden_size × num_heads·head_dim`.
    pub o_proj: WeightMatrix,
    /// Qwen2's query bias.
    pub q_bias: Option<Vec<f32>>,
    /// Qwen2's key bias.
    pub k_bias: Option<Vec<f32>>,
    /// Qwen2's value bias.
    pub v_bias: Option<Vec<f32>>,
    /// Qwen3's per-head RMSNorm weight for queries (`head_dim` values).
    pub q_norm: Option<Vec<f32>>,
    /// Qwen3's per-head RMSNorm weight for keys.
    pub k_norm: Option<Vec<f32>>,
}

/// The SwiGLU feed-forward half of a transformer block: `down(silu(gate x) · up x)`.
#[derive(Debug, Clone)]
pub struct FeedForward {
    /// `intermediate_size × hidden_size`, through SiLU.
    pub gate_proj: WeightMatrix,
    /// `intermediate_size × hidden_size`, multiplied by the gate.
    pub up_proj: WeightMatrix,
    /// `hidden_size × intermediate_size`, back to the residual stream.
    pub down_proj: WeightMatrix,
}

/// One transformer block: pre-norm attention and pre-norm MLP, each with a residual.
#[derive(Debug, Clone)]
pub struct TransformerBlock {
    /// RMSNorm weight before attention.
    pub input_norm: Vec<f32>,
    /// The attention sub-block.
    pub attention: Attention,
    /// RMSNorm weight before the MLP.
    pub post_attention_norm: Vec<f32>,
    /// The feed-forward sub-block.
    pub mlp: FeedForward,
}

impl TransformerBlock {
    /// The block's seven weight matrices: q, k, v, o, then gate, up, down.
    pub fn projections(&self) -> [&WeightMatrix; 7] {
        let (a, m) = (&self.attention, &self.mlp);
        [
            &a.q_proj,
            &a.k_proj,
            &a.v_proj,
            &a.o_proj,
            &m.gate_proj,
            &m.up_proj,
            &m.down_proj,
        ]
    }
}

/// A whole decoder: token embedding, blocks, final norm and output layer.
#[derive(Debug, Clone)]
pub struct Model {
    /// Shape and switches.
    pub config: ModelConfig,
    /// `vocab_size × hidden_size`; also the output layer when embeddings are tied.
    pub embed_tokens: WeightMatrix,
    /// The transformer blocks, first to last.
    pub blocks: Vec<TransformerBlock>,
    /// RMSNorm weight after the last block.
    pub final_norm: Vec<f32>,
    /// `None` when the output layer is tied to `embed_tokens`.
    pub lm_head: Option<WeightMatrix>,
    pub(crate) rope: RopeTable,
    /// The file or folder the weights came from, named in errors about them (set by the
    /// loader; `None` for a model built in memory).
    pub source: Option<std::path::PathBuf>,
    /// Where the forward passes run (the CPU, or a GPU after [`Model::into_device`]).
    pub(crate) backend: Backend,
}

/// Preallocated buffers for decoding one token at a time: the KV cache and
/// every intermediate vector, so the per-token loop does not allocate.
#[derive(Debug, Clone)]
pub struct DecodeState {
    /// Keys and values of every position decoded so far.
    pub cache: KvCache,
    buffers: RowBuffers,
}

impl Model {
    /// Assembles a model from its parts (the loader checks every shape first).
    pub fn new(
        config: ModelConfig,
        embed_tokens: WeightMatrix,
        blocks: Vec<TransformerBlock>,
        final_norm: Vec<f32>,
        lm_head: Option<WeightMatrix>,
    ) -> Model {
        let rope = RopeTable::new(
            config.head_dim,
            config.rope_theta,
            config.max_position_embeddings,
        );
        Model {
            config,
            embed_tokens,
            blocks,
            final_norm,
            lm_head,
            rope,
            source: None,
            backend: Backend::Cpu,
        }
    }

    pub(crate) fn heads(&self) -> HeadLayout {
        HeadLayout {
            num_heads: self.config.num_heads,
            num_kv_heads: self.config.num_kv_heads,
            head_dim: self.config.head_dim,
        }
    }

    /// The output layer: `lm_head`, or the embedding matrix when tied.
    pub fn output_layer(&self) -> &WeightMatrix {
        self.lm_head.as_ref().unwrap_or(&self.embed_tokens)
    }

    /// Fresh decoding buffers with a KV cache for `capacity` positions.
    pub fn new_decode_state(&self, capacity: usize) -> DecodeState {
        DecodeState {
            cache: self.new_cache(capacity),
            buffers: self.row_buffers(1, capacity, RowOutput::Logits),
        }
    }

    /// Checks that `tokens` are valid ids and fit after `start` positions in a
    /// cache of `capacity` (and the model's context).
    pub fn check_input(&self, tokens: &[u32], start: usize, capacity: usize) -> Result<()> {
        if let Some(&bad) = tokens
            .iter()
            .find(|&&t| t as usize >= self.config.vocab_size)
        {
            return Err(Error::InvalidArgument(format!(
                "token id {bad} is outside the vocabulary (size {})",
                self.config.vocab_size
            )));
        }
        let end = start + tokens.len();
        let limit = capacity.min(self.config.max_position_embeddings);
        if end > limit {
            return Err(Error::InvalidArgument(format!(
                "sequence of {end} tokens is longer than the context ({limit} positions)"
            )));
        }
        Ok(())
    }

    /// Decodes one token at position `state.cache.len()` and returns the
    /// logits of the next token. Allocation-free: every buffer lives in `state`.
    ///
    /// The caller checks the token and the capacity first ([`Model::check_input`]).
    pub fn forward_step<'s>(&self, token: u32, state: &'s mut DecodeState) -> &'s [f32] {
        let caches = std::slice::from_mut(&mut state.cache);
        self.forward_rows(
            &[token],
            &[0],
            caches,
            &mut state.buffers,
            RowOutput::Logits,
        );
        rows::row(&state.buffers.logits, 0)
    }

    /// Runs `tokens` at positions `cache.len()..` in one pass and returns the
    /// final-normed hidden states (`tokens × hidden_size`); their keys and
    /// values are appended to `cache`.
    ///
    /// With a fresh cache this is the whole forward pass of the book's
    /// `generate_text_basic` (recompute everything each step); with a warm
    /// cache it is the prefill of a prompt. Use [`Model::logits`] on the result.
    pub fn forward_sequence(&self, tokens: &[u32], cache: &mut KvCache) -> Array2<f32> {
        let n = tokens.len();
        let mut buffers = self.row_buffers_for(cache, n, RowOutput::Hidden);
        let seqs = vec![0; n];
        let caches = std::slice::from_mut(cache);
        self.forward_rows(tokens, &seqs, caches, &mut buffers, RowOutput::Hidden);
        buffers.normed
    }

    /// The forward pass over rows on the CPU, the one block loop behind
    /// [`Model::forward_step`], [`Model::forward_sequence`] and
    /// [`Model::forward_batch_step`]: `tokens[i]` enters cache `caches[seqs[i]]` at its
    /// next free position (see [`RowBuffers::place_rows`]). Leaves the final-normed
    /// hidden states in `b.normed` and, when asked, the logits in `b.logits`.
    pub(crate) fn forward_rows_cpu(
        &self,
        tokens: &[u32],
        seqs: &[usize],
        caches: &mut [KvCache],
        b: &mut RowBuffers,
        output: RowOutput,
    ) {
        let n = tokens.len();
        b.place_rows(seqs, caches);
        for (i, &t) in tokens.iter().enumerate() {
            self.embed_tokens
                .row_to_f32(t as usize, rows::row_mut(&mut b.x, i));
        }
        for (layer, block) in self.blocks.iter().enumerate() {
            self.attention_rows(layer, block, seqs, caches, b, n);
            self.feed_forward_rows(block, b, n);
        }
        rows::advance_caches(seqs, &b.positions[..n], caches);
        rows::norm_rows(
            &b.x,
            &self.final_norm,
            self.config.rms_norm_eps,
            &mut b.normed,
            n,
        );
        if output == RowOutput::Logits {
            rows::project(self.output_layer(), None, &b.normed, &mut b.logits, n);
        }
    }

    /// A block's attention half over `n` rows: RMSNorm, the q/k/v projections,
    /// QK-norm and RoPE, every row's key and value into its cache, then each row attends
    /// over its cache (up to its own position) and the output projection joins the
    /// residual stream.
    fn attention_rows(
        &self,
        layer: usize,
        block: &TransformerBlock,
        seqs: &[usize],
        caches: &mut [KvCache],
        b: &mut RowBuffers,
        n: usize,
    ) {
        let attn = &block.attention;
        let eps = self.config.rms_norm_eps;
        rows::norm_rows(&b.x, &block.input_norm, eps, &mut b.normed, n);
        rows::project_many(
            &b.normed,
            n,
            [
                (&attn.q_proj, attn.q_bias.as_deref(), &mut b.q),
                (&attn.k_proj, attn.k_bias.as_deref(), &mut b.k),
                (&attn.v_proj, attn.v_bias.as_deref(), &mut b.v),
            ],
        );
        self.position_rows(attn, b, n);
        for (i, &seq) in seqs.iter().enumerate() {
            let (k, v) = (rows::row(&b.k, i), rows::row(&b.v, i));
            caches[seq].store(layer, b.positions[i], k, v);
        }
        self.attend_rows(layer, seqs, caches, b, n);
        rows::project(&attn.o_proj, None, &b.attn_out, &mut b.delta, n);
        rows::add_rows(&mut b.x, &b.delta, n);
    }

    /// QK-norm and RoPE of every row's query and key at the row's position, in
    /// parallel over the rows.
    fn position_rows(&self, attn: &Attention, b: &mut RowBuffers, n: usize) {
        let (q_dim, kv_dim) = (b.q.ncols(), b.k.ncols());
        if n == 1 {
            let (q, k) = (rows::row_mut(&mut b.q, 0), rows::row_mut(&mut b.k, 0));
            return self.position_queries_and_keys(attn, q, k, b.positions[0]);
        }
        rows::rows_of_mut(&mut b.q, n)
            .par_chunks_mut(q_dim)
            .zip(rows::rows_of_mut(&mut b.k, n).par_chunks_mut(kv_dim))
            .zip(b.positions[..n].par_iter())
            .for_each(|((q, k), &pos)| self.position_queries_and_keys(attn, q, k, pos));
    }

    /// Each row's attention over its cache, positions `0..=pos`, into `b.attn_out`: the
    /// rows in contiguous groups, in parallel, each group with its own score buffer.
    fn attend_rows(
        &self,
        layer: usize,
        seqs: &[usize],
        caches: &[KvCache],
        b: &mut RowBuffers,
        n: usize,
    ) {
        let heads = self.heads();
        let q_dim = b.q.ncols();
        let (q, positions) = (rows::rows_of(&b.q, n), &b.positions);
        // Rows `first..` of a group, their outputs in `out`, with one score buffer.
        let attend_group = |first: usize, out: &mut [f32], scores: &mut Vec<f32>| {
            for (j, out) in out.chunks_exact_mut(q_dim).enumerate() {
                let i = first + j;
                let cache = &caches[seqs[i]];
                attend(
                    &q[i * q_dim..(i + 1) * q_dim],
                    cache.layer_keys(layer),
                    cache.layer_values(layer),
                    positions[i] + 1,
                    heads,
                    scores,
                    out,
                );
            }
        };
        let out = rows::rows_of_mut(&mut b.attn_out, n);
        if n == 1 {
            return attend_group(0, out, &mut b.lanes[0]);
        }
        let per_lane = n.div_ceil(b.lanes.len());
        out.par_chunks_mut(per_lane * q_dim)
            .zip(b.lanes.par_iter_mut())
            .enumerate()
            .for_each(|(lane, (out, scores))| attend_group(lane * per_lane, out, scores));
    }

    /// A block's feed-forward half over `n` rows: RMSNorm, SwiGLU, the down
    /// projection joining the residual stream.
    fn feed_forward_rows(&self, block: &TransformerBlock, b: &mut RowBuffers, n: usize) {
        let mlp = &block.mlp;
        let eps = self.config.rms_norm_eps;
        rows::norm_rows(&b.x, &block.post_attention_norm, eps, &mut b.normed, n);
        rows::project_many(
            &b.normed,
            n,
            [
                (&mlp.gate_proj, None, &mut b.gate),
                (&mlp.up_proj, None, &mut b.up),
            ],
        );
        rows::swiglu_rows(&mut b.gate, &b.up, n);
        rows::project(&mlp.down_proj, None, &b.gate, &mut b.delta, n);
        rows::add_rows(&mut b.x, &b.delta, n);
    }

    /// Logits (`rows × vocab_size`) of final-normed hidden states.
    pub fn logits(&self, hidden: &Array2<f32>) -> Array2<f32> {
        self.output_rows(hidden, false)
    }

    /// Next-token log-probabilities (`rows × vocab_size`): the log-softmax of
    /// each row of [`Model::logits`], what scoring an answer (ch04) and GRPO's
    /// policy ratio (ch05) need. On a GPU the log-softmax runs there too.
    pub fn log_probs(&self, hidden: &Array2<f32>) -> Array2<f32> {
        self.output_rows(hidden, true)
    }

    /// [`Model::logits`] or [`Model::log_probs`] on the CPU.
    pub(crate) fn output_rows_cpu(&self, hidden: &Array2<f32>, log_probs: bool) -> Array2<f32> {
        let mut logits = Array2::<f32>::zeros((hidden.nrows(), self.config.vocab_size));
        self.output_layer().matmul(hidden.view(), logits.view_mut());
        if log_probs {
            for mut row in logits.rows_mut() {
                let row = row.as_slice_mut().expect("a fresh array is contiguous");
                let log_p = log_softmax(row);
                row.copy_from_slice(&log_p);
            }
        }
        logits
    }

    /// Logits of the last row of `hidden` only (what generation needs).
    pub fn last_logits(&self, hidden: &Array2<f32>) -> Vec<f32> {
        let last = hidden.slice(s![hidden.nrows() - 1.., ..]).to_owned();
        self.logits(&last).index_axis(Axis(0), 0).to_vec()
    }

    /// Logits for every position of `tokens`, computed from scratch (no cache
    /// kept): `tokens × vocab_size`. Checks the input first.
    pub fn forward(&self, tokens: &[u32]) -> Result<Array2<f32>> {
        if tokens.is_empty() {
            return Err(Error::InvalidArgument(
                "empty input: no tokens to run".into(),
            ));
        }
        self.check_input(tokens, 0, tokens.len())?;
        let mut cache = self.new_cache(tokens.len());
        let hidden = self.forward_sequence(tokens, &mut cache);
        Ok(self.logits(&hidden))
    }

    /// Qwen3's QK-norm (when present), then RoPE, on every head of one query
    /// row and one key row at position `pos`.
    pub(crate) fn position_queries_and_keys(
        &self,
        attn: &Attention,
        q: &mut [f32],
        k: &mut [f32],
        pos: usize,
    ) {
        let hd = self.config.head_dim;
        let eps = self.config.rms_norm_eps;
        for head in q.chunks_exact_mut(hd) {
            if let Some(w) = &attn.q_norm {
                rms_norm_inplace(head, w, eps);
            }
            self.rope.apply(head, pos);
        }
        for head in k.chunks_exact_mut(hd) {
            if let Some(w) = &attn.k_norm {
                rms_norm_inplace(head, w, eps);
            }
            self.rope.apply(head, pos);
        }
    }
}

/// `y += b` when there is a bias.
pub(crate) fn add_bias(y: &mut [f32], bias: Option<&[f32]>) {
    if let Some(b) = bias {
        add_inplace(y, b);
    }
}

/// SwiGLU's elementwise step: `gate ← silu(gate) · up`.
pub(crate) fn swiglu_inplace(gate: &mut [f32], up: &[f32]) {
    for (g, &u) in gate.iter_mut().zip(up) {
        *g = silu(*g) * u;
    }
}

/// `x += y`, elementwise.
pub(crate) fn add_inplace(x: &mut [f32], y: &[f32]) {
    for (a, &b) in x.iter_mut().zip(y) {
        *a += b;
    }
}
