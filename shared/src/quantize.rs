//! `--quantize q8_0`: a loaded model's f32/bf16 weight matrices turned into GGML
//! Q8_0 blocks, matrix by matrix.
//!
//! Decoding one token reads every weight once, so
//! 8.5 bits per weight instead of bf16's 16 roughly halves the bytes read per token
//! (measured on Qwen3-0.6B's shape: 1.19 GB → 633 MB of matrices, decoding about 1.5×
//! faster on the 2-core machine, where the kernels, not memory, set the pace).
//! The projections (q, k, v, o, gate, up, down), the embedding (which is also the
//! output layer when tied) and an untied `lm_head` are quantized with ggml's reference
//! rounding ([`crate::io::quantize_q8_0`]); norms and biases stay f32. Matrices already in a GGUF
//! block format stay as they are (re-quantizing a Q4_K matrix to Q8_0 only loses
//! precision), and so do matrices whose columns do not fill whole 32-value blocks.

use std::cell::RefCell;
use std::fmt;
use std::time::Instant;

use rayon::prelude::*;

use crate::device::Device;
use crate::io::{quantize_q8_0_into, DType};
use crate::linear::WeightMatrix;
use crate::model::Model;
use crate::weights::WeightSource;
use crate::{Error, Result};

/// Values per Q8_0 block: a matrix's columns must be a multiple of this.
pub const Q8_0_BLOCK: usize = 32;

/// Rows per parallel task: enough that a task outweighs rayon's overhead.
const ROWS_PER_TASK: usize = 16;

/// A weight format that `--quantize` converts a loaded model to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum QuantizeMode {
    /// GGML Q8_0 (ggml's rounding): 32 int8 values and one f16 scale per block, 8.5 bits
    /// per weight; on the CPU about half of bf16's memory and 1.5× its decoding speed.
    #[value(name = "q8_0")]
    Q8_0,
}

impl QuantizeMode {
    /// The block type the weights become.
    pub fn dtype(self) -> DType {
        match self {
            QuantizeMode::Q8_0 => DType::Q8_0,
        }
    }
}

/// The mode as written on the command line (`q8_0`).
impl fmt::Display for QuantizeMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QuantizeMode::Q8_0 => f.write_str("q8_0"),
        }
    }
}

/// What [`quantize_model`] did, for the line it prints on stderr.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QuantizeReport {
    /// How many matrices were converted.
    pub quantized: usize,
    /// Their bytes before (f32 or bf16).
    pub bytes_before: u64,
    /// Their bytes after (Q8_0 blocks).
    pub bytes_after: u64,
    /// Matrices already in a GGUF block format, kept as they were: (Hugging Face name, type).
    pub kept_blocks: Vec<(String, DType)>,
    /// Matrices whose columns are not a multiple of [`Q8_0_BLOCK`], kept as they were.
    pub kept_shape: Vec<String>,
    /// Seconds the conversion took.
    pub seconds: f64,
}

impl QuantizeReport {
    /// What happened, as lines for stderr: how many matrices were quantized and how
    /// much smaller they got, then a note for each kind of matrix kept as it was.
    pub fn lines(&self, mode: QuantizeMode) -> Vec<String> {
        let dtype = mode.dtype().name();
        let mut lines = vec![if self.quantized == 0 {
            format!("quantized nothing to {dtype}: no f32/bf16 weight matrix to convert")
        } else {
            format!(
                "quantized {} matrices to {dtype} in {:.2} s ({} → {})",
                self.quantized,
                self.seconds,
                human_bytes(self.bytes_before),
                human_bytes(self.bytes_after)
            )
        }];
        if !self.kept_blocks.is_empty() {
            let mut types: Vec<&str> = self.kept_blocks.iter().map(|(_, t)| t.name()).collect();
            types.sort_unstable();
            types.dedup();
            lines.push(format!(
                "note: {} matrices are already GGUF blocks ({}) and stay as they are \
                 (re-quantizing them to {dtype} would only lose precision)",
                self.kept_blocks.len(),
                types.join(", ")
            ));
        }
        if !self.kept_shape.is_empty() {
            lines.push(format!(
                "note: {} matrices have columns that are not a multiple of {Q8_0_BLOCK} and \
                 stay as they are: {}",
                self.kept_shape.len(),
                self.kept_shape.join(", ")
            ));
        }
        lines
    }
}

/// A byte count in decimal units: `640 MB`, `1.19 GB`.
fn human_bytes(n: u64) -> String {
    let n = n as f64;
    match n {
        n if n >= 1e9 => format!("{:.2} GB", n / 1e9),
        n if n >= 1e6 => format!("{:.0} MB", n / 1e6),
        n if n >= 1e3 => format!("{:.0} kB", n / 1e3),
        n => format!("{n} B"),
    }
}

/// Converts the weight matrices of `model` (on the CPU) to `mode`, one at a time:
/// each matrix's old storage is dropped as soon as its quantized copy exists, so
/// memory never holds two copies of the model (at most one extra matrix).
///
/// # Errors
/// If the model already runs on a GPU (quantize before [`Model::into_device`]).
pub fn quantize_model(model: &mut Model, mode: QuantizeMode) -> Result<QuantizeReport> {
    if model.device() != Device::Cpu {
        return Err(Error::InvalidArgument(format!(
            "--quantize {mode}: the model already runs on {}; quantize it before moving it to a device",
            model.device()
        )));
    }
    let start = Instant::now();
    let mut report = QuantizeReport::default();
    for (name, matrix) in named_matrices_mut(model) {
        quantize_in_place(name, matrix, mode, &mut report)?;
    }
    report.seconds = start.elapsed().as_secs_f64();
    Ok(report)
}

/// Replaces `matrix` by its `mode` version and records it, or records why it stays.
fn quantize_in_place(
    name: String,
    matrix: &mut WeightMatrix,
    mode: QuantizeMode,
    report: &mut QuantizeReport,
) -> Result<()> {
    let dtype = matrix.dtype();
    if !matches!(dtype, DType::F32 | DType::BF16) {
        report.kept_blocks.push((name, dtype));
        return Ok(());
    }
    if !matrix.cols().is_multiple_of(Q8_0_BLOCK) {
        report.kept_shape.push(name);
        return Ok(());
    }
    let quantized = match mode {
        QuantizeMode::Q8_0 => quantize_matrix_q8_0(matrix)?,
    };
    report.quantized += 1;
    report.bytes_before += matrix_bytes(matrix);
    report.bytes_after += matrix_bytes(&quantized);
    *matrix = quantized;
    Ok(())
}

/// A weight source that hands out each matrix already quantized to `mode`: loading
/// through it converts the model matrix by matrix as it is read, so memory never holds
/// more than the quantized model plus one matrix as stored (what keeps
/// `--quantize q8_0`'s peak below the file's size on disk).
pub struct QuantizingSource<'a> {
    inner: &'a dyn WeightSource,
    mode: QuantizeMode,
    report: RefCell<QuantizeReport>,
}

impl<'a> QuantizingSource<'a> {
    /// `inner`'s matrices, each quantized to `mode` as it is read.
    pub fn new(inner: &'a dyn WeightSource, mode: QuantizeMode) -> Self {
        QuantizingSource {
            inner,
            mode,
            report: RefCell::new(QuantizeReport::default()),
        }
    }

    /// What was converted and kept so far (its `seconds`: the time spent converting).
    pub fn into_report(self) -> QuantizeReport {
        self.report.into_inner()
    }
}

impl WeightSource for QuantizingSource<'_> {
    fn location(&self) -> String {
        self.inner.location()
    }

    fn shape(&self, hf_name: &str) -> Option<Vec<usize>> {
        self.inner.shape(hf_name)
    }

    fn matrix(&self, hf_name: &str, rows: usize, cols: usize) -> Result<WeightMatrix> {
        let mut matrix = self.inner.matrix(hf_name, rows, cols)?;
        let start = Instant::now();
        let mut report = self.report.borrow_mut();
        quantize_in_place(hf_name.to_string(), &mut matrix, self.mode, &mut report)?;
        report.seconds += start.elapsed().as_secs_f64();
        Ok(matrix)
    }

    fn vector(&self, hf_name: &str) -> Result<Vec<f32>> {
        self.inner.vector(hf_name)
    }
}

/// The bytes a matrix's weights take.
fn matrix_bytes(w: &WeightMatrix) -> u64 {
    let n = w.rows() * w.cols();
    w.dtype().bytes_for(n).unwrap_or(0) as u64
}

/// Every weight matrix of `model` with its Hugging Face name: the embedding, each
/// block's seven projections, and the untied `lm_head`.
fn named_matrices_mut(model: &mut Model) -> Vec<(String, &mut WeightMatrix)> {
    let mut out = vec![(
        "model.embed_tokens.weight".to_string(),
        &mut model.embed_tokens,
    )];
    for (i, block) in model.blocks.iter_mut().enumerate() {
        let (a, m) = (&mut block.attention, &mut block.mlp);
        let layer = [
            ("self_attn.q_proj", &mut a.q_proj),
            ("self_attn.k_proj", &mut a.k_proj),
            ("self_attn.v_proj", &mut a.v_proj),
            ("self_attn.o_proj", &mut a.o_proj),
            ("mlp.gate_proj", &mut m.gate_proj),
            ("mlp.up_proj", &mut m.up_proj),
            ("mlp.down_proj", &mut m.down_proj),
        ];
        out.extend(
            layer
                .into_iter()
                .map(|(name, w)| (format!("model.layers.{i}.{name}.weight"), w)),
        );
    }
    if let Some(w) = model.lm_head.as_mut() {
        out.push(("lm_head.weight".to_string(), w));
    }
    out
}

/// `w` (any storage) as Q8_0 blocks: each row read as f32 ([`WeightMatrix::row_to_f32`])
/// and quantized with ggml's reference rounding.
///
/// # Errors
/// If the columns are not a multiple of [`Q8_0_BLOCK`].
pub fn quantize_matrix_q8_0(w: &WeightMatrix) -> Result<WeightMatrix> {
    q8_0_from_rows(w.rows(), w.cols(), |r, out| w.row_to_f32(r, out))
}

/// A `rows × cols` Q8_0 matrix whose row `r` is what `row(r, out)` writes into `out`
/// (`cols` f32 values), quantized as [`crate::io::quantize_q8_0`] quantizes it. Rows are
/// quantized in parallel, each into its place in the final buffer: besides that buffer
/// only one row of f32 per thread is allocated. The one Q8_0 conversion of a matrix,
/// used by [`quantize_model`] and by ch05's rollout copy of the trained weights.
///
/// # Errors
/// If `cols` is zero or not a multiple of [`Q8_0_BLOCK`].
pub fn q8_0_from_rows(
    rows: usize,
    cols: usize,
    row: impl Fn(usize, &mut [f32]) + Sync,
) -> Result<WeightMatrix> {
    if cols == 0 || !cols.is_multiple_of(Q8_0_BLOCK) {
        return Err(Error::InvalidArgument(format!(
            "Q8_0 quantizes rows of whole {Q8_0_BLOCK}-value blocks; a {rows}×{cols} matrix has \
             {cols} columns"
        )));
    }
    let row_bytes = cols / Q8_0_BLOCK * DType::Q8_0.block_bytes();
    let mut bytes = vec![0u8; rows * row_bytes];
    bytes
        .par_chunks_mut(row_bytes)
        .with_min_len(ROWS_PER_TASK)
        .enumerate()
        .try_for_each_init(
            || vec![0.0; cols],
            |values, (r, out)| {
                row(r, values);
                quantize_q8_0_into(values, out)
            },
        )?;
    WeightMatrix::from_blocks(DType::Q8_0, rows, cols, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::{dequantize_to_vec, quantize_q8_0};

    /// Values with a spread of magnitudes, for a `rows × cols` matrix.
    fn values(rows: usize, cols: usize) -> Vec<f32> {
        (0..rows * cols)
            .map(|i| ((i * 7919 % 1009) as f32 - 504.0) / (1.0 + (i % 13) as f32))
            .collect()
    }

    #[test]
    fn a_matrix_quantizes_to_the_bytes_of_ggml_rounding_from_f32_and_bf16() {
        let (rows, cols) = (100, 64);
        let data = values(rows, cols);
        let f32_matrix = WeightMatrix::from_f32(rows, cols, data.clone()).unwrap();
        let q = quantize_matrix_q8_0(&f32_matrix).unwrap();
        assert_eq!(q.dtype(), DType::Q8_0);
        let expected = quantize_q8_0(&data).unwrap();
        let back = dequantize_to_vec(DType::Q8_0, &expected, rows * cols).unwrap();
        assert_eq!(q.to_f32().as_slice().unwrap(), back.as_slice());
        // bf16 rows are widened exactly, then rounded the same way.
        let bits: Vec<u16> = data
            .iter()
            .map(|&x| half::bf16::from_f32(x).to_bits())
            .collect();
        let widened: Vec<f32> = bits
            .iter()
            .map(|&b| half::bf16::from_bits(b).to_f32())
            .collect();
        let bf16_matrix = WeightMatrix::from_bf16(rows, cols, bits).unwrap();
        let expected = quantize_q8_0(&widened).unwrap();
        let back = dequantize_to_vec(DType::Q8_0, &expected, rows * cols).unwrap();
        let q = quantize_matrix_q8_0(&bf16_matrix).unwrap();
        assert_eq!(q.to_f32().as_slice().unwrap(), back.as_slice());
    }

    #[test]
    fn columns_that_do_not_fill_blocks_are_refused() {
        let w = WeightMatrix::from_f32(2, 48, vec![1.0; 96]).unwrap();
        let err = quantize_matrix_q8_0(&w).unwrap_err().to_string();
        assert!(err.contains("48 columns"), "{err}");
        assert!(q8_0_from_rows(2, 0, |_, _| {}).is_err());
    }

    #[test]
    fn the_report_says_what_was_quantized_and_what_was_kept() {
        let report = QuantizeReport {
            quantized: 197,
            bytes_before: 1_192_000_000,
            bytes_after: 633_000_000,
            kept_blocks: vec![
                ("a".into(), DType::Q4_1),
                ("b".into(), DType::Q8_0),
                ("c".into(), DType::Q4_1),
            ],
            kept_shape: vec!["model.layers.0.mlp.down_proj.weight".into()],
            seconds: 1.5,
        };
        let lines = report.lines(QuantizeMode::Q8_0);
        assert_eq!(
            lines[0],
            "quantized 197 matrices to Q8_0 in 1.50 s (1.19 GB → 633 MB)"
        );
        assert!(lines[1].contains("3 matrices are already GGUF blocks (Q4_1, Q8_0)"));
        assert!(lines[2].ends_with("stay as they are: model.layers.0.mlp.down_proj.weight"));
        let nothing = QuantizeReport {
            quantized: 0,
            ..report
        };
        assert!(nothing.lines(QuantizeMode::Q8_0)[0].starts_with("quantized nothing to Q8_0"));
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(34_000), "34 kB");
    }
}
