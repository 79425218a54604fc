//! One decoder-only transformer for Qwen3, Qwen2 and Llama/SmolLM2 (book ch. 2,
//! appendix C), chosen by [`ModelConfig`].
//!
//! ```text
//! ids ─ embed ─▶ N × [RMSNorm ─ GQA attention (RoPE, QK-norm?, KV cache) ─ +res
//!                     RMSNorm ─ SwiGLU MLP ─ +res] ─ RMSNorm ─ lm_head ─▶ logits
//! ```
//!
//! Parameters are plain structs; [`Model::forward_step`] decodes one token
//! without allocating, [`Model::forward_sequence`] runs many positions at once
//! (the prefill, and the book's no-cache `generate_text_basic`).

use ndarray::{s, Array2, Axis};

use crate::attention::{attend, HeadLayout, KvCache};
use crate::config::ModelConfig;
use crate::linear::{matvec_many, on_worker, WeightMatrix};
use crate::tensor::{log_softmax, rms_norm, rms_norm_inplace, silu, RopeTable};
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
    /// The uploaded copy when the model was moved to a GPU ([`Model::into_device`]).
    #[cfg(feature = "cuda")]
    pub(crate) gpu: Option<std::sync::Arc<crate::cuda::GpuModel>>,
}

/// Preallocated buffers for decoding one token at a time: the KV cache and
/// every intermediate vector, so the per-token loop does not allocate.
#[derive(Debug, Clone)]
pub struct DecodeState {
    /// Keys and values of every position decoded so far.
    pub cache: KvCache,
    x: Vec<f32>,
    normed: Vec<f32>,
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    attn_out: Vec<f32>,
    scores: Vec<f32>,
    gate: Vec<f32>,
    up: Vec<f32>,
    delta: Vec<f32>,
    logits: Vec<f32>,
    /// The GPU's buffers, when the model runs on one.
    #[cfg(feature = "cuda")]
    gpu: Option<crate::cuda::GpuScratch>,
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
            #[cfg(feature = "cuda")]
            gpu: None,
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

    /// An empty KV cache for `capacity` positions, on the model's device: pass it
    /// to [`Model::forward_sequence`] (a cache made with [`KvCache::new`] always
    /// runs on the CPU).
    pub fn new_cache(&self, capacity: usize) -> KvCache {
        #[cfg(feature = "cuda")]
        if let Some(gpu) = self.gpu() {
            return self.gpu_cache(gpu, capacity);
        }
        let c = &self.config;
        KvCache::new(c.num_layers, c.num_kv_heads, c.head_dim, capacity)
    }

    /// Fresh decoding buffers with a KV cache for `capacity` positions.
    pub fn new_decode_state(&self, capacity: usize) -> DecodeState {
        let c = &self.config;
        let q_dim = c.num_heads * c.head_dim;
        let kv_dim = c.num_kv_heads * c.head_dim;
        DecodeState {
            cache: self.new_cache(capacity),
            #[cfg(feature = "cuda")]
            gpu: self.gpu().map(|gpu| self.gpu_scratch(gpu, 1)),
            x: vec![0.0; c.hidden_size],
            normed: vec![0.0; c.hidden_size],
            q: vec![0.0; q_dim],
            k: vec![0.0; kv_dim],
            v: vec![0.0; kv_dim],
            attn_out: vec![0.0; q_dim],
            scores: vec![0.0; capacity],
            gate: vec![0.0; c.intermediate_size],
            up: vec![0.0; c.intermediate_size],
            delta: vec![0.0; c.hidden_size],
            logits: vec![0.0; c.vocab_size],
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
        #[cfg(feature = "cuda")]
        if let (Some(gpu), Some(scratch)) = (self.gpu(), state.gpu.as_mut()) {
            let caches = std::slice::from_mut(&mut state.cache);
            self.gpu_decode_step(gpu, &[token], &[0], caches, scratch, &mut state.logits);
            return &state.logits;
        }
        // One token is ~200 small products: run them all from inside the thread pool.
        on_worker(|| self.decode_token(token, state))
    }

    /// The body of [`Model::forward_step`].
    fn decode_token<'s>(&self, token: u32, state: &'s mut DecodeState) -> &'s [f32] {
        let pos = state.cache.len();
        let heads = self.heads();
        let eps = self.config.rms_norm_eps;
        self.embed_tokens.row_to_f32(token as usize, &mut state.x);
        for (layer, block) in self.blocks.iter().enumerate() {
            // Attention sub-block.
            rms_norm(&state.x, &block.input_norm, eps, &mut state.normed);
            let attn = &block.attention;
            matvec_many(
                &state.normed,
                &mut [
                    (&attn.q_proj, &mut state.q),
                    (&attn.k_proj, &mut state.k),
                    (&attn.v_proj, &mut state.v),
                ],
            );
            add_bias(&mut state.q, attn.q_bias.as_deref());
            add_bias(&mut state.k, attn.k_bias.as_deref());
            add_bias(&mut state.v, attn.v_bias.as_deref());
            self.position_queries_and_keys(attn, &mut state.q, &mut state.k, pos);
            state.cache.store(layer, pos, &state.k, &state.v);
            attend(
                &state.q,
                state.cache.layer_keys(layer),
                state.cache.layer_values(layer),
                pos + 1,
                heads,
                &mut state.scores,
                &mut state.attn_out,
            );
            attn.o_proj.matvec(&state.attn_out, &mut state.delta);
            add_inplace(&mut state.x, &state.delta);
            // Feed-forward sub-block.
            rms_norm(&state.x, &block.post_attention_norm, eps, &mut state.normed);
            matvec_many(
                &state.normed,
                &mut [
                    (&block.mlp.gate_proj, &mut state.gate),
                    (&block.mlp.up_proj, &mut state.up),
                ],
            );
            swiglu_inplace(&mut state.gate, &state.up);
            block.mlp.down_proj.matvec(&state.gate, &mut state.delta);
            add_inplace(&mut state.x, &state.delta);
        }
        state.cache.set_len(pos + 1);
        rms_norm(&state.x, &self.final_norm, eps, &mut state.normed);
        self.output_layer().matvec(&state.normed, &mut state.logits);
        &state.logits
    }

    /// Runs `tokens` at positions `cache.len()..` in one pass and returns the
    /// final-normed hidden states (`tokens × hidden_size`); their keys and
    /// values are appended to `cache`.
    ///
    /// With a fresh cache this is the whole forward pass of the book's
    /// `generate_text_basic` (recompute everything each step); with a warm
    /// cache it is the prefill of a prompt. Use [`Model::logits`] on the result.
    pub fn forward_sequence(&self, tokens: &[u32], cache: &mut KvCache) -> Array2<f32> {
        #[cfg(feature = "cuda")]
        if cache.is_on_gpu() {
            let gpu = self
                .gpu()
                .expect("a KV cache on a GPU given to a model on the CPU");
            return self.gpu_forward_sequence(gpu, tokens, cache);
        }
        let start = cache.len();
        let n = tokens.len();
        let c = &self.config;
        let heads = self.heads();
        let mut x = Array2::<f32>::zeros((n, c.hidden_size));
        for (row, &t) in x.rows_mut().into_iter().zip(tokens) {
            let row = row.into_slice().expect("fresh rows are contiguous");
            self.embed_tokens.row_to_f32(t as usize, row);
        }
        let mut scores = vec![0.0; start + n];
        for (layer, block) in self.blocks.iter().enumerate() {
            let attn = &block.attention;
            let normed = rms_norm_rows(&x, &block.input_norm, c.rms_norm_eps);
            let mut q = project_rows(&attn.q_proj, attn.q_bias.as_deref(), &normed);
            let mut k = project_rows(&attn.k_proj, attn.k_bias.as_deref(), &normed);
            let v = project_rows(&attn.v_proj, attn.v_bias.as_deref(), &normed);
            let mut attn_out = Array2::<f32>::zeros((n, c.num_heads * c.head_dim));
            for i in 0..n {
                let pos = start + i;
                let q_row = q.row_mut(i).into_slice().expect("contiguous");
                let k_row = k.row_mut(i).into_slice().expect("contiguous");
                self.position_queries_and_keys(attn, q_row, k_row, pos);
                cache.store(layer, pos, k_row, v.row(i).as_slice().expect("contiguous"));
            }
            for i in 0..n {
                attend(
                    q.row(i).as_slice().expect("contiguous"),
                    cache.layer_keys(layer),
                    cache.layer_values(layer),
                    start + i + 1,
                    heads,
                    &mut scores,
                    attn_out.row_mut(i).into_slice().expect("contiguous"),
                );
            }
            x += &matmul(&attn.o_proj, &attn_out);
            let normed = rms_norm_rows(&x, &block.post_attention_norm, c.rms_norm_eps);
            let mut gate = matmul(&block.mlp.gate_proj, &normed);
            let up = matmul(&block.mlp.up_proj, &normed);
            for (g, u) in gate.rows_mut().into_iter().zip(up.rows()) {
                swiglu_inplace(
                    g.into_slice().expect("contiguous"),
                    u.as_slice().expect("contiguous"),
                );
            }
            x += &matmul(&block.mlp.down_proj, &gate);
        }
        cache.set_len(start + n);
        rms_norm_rows(&x, &self.final_norm, c.rms_norm_eps)
    }

    /// Logits (`rows × vocab_size`) of final-normed hidden states.
    pub fn logits(&self, hidden: &Array2<f32>) -> Array2<f32> {
        #[cfg(feature = "cuda")]
        if let Some(gpu) = self.gpu() {
            return self.gpu_logits(gpu, hidden, false);
        }
        matmul(self.output_layer(), hidden)
    }

    /// Next-token log-probabilities (`rows × vocab_size`): the log-softmax of
    /// each row of [`Model::logits`], what scoring an answer (ch04) and GRPO's
    /// policy ratio (ch05) need. On a GPU the log-softmax runs there too.
    pub fn log_probs(&self, hidden: &Array2<f32>) -> Array2<f32> {
        #[cfg(feature = "cuda")]
        if let Some(gpu) = self.gpu() {
            return self.gpu_logits(gpu, hidden, true);
        }
        let mut logits = self.logits(hidden);
        for mut row in logits.rows_mut() {
            let row = row.as_slice_mut().expect("a fresh array is contiguous");
            let log_p = log_softmax(row);
            row.copy_from_slice(&log_p);
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

/// `Y = X Wᵀ (+ b)` for each row of `x`.
fn project_rows(w: &WeightMatrix, bias: Option<&[f32]>, x: &Array2<f32>) -> Array2<f32> {
    let mut y = matmul(w, x);
    if let Some(b) = bias {
        for row in y.rows_mut() {
            add_inplace(row.into_slice().expect("contiguous"), b);
        }
    }
    y
}

/// `Y = X Wᵀ`: every row of `x` through the linear layer `w`.
fn matmul(w: &WeightMatrix, x: &Array2<f32>) -> Array2<f32> {
    let mut y = Array2::<f32>::zeros((x.nrows(), w.rows()));
    w.matmul(x.view(), y.view_mut());
    y
}

/// RMSNorm of every row.
fn rms_norm_rows(x: &Array2<f32>, weight: &[f32], eps: f32) -> Array2<f32> {
    let mut out = Array2::<f32>::zeros(x.raw_dim());
    for (row, out) in x.rows().into_iter().zip(out.rows_mut()) {
        rms_norm(
            row.as_slice().expect("contiguous"),
            weight,
            eps,
            out.into_slice().expect("contiguous"),
        );
    }
    out
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
