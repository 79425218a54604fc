//! The forward pass on the GPU, the same steps as [`crate::model::Model`]'s:
//! a batch of rows (prefill positions of one sequence, or one new token of
//! each of several sequences) goes through every block with our kernels, and
//! only the logits (or final hidden states) come back to the host.

use std::sync::Arc;

use cudarc::driver::{CudaSlice, DevicePtr, LaunchArgs, LaunchConfig, PushKernelArg};

use super::context::{driver_error, Gpu};
use super::weights::{GpuMatrix, GpuModel, GpuWeights};
use crate::config::ModelConfig;
use crate::Result;

/// Rows up to which a product runs as one warp per output feature
/// (`matmul_few_rows`, decoding); above it, the tiled kernel (prefill).
const FEW_ROWS: usize = 8;

/// Threads per block of the element-wise and row-wise kernels.
const THREADS: u32 = 256;

/// One sequence's keys and values on the GPU: `[layer][keys | values][capacity][kv_dim]`.
pub struct DeviceKv {
    buf: CudaSlice<f32>,
    gpu: Arc<Gpu>,
    layers: usize,
    kv_dim: usize,
    capacity: usize,
}

impl DeviceKv {
    /// A zeroed cache for `layers` layers of `kv_dim` values per position.
    pub(crate) fn new(
        gpu: &Arc<Gpu>,
        layers: usize,
        kv_dim: usize,
        capacity: usize,
    ) -> Result<Self> {
        let buf = gpu
            .stream
            .alloc_zeros::<f32>(layers * 2 * capacity * kv_dim)
            .map_err(|e| driver_error("allocating a KV cache", e))?;
        Ok(DeviceKv {
            buf,
            gpu: gpu.clone(),
            layers,
            kv_dim,
            capacity,
        })
    }

    /// The cache's device address (what the row table holds).
    fn address(&self) -> u64 {
        let (ptr, _sync) = self.buf.device_ptr(&self.gpu.stream);
        ptr
    }

    /// Copies positions `0..len` of every layer from `other` (same shape, any capacity).
    pub(crate) fn copy_prefix_from(&mut self, other: &DeviceKv, len: usize) -> Result<()> {
        assert!(
            self.layers == other.layers && self.kv_dim == other.kv_dim,
            "KV caches of different shapes"
        );
        let filled = len * self.kv_dim;
        for layer in 0..self.layers {
            for half in 0..2 {
                let src = (layer * 2 + half) * other.capacity * other.kv_dim;
                let dst = (layer * 2 + half) * self.capacity * self.kv_dim;
                let from = other.buf.slice(src..src + filled);
                let mut to = self.buf.slice_mut(dst..dst + filled);
                self.gpu
                    .stream
                    .memcpy_dtod(&from, &mut to)
                    .map_err(|e| driver_error("copying a KV cache", e))?;
            }
        }
        Ok(())
    }
}

impl Clone for DeviceKv {
    fn clone(&self) -> Self {
        DeviceKv {
            buf: self
                .buf
                .try_clone()
                .unwrap_or_else(|e| panic!("CUDA error while copying a KV cache: {e}")),
            gpu: self.gpu.clone(),
            layers: self.layers,
            kv_dim: self.kv_dim,
            capacity: self.capacity,
        }
    }
}

impl std::fmt::Debug for DeviceKv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "DeviceKv(cuda:{}, {} layers × {} positions × {})",
            self.gpu.ordinal(),
            self.layers,
            self.capacity,
            self.kv_dim
        )
    }
}

/// Every intermediate of a forward pass over up to `rows` rows, allocated once
/// (so decoding allocates nothing per token), and the row table.
pub struct GpuScratch {
    rows: usize,
    x: CudaSlice<f32>,
    normed: CudaSlice<f32>,
    q: CudaSlice<f32>,
    k: CudaSlice<f32>,
    v: CudaSlice<f32>,
    attn: CudaSlice<f32>,
    gate: CudaSlice<f32>,
    up: CudaSlice<f32>,
    delta: CudaSlice<f32>,
    /// `rows × vocab_size`, or empty when this scratch only returns hidden states.
    logits: CudaSlice<f32>,
    table: CudaSlice<u64>,
    host_table: Vec<u64>,
    config: ModelConfig,
    gpu: Arc<Gpu>,
}

impl GpuScratch {
    /// Buffers for `rows` rows of `config`, with room for their logits when `with_logits`.
    pub(crate) fn new(
        gpu: &Arc<Gpu>,
        config: &ModelConfig,
        rows: usize,
        with_logits: bool,
    ) -> Result<Self> {
        let c = config;
        let alloc = |n: usize| {
            gpu.stream
                .alloc_zeros::<f32>(rows * n)
                .map_err(|e| driver_error("allocating activations", e))
        };
        let q_dim = c.num_heads * c.head_dim;
        let kv_dim = c.num_kv_heads * c.head_dim;
        Ok(GpuScratch {
            rows,
            x: alloc(c.hidden_size)?,
            normed: alloc(c.hidden_size)?,
            q: alloc(q_dim)?,
            k: alloc(kv_dim)?,
            v: alloc(kv_dim)?,
            attn: alloc(q_dim)?,
            gate: alloc(c.intermediate_size)?,
            up: alloc(c.intermediate_size)?,
            delta: alloc(c.hidden_size)?,
            logits: alloc(if with_logits { c.vocab_size } else { 0 })?,
            table: gpu
                .stream
                .alloc_zeros::<u64>(3 * rows)
                .map_err(|e| driver_error("allocating the row table", e))?,
            host_table: Vec::with_capacity(3 * rows),
            config: config.clone(),
            gpu: gpu.clone(),
        })
    }
}

impl Clone for GpuScratch {
    fn clone(&self) -> Self {
        GpuScratch::new(&self.gpu, &self.config, self.rows, !self.logits.is_empty())
            .unwrap_or_else(|e| panic!("{e}"))
    }
}

impl std::fmt::Debug for GpuScratch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "GpuScratch(cuda:{}, {} rows)",
            self.gpu.ordinal(),
            self.rows
        )
    }
}

/// What one row of a forward pass feeds: a token, at a position, into a cache.
pub(crate) struct RowInput<'a> {
    pub token: u32,
    pub pos: usize,
    pub cache: &'a DeviceKv,
}

impl GpuModel {
    /// Runs `rows` through every block and the final norm, leaving the
    /// final-normed hidden states in `s.normed` (row `i` = `rows[i]`); each row's
    /// key and value are stored in its cache at its position. Every cache must
    /// have the same capacity (one launch serves them all).
    pub(crate) fn run_rows(
        &self,
        config: &ModelConfig,
        rows: &[RowInput],
        s: &mut GpuScratch,
    ) -> Result<()> {
        let n = rows.len();
        assert!(n > 0 && n <= s.rows, "{n} rows for a scratch of {}", s.rows);
        let capacity = rows[0].cache.capacity;
        assert!(
            rows.iter()
                .all(|r| r.cache.capacity == capacity && r.pos < capacity),
            "rows of one step share the cache capacity and fit in it"
        );
        s.host_table.clear();
        s.host_table.extend(rows.iter().map(|r| r.cache.address()));
        s.host_table.extend(rows.iter().map(|r| r.pos as u64));
        s.host_table.extend(rows.iter().map(|r| u64::from(r.token)));
        let stream = &self.gpu.stream;
        stream
            .memcpy_htod(&s.host_table, &mut s.table)
            .map_err(|e| driver_error("uploading the row table", e))?;
        let c = config;
        let k = Launcher { model: self, n };
        k.embed(&s.table, &mut s.x, c.hidden_size)?;
        for (layer, block) in self.blocks.iter().enumerate() {
            k.rms_norm(&s.x, &block.input_norm, &mut s.normed, c)?;
            k.matmul(&s.normed, &block.q_proj, &mut s.q)?;
            k.matmul(&s.normed, &block.k_proj, &mut s.k)?;
            k.matmul(&s.normed, &block.v_proj, &mut s.v)?;
            for (bias, y) in [
                (&block.q_bias, &mut s.q),
                (&block.k_bias, &mut s.k),
                (&block.v_bias, &mut s.v),
            ] {
                if let Some(b) = bias {
                    k.add_bias(y, b)?;
                }
            }
            k.qk_norm_rope_store(s, block, layer, capacity, c)?;
            k.attention(s, layer, capacity, c)?;
            k.matmul(&s.attn, &block.o_proj, &mut s.delta)?;
            k.add(&mut s.x, &s.delta, c.hidden_size)?;
            k.rms_norm(&s.x, &block.post_attention_norm, &mut s.normed, c)?;
            k.matmul(&s.normed, &block.gate_proj, &mut s.gate)?;
            k.matmul(&s.normed, &block.up_proj, &mut s.up)?;
            k.swiglu(&mut s.gate, &s.up, c.intermediate_size)?;
            k.matmul(&s.gate, &block.down_proj, &mut s.delta)?;
            k.add(&mut s.x, &s.delta, c.hidden_size)?;
        }
        k.rms_norm(&s.x, &self.final_norm, &mut s.normed, c)
    }

    /// The logits of the first `n` rows of `s.normed` into `out` (`n × vocab`, host).
    pub(crate) fn logits_into(&self, s: &mut GpuScratch, n: usize, out: &mut [f32]) -> Result<()> {
        let vocab = self.output_layer().rows;
        Launcher { model: self, n }.matmul(&s.normed, self.output_layer(), &mut s.logits)?;
        self.gpu
            .stream
            .memcpy_dtoh(&s.logits.slice(..n * vocab), &mut out[..n * vocab])
            .map_err(|e| driver_error("copying logits back", e))
    }

    /// The first `n` rows of `s.normed` (final hidden states) into `out` (host).
    pub(crate) fn hidden_into(&self, s: &GpuScratch, n: usize, out: &mut [f32]) -> Result<()> {
        let hidden = s.config.hidden_size;
        self.gpu
            .stream
            .memcpy_dtoh(&s.normed.slice(..n * hidden), &mut out[..n * hidden])
            .map_err(|e| driver_error("copying hidden states back", e))
    }

    /// Logits of host hidden states `hidden` (`n × hidden_size`) into `out` (`n × vocab`),
    /// as log-probabilities (log-softmax of each row) when `log_probs`.
    pub(crate) fn logits_of_hidden(
        &self,
        hidden: &[f32],
        n: usize,
        log_probs: bool,
        out: &mut [f32],
    ) -> Result<()> {
        let stream = &self.gpu.stream;
        let layer = self.output_layer();
        let x = stream
            .clone_htod(hidden)
            .map_err(|e| driver_error("uploading hidden states", e))?;
        let mut y = stream
            .alloc_zeros::<f32>(n * layer.rows)
            .map_err(|e| driver_error("allocating logits", e))?;
        let k = Launcher { model: self, n };
        k.matmul(&x, layer, &mut y)?;
        if log_probs {
            k.log_softmax(&mut y, layer.rows)?;
        }
        stream
            .memcpy_dtoh(&y, out)
            .map_err(|e| driver_error("copying logits back", e))
    }
}

/// Launches the kernels of one forward pass over `n` rows.
struct Launcher<'a> {
    model: &'a GpuModel,
    n: usize,
}

impl Launcher<'_> {
    fn gpu(&self) -> &Gpu {
        &self.model.gpu
    }

    fn run(&self, mut args: LaunchArgs, grid: (u32, u32), block: u32, what: &str) -> Result<()> {
        let cfg = LaunchConfig {
            grid_dim: (grid.0, grid.1, 1),
            block_dim: (block, 1, 1),
            shared_mem_bytes: 0,
        };
        // SAFETY: each caller passes the buffers and sizes its kernel's
        // signature in kernels.cu expects; every buffer holds `n` rows.
        unsafe { args.launch(cfg) }
            .map(|_| ())
            .map_err(|e| driver_error(&format!("running {what}"), e))
    }

    /// `x[r] = embed_tokens[token of row r]`.
    fn embed(&self, table: &CudaSlice<u64>, x: &mut CudaSlice<f32>, hidden: usize) -> Result<()> {
        let m = &self.model.embed_tokens;
        let kernels = self.gpu().kernels.for_weights(m.dtype());
        let mut b = self.gpu().stream.launch_builder(&kernels.embed_rows);
        push_weights(&mut b, &m.weights);
        let (n, hidden) = (self.n as i32, hidden as i32);
        b.arg(table).arg(&n).arg(x).arg(&hidden);
        self.run(b, (self.n as u32, 1), THREADS, "embed_rows")
    }

    /// `y = x Wᵀ` for the first `n` rows.
    fn matmul(&self, x: &CudaSlice<f32>, w: &GpuMatrix, y: &mut CudaSlice<f32>) -> Result<()> {
        let kernels = self.gpu().kernels.for_weights(w.dtype());
        let few = self.n <= FEW_ROWS;
        let kernel = if few {
            &kernels.matmul_few_rows
        } else {
            &kernels.matmul_tiled
        };
        let mut b = self.gpu().stream.launch_builder(kernel);
        let (n, cols, rows) = (self.n as i32, w.cols as i32, w.rows as i32);
        b.arg(x);
        push_weights(&mut b, &w.weights);
        b.arg(y).arg(&n).arg(&cols).arg(&rows);
        if few {
            self.run(b, (w.rows.div_ceil(8) as u32, 1), 256, "matmul_few_rows")
        } else {
            let grid = (w.rows.div_ceil(64) as u32, self.n.div_ceil(64) as u32);
            self.run(b, grid, 256, "matmul_tiled")
        }
    }

    fn rms_norm(
        &self,
        x: &CudaSlice<f32>,
        w: &CudaSlice<f32>,
        out: &mut CudaSlice<f32>,
        c: &ModelConfig,
    ) -> Result<()> {
        let mut b = self
            .gpu()
            .stream
            .launch_builder(&self.gpu().kernels.rms_norm_rows);
        let (cols, eps) = (c.hidden_size as i32, c.rms_norm_eps);
        b.arg(x).arg(w).arg(out).arg(&cols).arg(&eps);
        self.run(b, (self.n as u32, 1), THREADS, "rms_norm_rows")
    }

    fn add_bias(&self, y: &mut CudaSlice<f32>, bias: &CudaSlice<f32>) -> Result<()> {
        let cols = bias.len();
        let total = (self.n * cols) as i64;
        let cols = cols as i32;
        let mut b = self
            .gpu()
            .stream
            .launch_builder(&self.gpu().kernels.add_bias_rows);
        b.arg(y).arg(bias).arg(&cols).arg(&total);
        self.run(
            b,
            (blocks_for(self.n * bias.len()), 1),
            THREADS,
            "add_bias_rows",
        )
    }

    /// Each of the `n` rows of `x` (`cols` wide) replaced by its log-softmax.
    fn log_softmax(&self, x: &mut CudaSlice<f32>, cols: usize) -> Result<()> {
        let cols = cols as i32;
        let mut b = self
            .gpu()
            .stream
            .launch_builder(&self.gpu().kernels.log_softmax_rows);
        b.arg(x).arg(&cols);
        self.run(b, (self.n as u32, 1), THREADS, "log_softmax_rows")
    }

    fn add(&self, x: &mut CudaSlice<f32>, d: &CudaSlice<f32>, cols: usize) -> Result<()> {
        let total = (self.n * cols) as i64;
        let mut b = self
            .gpu()
            .stream
            .launch_builder(&self.gpu().kernels.add_inplace);
        b.arg(x).arg(d).arg(&total);
        self.run(b, (blocks_for(self.n * cols), 1), THREADS, "add_inplace")
    }

    fn swiglu(&self, gate: &mut CudaSlice<f32>, up: &CudaSlice<f32>, cols: usize) -> Result<()> {
        let total = (self.n * cols) as i64;
        let mut b = self
            .gpu()
            .stream
            .launch_builder(&self.gpu().kernels.swiglu_inplace);
        b.arg(gate).arg(up).arg(&total);
        self.run(b, (blocks_for(self.n * cols), 1), THREADS, "swiglu_inplace")
    }

    fn qk_norm_rope_store(
        &self,
        s: &mut GpuScratch,
        block: &super::weights::GpuBlock,
        layer: usize,
        capacity: usize,
        c: &ModelConfig,
    ) -> Result<()> {
        let gpu = self.gpu();
        let mut b = gpu.stream.launch_builder(&gpu.kernels.qk_norm_rope_store);
        let null = 0u64;
        b.arg(&mut s.q).arg(&s.k).arg(&s.v);
        let has_norm = match &block.qk_norm {
            Some((qn, kn)) => {
                b.arg(qn).arg(kn);
                1i32
            }
            None => {
                b.arg(&null).arg(&null);
                0i32
            }
        };
        let ints = [
            self.n as i32,
            c.num_heads as i32,
            c.num_kv_heads as i32,
            c.head_dim as i32,
            layer as i32,
            capacity as i32,
        ];
        b.arg(&has_norm)
            .arg(&self.model.rope_cos)
            .arg(&self.model.rope_sin)
            .arg(&s.table);
        for v in &ints {
            b.arg(v);
        }
        b.arg(&c.rms_norm_eps);
        let heads = (c.num_heads + c.num_kv_heads) as u32;
        self.run(b, (self.n as u32, heads), 64, "qk_norm_rope_store")
    }

    fn attention(
        &self,
        s: &mut GpuScratch,
        layer: usize,
        capacity: usize,
        c: &ModelConfig,
    ) -> Result<()> {
        let gpu = self.gpu();
        let mut b = gpu.stream.launch_builder(&gpu.kernels.attention_rows);
        let ints = [
            self.n as i32,
            c.num_heads as i32,
            c.num_kv_heads as i32,
            c.head_dim as i32,
            layer as i32,
            capacity as i32,
        ];
        b.arg(&s.q).arg(&mut s.attn).arg(&s.table);
        for v in &ints {
            b.arg(v);
        }
        self.run(b, (self.n as u32, c.num_heads as u32), 32, "attention_rows")
    }
}

/// Pushes a weight buffer as the kernel's `const W*` argument.
fn push_weights<'a>(b: &mut LaunchArgs<'a>, w: &'a GpuWeights) {
    match w {
        GpuWeights::F32(w) => b.arg(w),
        GpuWeights::BF16(w) | GpuWeights::F16(w) => b.arg(w),
    };
}

/// Blocks of [`THREADS`] covering `n` elements.
fn blocks_for(n: usize) -> u32 {
    n.div_ceil(THREADS as usize) as u32
}
