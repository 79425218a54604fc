//! Every block format the kernels multiply from (`QFormat::ALL`), on every instruction
//! set this CPU has — scalar, AVX2, AVX-512, each called directly, whatever `RFS_ISA`
//! says — against the reference dequantizer `shared::io::dequantize`:
//! - integer-valued data (power-of-two scales, small integer activations): every
//!   product and sum is exact, so every kernel must give the exact dot bit for bit;
//! - realistic random blocks: within float-summation rounding of the f64 dot;
//! - the multi-input kernels equal the single-input ones bit for bit;
//! - `WeightMatrix` (matvec, matmul, row lookup) over these formats.

use half::f16;
use ndarray::Array2;
use shared::io::{dequantize, DType};
use shared::kernels::{blocks, scalar, Isa, QFormat};
use shared::linear::WeightMatrix;

/// A tiny xorshift64* generator: reproducible data without a `rand` dependency.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [lo, hi).
    fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        let unit = (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
        lo + (hi - lo) * unit
    }

    fn byte(&mut self) -> u8 {
        (self.next_u64() >> 56) as u8
    }
}

/// Where a block keeps its f16 fields: (offset, is a min/offset rather than a scale).
fn f16_fields(fmt: QFormat) -> &'static [(usize, bool)] {
    match fmt {
        QFormat::Q8_0 | QFormat::Q4_0 | QFormat::Q5_0 | QFormat::IQ4_NL | QFormat::IQ4_XS => {
            &[(0, false)]
        }
        QFormat::Q4_1 | QFormat::Q5_1 => &[(0, false), (2, true)],
        QFormat::Q4_K | QFormat::Q5_K => &[(0, false), (2, false)],
        QFormat::Q2_K => &[(80, false), (82, false)],
        QFormat::Q3_K => &[(108, false)],
        QFormat::Q6_K => &[(208, false)],
    }
}

/// Random blocks of `fmt` (every other byte random) for `rows × cols`, with the f16
/// fields set by `scale()` and `offset()`.
fn blocks_with(
    rng: &mut Rng,
    fmt: QFormat,
    rows: usize,
    cols: usize,
    mut scale: impl FnMut(&mut Rng) -> f32,
    mut offset: impl FnMut(&mut Rng) -> f32,
) -> Vec<u8> {
    let mut bytes = Vec::new();
    for _ in 0..rows * cols / fmt.block_len() {
        let mut block: Vec<u8> = (0..fmt.block_bytes()).map(|_| rng.byte()).collect();
        for &(at, is_offset) in f16_fields(fmt) {
            let v = if is_offset { offset(rng) } else { scale(rng) };
            block[at..at + 2].copy_from_slice(&f16::from_f32(v).to_le_bytes());
        }
        bytes.extend(block);
    }
    bytes
}

/// The instruction sets this CPU runs, each kernel called directly; a `NOT RUN` line
/// for each level it lacks.
fn isas() -> Vec<Isa> {
    let best = shared::kernels::detect();
    let (run, lacking): (Vec<Isa>, Vec<Isa>) = [Isa::Scalar, Isa::Avx2, Isa::Avx512]
        .into_iter()
        .partition(|&i| i <= best);
    for isa in lacking {
        shared::fixtures::report_not_run(&format!(
            "this CPU lacks {}: its kernels were not checked",
            isa.name()
        ));
    }
    run
}

/// `y[r] = w[r] · x` on instruction set `isa`.
fn dot_rows(isa: Isa, fmt: QFormat, w: &[u8], x: &[f32], y: &mut [f32]) {
    match isa {
        Isa::Scalar => scalar::dot_rows_q(fmt, w, x, y),
        // SAFETY: `isas()` lists only levels the CPU supports.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => unsafe { shared::kernels::avx2::dot_rows_q(fmt, w, x, y) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => unsafe { shared::kernels::avx512::dot_rows_q(fmt, w, x, y) },
        #[cfg(not(target_arch = "x86_64"))]
        _ => unreachable!(),
    }
}

/// `y[i·rows + r] = w[r] · x_i` on instruction set `isa`.
fn dot_rows_multi(isa: Isa, fmt: QFormat, w: &[u8], cols: usize, x: &[f32], y: &mut [f32]) {
    match isa {
        Isa::Scalar => scalar::dot_rows_q_multi(fmt, w, cols, x, y),
        // SAFETY: `isas()` lists only levels the CPU supports.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => unsafe { shared::kernels::avx2::dot_rows_q_multi(fmt, w, cols, x, y) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => unsafe { shared::kernels::avx512::dot_rows_q_multi(fmt, w, cols, x, y) },
        #[cfg(not(target_arch = "x86_64"))]
        _ => unreachable!(),
    }
}

/// The reference dequantization of a whole matrix (rows × cols, row-major).
fn reference(fmt: QFormat, w: &[u8], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; rows * cols];
    dequantize(fmt.dtype(), w, &mut out).unwrap();
    out
}

/// Σ w·x in f64.
fn dot_f64(w: &[f32], x: &[f32]) -> f64 {
    w.iter().zip(x).map(|(&a, &b)| a as f64 * b as f64).sum()
}

/// Column counts to test for `fmt`: one block, several, and a Qwen2.5 width.
fn widths(fmt: QFormat) -> Vec<usize> {
    let len = fmt.block_len();
    let mut w = vec![len, 3 * len, 4 * len];
    if len == 32 {
        w.push(896);
    }
    w
}

#[test]
fn integer_valued_products_are_exact_in_every_kernel_and_format() {
    let mut rng = Rng(7);
    let mut checked = 0;
    for fmt in QFormat::ALL {
        for cols in widths(fmt) {
            for rows in [1, 4, 7] {
                // Power-of-two scales and integer activations: every partial sum is a
                // multiple of 2^-5 below 2^19, so f32 holds each exactly.
                let w = blocks_with(&mut rng, fmt, rows, cols, |_| 0.0625, |_| -0.5);
                let x: Vec<f32> = (0..cols)
                    .map(|_| (rng.next_u64() % 5) as f32 - 2.0)
                    .collect();
                let dense = reference(fmt, &w, rows, cols);
                let exact: Vec<f32> = dense
                    .chunks_exact(cols)
                    .map(|row| dot_f64(row, &x) as f32)
                    .collect();
                for isa in isas() {
                    let mut y = vec![f32::NAN; rows];
                    dot_rows(isa, fmt, &w, &x, &mut y);
                    assert_eq!(y, exact, "{fmt:?} {isa:?} {rows}×{cols}");
                    checked += 1;
                }
            }
        }
    }
    assert!(checked >= QFormat::ALL.len() * 3 * 3, "checked {checked}");
}

/// The offset subtracted from (or added to) each element, for the rounding bound.
fn element_offsets(fmt: QFormat, block: &[u8]) -> Vec<f32> {
    let len = fmt.block_len();
    let f16_at = |at: usize| f16::from_le_bytes([block[at], block[at + 1]]).to_f32();
    match fmt {
        QFormat::Q4_1 | QFormat::Q5_1 => vec![f16_at(2); len],
        QFormat::Q4_K | QFormat::Q5_K => {
            let s = blocks::k4_sub_scales(block);
            (0..len).map(|i| s.min[i / 32]).collect()
        }
        QFormat::Q2_K => (0..len)
            .map(|i| f16_at(82) * f32::from(block[i / 16] >> 4))
            .collect(),
        _ => vec![0.0; len],
    }
}

#[test]
fn random_blocks_are_within_summation_rounding_of_the_f64_dot() {
    let mut rng = Rng(11);
    for fmt in QFormat::ALL {
        for cols in widths(fmt) {
            let rows = 9;
            let w = blocks_with(
                &mut rng,
                fmt,
                rows,
                cols,
                |r| r.uniform(0.001, 0.05),
                |r| r.uniform(-0.4, 0.0),
            );
            let x: Vec<f32> = (0..cols).map(|_| rng.uniform(-3.0, 3.0)).collect();
            let dense = reference(fmt, &w, rows, cols);
            let row_bytes = fmt.row_bytes(cols);
            for isa in isas() {
                let mut y = vec![f32::NAN; rows];
                dot_rows(isa, fmt, &w, &x, &mut y);
                for r in 0..rows {
                    let row = &dense[r * cols..(r + 1) * cols];
                    let offsets: Vec<f32> = w[r * row_bytes..(r + 1) * row_bytes]
                        .chunks_exact(fmt.block_bytes())
                        .flat_map(|b| element_offsets(fmt, b))
                        .collect();
                    // Σ(|scale·q| + |offset|)·|x|: what the roundings scale with.
                    let magnitude: f64 = (0..cols)
                        .map(|i| {
                            let m = offsets[i].abs() as f64;
                            ((row[i] as f64).abs() + 2.0 * m) * (x[i] as f64).abs()
                        })
                        .sum();
                    let depth = fmt.block_len() + cols / fmt.block_len() + 16;
                    let bound = 2.0 * depth as f64 * f32::EPSILON as f64 * magnitude;
                    let err = (y[r] as f64 - dot_f64(row, &x)).abs();
                    assert!(
                        err <= bound,
                        "{fmt:?} {isa:?} 9×{cols} row {r}: {} vs {} (|diff| {err:e} > {bound:e})",
                        y[r],
                        dot_f64(row, &x)
                    );
                }
            }
        }
    }
}

#[test]
fn multi_input_kernels_equal_the_single_input_kernels_bit_for_bit() {
    let mut rng = Rng(21);
    for fmt in QFormat::ALL {
        let cols = 2 * fmt.block_len();
        for rows in [1, 5, 9] {
            let w = blocks_with(
                &mut rng,
                fmt,
                rows,
                cols,
                |r| r.uniform(0.001, 0.05),
                |r| r.uniform(-0.4, 0.0),
            );
            for n in [1, 2, 3, 4, 5, 8, 9, 11] {
                let x: Vec<f32> = (0..n * cols).map(|_| rng.uniform(-2.0, 2.0)).collect();
                for isa in isas() {
                    let mut multi = vec![f32::NAN; rows * n];
                    dot_rows_multi(isa, fmt, &w, cols, &x, &mut multi);
                    for (i, x_i) in x.chunks_exact(cols).enumerate() {
                        let mut one = vec![f32::NAN; rows];
                        dot_rows(isa, fmt, &w, x_i, &mut one);
                        assert_eq!(
                            &multi[i * rows..(i + 1) * rows],
                            &one[..],
                            "{fmt:?} {isa:?} {rows}×{cols} n={n} input {i}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn weight_matrices_of_every_format_multiply_and_look_up_rows() {
    let mut rng = Rng(5);
    for fmt in QFormat::ALL {
        // Enough rows to split over threads, and a prefill of several inputs.
        let (rows, cols) = (300, 2 * fmt.block_len());
        let bytes = blocks_with(
            &mut rng,
            fmt,
            rows,
            cols,
            |r| r.uniform(0.001, 0.05),
            |r| r.uniform(-0.4, 0.0),
        );
        let w = WeightMatrix::from_blocks(fmt.dtype(), rows, cols, bytes.clone()).unwrap();
        assert_eq!(w.dtype(), fmt.dtype());
        let dense = reference(fmt, &bytes, rows, cols);
        let x: Vec<f32> = (0..cols).map(|_| rng.uniform(-1.0, 1.0)).collect();
        let mut y = vec![0.0; rows];
        w.matvec(&x, &mut y);
        let mut direct = vec![0.0; rows];
        shared::kernels::dot_rows_q(fmt, &bytes, &x, &mut direct);
        assert_eq!(
            y, direct,
            "{fmt:?}: matvec splits rows without changing them"
        );
        let inputs = Array2::from_shape_fn((6, cols), |(i, j)| ((i * 7 + j) as f32).sin());
        let mut out = Array2::zeros((6, rows));
        w.matmul(inputs.view(), out.view_mut());
        for (i, x_i) in inputs.rows().into_iter().enumerate() {
            let mut one = vec![0.0; rows];
            w.matvec(x_i.as_slice().unwrap(), &mut one);
            assert_eq!(out.row(i).to_vec(), one, "{fmt:?} matmul row {i}");
        }
        let mut row = vec![0.0; cols];
        for r in [0, rows / 2, rows - 1] {
            w.row_to_f32(r, &mut row);
            assert_eq!(row, &dense[r * cols..(r + 1) * cols], "{fmt:?} row {r}");
        }
    }
}

#[test]
fn block_formats_and_dtypes_agree() {
    for fmt in QFormat::ALL {
        let dtype = fmt.dtype();
        assert_eq!(QFormat::from_dtype(dtype), Some(fmt));
        assert_eq!(fmt.block_bytes(), dtype.block_bytes());
        assert_eq!(fmt.row_bytes(4 * fmt.block_len()), 4 * dtype.block_bytes());
    }
    for dtype in [DType::F32, DType::BF16, DType::F16] {
        assert_eq!(QFormat::from_dtype(dtype), None);
    }
}
