//! Linear layers: the one place that decides how a weight matrix multiplies a vector.
//!
//! A [`WeightMatrix`] keeps its weights as f32, as bf16 (the Hub's usual safetensors type)
//! or as GGML blocks (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, the K-quants, IQ4_NL, IQ4_XS) and
//! multiplies directly from them: decoding one
//! token reads every weight once, so keeping them 2–6× smaller than f32 is what makes
//! generation fast and loading light.
//!
//! Quantized products multiply the f32 input by each block's weights expanded on the fly
//! (see [`crate::kernels`]): the result is dequantize(W)·x up to float rounding, with no
//! rounding of the input. [`WeightMatrix::matmul`] runs the same kernel per input row, so
//! a batched product equals the per-token products exactly.

use ndarray::{Array2, ArrayView2, ArrayViewMut2, Axis};
use rayon::prelude::*;

use crate::io::DType;
use crate::kernels::{self, QFormat};
use crate::{Error, Result};

/// Below this many multiply–adds a product runs on the calling thread: splitting it
/// would cost more in rayon overhead than it saves.
const PARALLEL_MIN_MACS: usize = 1 << 16;

/// Row chunks per rayon thread, so that an uneven split still balances.
const CHUNKS_PER_THREAD: usize = 4;

/// Rows per task in [`WeightMatrix::matmul`]: small enough that a tile of weights stays
/// in cache while it meets every input row.
const MATMUL_TILE_ROWS: usize = 16;

/// Inputs per kernel call in [`WeightMatrix::matmul`]: the tile's weights are expanded
/// once per few inputs, and this many inputs' activations stay in cache beside them.
const MATMUL_TILE_INPUTS: usize = 16;

/// How the weights are held.
#[derive(Clone)]
enum Storage {
    F32(Vec<f32>),
    /// Raw bf16 bits, row-major.
    BF16(Vec<u16>),
    Blocks(QFormat, Vec<u8>),
}

/// A weight matrix's stored values, borrowed as they are (for uploading to a GPU).
#[cfg(feature = "cuda")]
pub(crate) enum RawWeights<'a> {
    F32(&'a [f32]),
    BF16(&'a [u16]),
    Blocks(QFormat, &'a [u8]),
}

/// A weight matrix of `rows` outputs × `cols` inputs (row-major, as PyTorch's
/// `nn.Linear.weight`), stored as f32, bf16 or GGML blocks.
#[derive(Clone)]
pub struct WeightMatrix {
    rows: usize,
    cols: usize,
    storage: Storage,
}

/// Shape and type only: the weights themselves would be megabytes of output.
impl std::fmt::Debug for WeightMatrix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WeightMatrix")
            .field("rows", &self.rows)
            .field("cols", &self.cols)
            .field("dtype", &self.dtype())
            .finish()
    }
}

impl WeightMatrix {
    /// A matrix holding `data` (`rows · cols` values, row-major) as f32.
    pub fn from_f32(rows: usize, cols: usize, data: Vec<f32>) -> Result<Self> {
        if rows.checked_mul(cols) != Some(data.len()) {
            return Err(Error::InvalidArgument(format!(
                "weight matrix {rows}×{cols} needs {} values, got {}",
                rows.saturating_mul(cols),
                data.len()
            )));
        }
        Ok(WeightMatrix {
            rows,
            cols,
            storage: Storage::F32(data),
        })
    }

    /// A matrix holding `data` (`rows · cols` raw bf16 bit patterns, row-major) as bf16:
    /// half the memory of f32, widened exactly to f32 as the kernels read it.
    pub fn from_bf16(rows: usize, cols: usize, data: Vec<u16>) -> Result<Self> {
        if rows.checked_mul(cols) != Some(data.len()) {
            return Err(Error::InvalidArgument(format!(
                "bf16 weight matrix {rows}×{cols} needs {} values, got {}",
                rows.saturating_mul(cols),
                data.len()
            )));
        }
        Ok(WeightMatrix {
            rows,
            cols,
            storage: Storage::BF16(data),
        })
    }

    /// A matrix kept as GGML blocks of `dtype` (`bytes`: `rows` rows of
    /// `cols / block_len` blocks).
    ///
    /// The formats of [`QFormat`] are multiplied from their blocks; other types are
    /// [`Error::Unsupported`] here (dequantize them and use [`WeightMatrix::from_f32`]).
    /// `cols` must be a multiple of the block length and `bytes` exactly the size of
    /// the blocks.
    pub fn from_blocks(dtype: DType, rows: usize, cols: usize, bytes: Vec<u8>) -> Result<Self> {
        let fmt = QFormat::from_dtype(dtype).ok_or_else(|| {
            Error::Unsupported(format!(
                "weight matrix of type {dtype:?}: the kernels do not multiply from its blocks"
            ))
        })?;
        if !cols.is_multiple_of(fmt.block_len()) {
            return Err(Error::InvalidArgument(format!(
                "{dtype:?} weight matrix {rows}×{cols}: columns must be a multiple of {}",
                fmt.block_len()
            )));
        }
        let expected = rows
            .checked_mul(cols)
            .and_then(|n| dtype.bytes_for(n))
            .ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "{dtype:?} weight matrix {rows}×{cols} is too large"
                ))
            })?;
        if bytes.len() != expected {
            return Err(Error::InvalidArgument(format!(
                "{dtype:?} weight matrix {rows}×{cols} needs {expected} bytes, got {}",
                bytes.len()
            )));
        }
        Ok(WeightMatrix {
            rows,
            cols,
            storage: Storage::Blocks(fmt, bytes),
        })
    }

    /// Number of outputs.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of inputs.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The storage type of the weights.
    pub fn dtype(&self) -> DType {
        match &self.storage {
            Storage::F32(_) => DType::F32,
            Storage::BF16(_) => DType::BF16,
            Storage::Blocks(fmt, _) => fmt.dtype(),
        }
    }

    /// `y = W x`, with SIMD kernels and rows split over rayon threads.
    ///
    /// Quantized weights are expanded to f32 block by block inside the kernel, so the
    /// result is the f32 product with the dequantized weights up to summation order.
    /// Allocates nothing.
    ///
    /// # Panics
    /// If `x.len() != cols` or `y.len() != rows`: a programmer error, as callers check
    /// shapes when they load the model.
    pub fn matvec(&self, x: &[f32], y: &mut [f32]) {
        self.check_vec_shapes(x, y);
        let parallel = self.rows * self.cols >= PARALLEL_MIN_MACS;
        for_row_chunks(y, self.rows, parallel, |r0, out| {
            self.rows_times(x, r0, out)
        });
    }

    /// `out[k] = W[r0 + k] · x`: a run of consecutive rows, with the SIMD kernels.
    fn rows_times(&self, x: &[f32], r0: usize, out: &mut [f32]) {
        match &self.storage {
            Storage::F32(w) => {
                let rows = &w[r0 * self.cols..(r0 + out.len()) * self.cols];
                kernels::dot_rows_f32(rows, x, out);
            }
            Storage::BF16(w) => {
                let rows = &w[r0 * self.cols..(r0 + out.len()) * self.cols];
                kernels::dot_rows_bf16(rows, x, out);
            }
            Storage::Blocks(fmt, w) => {
                let row_bytes = self.row_bytes(*fmt);
                let rows = &w[r0 * row_bytes..(r0 + out.len()) * row_bytes];
                kernels::dot_rows_q(*fmt, rows, x, out);
            }
        }
    }

    /// `y = W x` with the plain [`kernels::scalar`] loops on one thread: the reference
    /// that [`WeightMatrix::matvec`] must reproduce (up to float summation order).
    ///
    /// # Panics
    /// If `x.len() != cols` or `y.len() != rows` (a programmer error).
    pub fn matvec_scalar(&self, x: &[f32], y: &mut [f32]) {
        self.check_vec_shapes(x, y);
        match &self.storage {
            Storage::F32(w) => kernels::scalar::dot_rows_f32(w, x, y),
            Storage::BF16(w) => kernels::scalar::dot_rows_bf16(w, x, y),
            Storage::Blocks(fmt, w) => kernels::scalar::dot_rows_q(*fmt, w, x, y),
        }
    }

    /// `y = x Wᵀ` for a batch: `x` is n × cols, `y` is n × rows (prefill).
    ///
    /// f32 weights use ndarray's blocked GEMM on column slices of `y` in parallel.
    /// bf16 weights: each tile of weight rows meets every input row through the
    /// [`WeightMatrix::matvec`] kernel, whose per-row result does not depend on the
    /// tiling, so row `i` of `y` equals `matvec(x[i])` exactly.
    /// Quantized weights: each tile of weight rows meets the input rows a few at a time,
    /// every block expanded once per few rows, with the same float operations per row as
    /// [`WeightMatrix::matvec`]: row `i` of `y` equals `matvec(x[i])` exactly.
    /// Allocates a contiguous copy of `x` when it is not already in standard layout.
    ///
    /// # Panics
    /// If the shapes do not match (a programmer error).
    pub fn matmul(&self, x: ArrayView2<f32>, mut y: ArrayViewMut2<f32>) {
        let n = x.nrows();
        assert_eq!(
            x.ncols(),
            self.cols,
            "matmul: x has {} columns, W has {}",
            x.ncols(),
            self.cols
        );
        assert_eq!(
            y.dim(),
            (n, self.rows),
            "matmul: y must be {n}×{}",
            self.rows
        );
        let parallel = n * self.rows * self.cols >= PARALLEL_MIN_MACS;
        let tile = self.matmul_tile_rows(n, parallel);
        let tiles: Vec<(usize, ArrayViewMut2<f32>)> = y
            .axis_chunks_iter_mut(Axis(1), tile)
            .enumerate()
            .map(|(t, view)| (t * tile, view))
            .collect();
        match &self.storage {
            Storage::F32(w) => {
                let w = ArrayView2::from_shape((self.rows, self.cols), w)
                    .expect("storage length checked at construction");
                let task = |(r0, mut out): (usize, ArrayViewMut2<f32>)| {
                    let w_tile = w.slice(ndarray::s![r0..r0 + out.ncols(), ..]);
                    ndarray::linalg::general_mat_mul(1.0, &x, &w_tile.t(), 0.0, &mut out);
                };
                run_tasks(tiles, parallel, task);
            }
            Storage::BF16(w) => {
                let x = x.as_standard_layout();
                let x = x.as_slice().expect("a standard-layout array");
                let cols = self.cols;
                let task = |(r0, mut out): (usize, ArrayViewMut2<f32>)| {
                    let t = out.ncols();
                    let rows = &w[r0 * cols..(r0 + t) * cols];
                    let mut dots = [0.0f32; MATMUL_TILE_ROWS];
                    for (i, mut y_i) in out.rows_mut().into_iter().enumerate() {
                        let x_i = &x[i * cols..(i + 1) * cols];
                        kernels::dot_rows_bf16(rows, x_i, &mut dots[..t]);
                        y_i.iter_mut().zip(&dots).for_each(|(d, s)| *d = *s);
                    }
                };
                run_tasks(tiles, parallel, task);
            }
            Storage::Blocks(fmt, w) => {
                let x = x.as_standard_layout();
                let x = x.as_slice().expect("a standard-layout array");
                let row_bytes = self.row_bytes(*fmt);
                let task = |(r0, mut out): (usize, ArrayViewMut2<f32>)| {
                    let rows = &w[r0 * row_bytes..(r0 + out.ncols()) * row_bytes];
                    let mut dots = [0.0f32; MATMUL_TILE_ROWS * MATMUL_TILE_INPUTS];
                    for (c, mut out) in out
                        .axis_chunks_iter_mut(Axis(0), MATMUL_TILE_INPUTS)
                        .enumerate()
                    {
                        let i0 = c * MATMUL_TILE_INPUTS;
                        let (m, t) = out.dim();
                        let x_c = &x[i0 * self.cols..(i0 + m) * self.cols];
                        let dots = &mut dots[..t * m];
                        kernels::dot_rows_q_multi(*fmt, rows, self.cols, x_c, dots);
                        for (mut y_i, dots_i) in
                            out.rows_mut().into_iter().zip(dots.chunks_exact(t))
                        {
                            y_i.iter_mut().zip(dots_i).for_each(|(d, s)| *d = *s);
                        }
                    }
                };
                run_tasks(tiles, parallel, task);
            }
        }
    }

    /// The stored values, as they are.
    #[cfg(feature = "cuda")]
    pub(crate) fn raw(&self) -> RawWeights<'_> {
        match &self.storage {
            Storage::F32(w) => RawWeights::F32(w),
            Storage::BF16(w) => RawWeights::BF16(w),
            Storage::Blocks(fmt, w) => RawWeights::Blocks(*fmt, w),
        }
    }

    /// Row `r` as f32 into `out` (`cols` values): an embedding lookup from a token table.
    ///
    /// # Panics
    /// If `r >= rows` or `out.len() != cols` (a programmer error; token ids are
    /// validated by the caller).
    pub fn row_to_f32(&self, r: usize, out: &mut [f32]) {
        assert!(r < self.rows, "row_to_f32: row {r} of {}", self.rows);
        assert_eq!(
            out.len(),
            self.cols,
            "row_to_f32: out must hold {} values",
            self.cols
        );
        match &self.storage {
            Storage::F32(w) => out.copy_from_slice(&w[r * self.cols..(r + 1) * self.cols]),
            Storage::BF16(w) => {
                kernels::scalar::bf16_row_to_f32(&w[r * self.cols..(r + 1) * self.cols], out)
            }
            Storage::Blocks(fmt, w) => {
                let row_bytes = self.row_bytes(*fmt);
                kernels::scalar::dequantize_row(*fmt, &w[r * row_bytes..(r + 1) * row_bytes], out);
            }
        }
    }

    /// The whole matrix as f32 (rows × cols).
    pub fn to_f32(&self) -> Array2<f32> {
        let mut out = Array2::zeros((self.rows, self.cols));
        for (r, mut row) in out.rows_mut().into_iter().enumerate() {
            let row = row.as_slice_mut().expect("a fresh standard-layout array");
            self.row_to_f32(r, row);
        }
        out
    }

    /// Bytes per row of blocks of `fmt`.
    fn row_bytes(&self, fmt: QFormat) -> usize {
        fmt.row_bytes(self.cols)
    }

    /// Asserts the vector shapes of a matrix–vector product.
    fn check_vec_shapes(&self, x: &[f32], y: &[f32]) {
        assert_eq!(
            x.len(),
            self.cols,
            "matvec: x has {} values, W has {} columns",
            x.len(),
            self.cols
        );
        assert_eq!(
            y.len(),
            self.rows,
            "matvec: y has {} values, W has {} rows",
            y.len(),
            self.rows
        );
    }

    /// Weight rows per matmul task: at most [`MATMUL_TILE_ROWS`], fewer when that leaves
    /// too few tasks to keep every thread busy.
    fn matmul_tile_rows(&self, n: usize, parallel: bool) -> usize {
        let rows = self.rows.max(1);
        if !parallel {
            return match self.storage {
                Storage::F32(_) => rows,
                Storage::BF16(_) | Storage::Blocks(..) => MATMUL_TILE_ROWS.min(rows),
            };
        }
        let tasks = rayon::current_num_threads() * CHUNKS_PER_THREAD;
        let even = rows.div_ceil(tasks).max(1);
        match self.storage {
            // The GEMM blocks its own work: give it wide slices.
            Storage::F32(_) => even
                .max(PARALLEL_MIN_MACS / (n * self.cols).max(1))
                .min(rows),
            Storage::BF16(_) | Storage::Blocks(..) => even.min(MATMUL_TILE_ROWS),
        }
    }
}

/// `y_k = W_k x` for several matrices that read the same input (a layer's q, k and v
/// projections; an MLP's gate and up), in one parallel region: their rows are split
/// over the threads together, so the threads meet once instead of once per product.
/// Each `y_k` is exactly what [`WeightMatrix::matvec`] gives. Allocates nothing.
///
/// # Panics
/// If a matrix does not have `x.len()` columns and its `y` as many values as it has
/// rows (a programmer error).
pub fn matvec_many(x: &[f32], products: &mut [(&WeightMatrix, &mut [f32])]) {
    for (w, y) in products.iter() {
        w.check_vec_shapes(x, y);
    }
    let rows: usize = products.iter().map(|(w, _)| w.rows).sum();
    if rows * x.len() < PARALLEL_MIN_MACS {
        for (w, y) in products.iter_mut() {
            w.rows_times(x, 0, y);
        }
        return;
    }
    let chunk = row_chunk(rows);
    products.par_iter_mut().for_each(|(w, y)| {
        y.par_chunks_mut(chunk)
            .enumerate()
            .for_each(|(c, out)| w.rows_times(x, c * chunk, out));
    });
}

/// Rows per parallel chunk when `rows` rows are split: about [`CHUNKS_PER_THREAD`]
/// chunks per rayon thread.
fn row_chunk(rows: usize) -> usize {
    rows.div_ceil(rayon::current_num_threads() * CHUNKS_PER_THREAD)
        .max(1)
}

/// Runs `f` on a rayon worker thread, so that the parallel products inside it split
/// their rows with the pool's cheap nested joins: called from outside the pool, every
/// product would hand its work to the pool and wait to be woken, once per product.
pub fn on_worker<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    rayon::scope(|_| f())
}

/// Calls `f(first_row, y_chunk)` over chunks of `y` (one value per row), in parallel
/// when asked, with about [`CHUNKS_PER_THREAD`] chunks per rayon thread.
fn for_row_chunks(
    y: &mut [f32],
    rows: usize,
    parallel: bool,
    f: impl Fn(usize, &mut [f32]) + Sync,
) {
    if !parallel {
        f(0, y);
        return;
    }
    let chunk = row_chunk(rows);
    y.par_chunks_mut(chunk)
        .enumerate()
        .for_each(|(c, out)| f(c * chunk, out));
}

/// Runs `f` on every task, in parallel when asked.
fn run_tasks<T: Send>(tasks: Vec<T>, parallel: bool, f: impl Fn(T) + Sync + Send) {
    if parallel {
        tasks.into_par_iter().for_each(f);
    } else {
        tasks.into_iter().for_each(f);
    }
}
