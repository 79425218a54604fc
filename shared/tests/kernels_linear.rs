//! `WeightMatrix` and the kernels behind it: SIMD against the scalar reference, batched
//! against per-vector products, and quantized products against the f32 product with the
//! weights dequantized by a block formula written here from the ggml layouts (and by
//! `shared::io::dequantize_to_vec`). The activations are never rounded, so every bound
//! below is a float summation-order bound only.

use half::f16;
use ndarray::Array2;
use shared::io::dequantize_to_vec;
use shared::io::DType;
use shared::kernels::{self, scalar, Isa, QFormat, QK};
use shared::linear::{matvec_many, on_worker, WeightMatrix};
use shared::Error;

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

    /// `n` activations of mixed magnitude (some blocks large, some small, some exactly 0).
    fn activations(&mut self, n: usize) -> Vec<f32> {
        let mut x = vec![0.0; n];
        for block in x.chunks_mut(QK) {
            let scale = [0.0, 1e-3, 1.0, 30.0][(self.next_u64() % 4) as usize];
            block
                .iter_mut()
                .for_each(|v| *v = scale * self.uniform(-1.0, 1.0));
        }
        x
    }
}

const FORMATS: [QFormat; 3] = [QFormat::Q8_0, QFormat::Q4_0, QFormat::Q4_1];
const SHAPES: [(usize, usize); 10] = [
    (1, 32),
    (7, 32),
    (1, 576),
    (7, 576),
    (192, 576),
    (7, 1536),
    (192, 1536),
    (576, 576),
    (1001, 576),
    (33, 96),
];

fn f16_bytes(v: f32) -> [u8; 2] {
    f16::from_f32(v).to_le_bytes()
}

fn f16_at(b: &[u8], at: usize) -> f32 {
    f16::from_le_bytes([b[at], b[at + 1]]).to_f32()
}

/// Random blocks of `fmt` for a `rows × cols` matrix (every byte value can occur).
fn random_blocks(rng: &mut Rng, fmt: QFormat, rows: usize, cols: usize) -> Vec<u8> {
    let mut bytes = Vec::new();
    for _ in 0..rows * cols / QK {
        bytes.extend(f16_bytes(rng.uniform(0.001, 0.05)));
        if fmt == QFormat::Q4_1 {
            bytes.extend(f16_bytes(rng.uniform(-0.4, 0.0)));
        }
        let quants = if fmt == QFormat::Q8_0 { QK } else { QK / 2 };
        bytes.extend((0..quants).map(|_| rng.byte()));
    }
    bytes
}

/// One block dequantized straight from the layout in the task statement
/// (an implementation independent of `kernels::scalar::dequantize_row`).
fn dequantize_block(fmt: QFormat, b: &[u8]) -> [f32; QK] {
    let d = f16_at(b, 0);
    let mut out = [0.0; QK];
    match fmt {
        QFormat::Q8_0 => {
            for i in 0..QK {
                out[i] = d * (b[2 + i] as i8) as f32;
            }
        }
        QFormat::Q4_0 | QFormat::Q4_1 => {
            let (packed, m) = if fmt == QFormat::Q4_0 {
                (&b[2..18], None)
            } else {
                (&b[4..20], Some(f16_at(b, 2)))
            };
            for j in 0..QK / 2 {
                let (lo, hi) = ((packed[j] & 0x0F) as f32, (packed[j] >> 4) as f32);
                match m {
                    None => {
                        out[j] = d * (lo - 8.0);
                        out[j + QK / 2] = d * (hi - 8.0);
                    }
                    Some(m) => {
                        out[j] = d * lo + m;
                        out[j + QK / 2] = d * hi + m;
                    }
                }
            }
        }
        other => unreachable!("{other:?}: this file tests the 32-element formats Q8_0, Q4_0, Q4_1"),
    }
    out
}

/// The offset `m` of each block of a row (0 outside Q4_1), for error magnitudes.
fn block_offsets(fmt: QFormat, row: &[u8]) -> Vec<f32> {
    row.chunks_exact(fmt.block_bytes())
        .map(|b| {
            if fmt == QFormat::Q4_1 {
                f16_at(b, 2)
            } else {
                0.0
            }
        })
        .collect()
}

fn dequantize_row(fmt: QFormat, row: &[u8]) -> Vec<f32> {
    row.chunks_exact(fmt.block_bytes())
        .flat_map(|b| dequantize_block(fmt, b))
        .collect()
}

/// Bound on the difference between two f32 evaluations of the same sum of `n` terms
/// in different orders: each is within n·u·Σ|terms| of the exact sum (u = ε/2).
fn reorder_bound(n: usize, magnitude: f64) -> f64 {
    n as f64 * f32::EPSILON as f64 * magnitude + 1e-30
}

/// Rounding steps any one product goes through in a quantized row · x of `cols`
/// elements, in the scalar or the SIMD kernel: at most 32 within a block, a few for the
/// scale and offset, one per block of the running sum, 3 for a horizontal sum.
fn quantized_depth(cols: usize) -> usize {
    QK + cols / QK + 8
}

/// Σ|terms| of a quantized row · x, counting a Q4_1 offset term apart from d·nib
/// because the kernels add it separately.
fn magnitude(fmt: QFormat, row: &[u8], xh: &[f32]) -> f64 {
    let w = dequantize_row(fmt, row);
    let offsets = block_offsets(fmt, row);
    w.iter()
        .zip(xh)
        .enumerate()
        .map(|(i, (&w, &x))| {
            let m = offsets[i / QK] as f64;
            ((w as f64 - m).abs() + m.abs()) * (x as f64).abs()
        })
        .sum()
}

/// A random `rows × cols` matrix of `fmt` blocks, and its bytes.
fn quantized(rng: &mut Rng, fmt: QFormat, rows: usize, cols: usize) -> (WeightMatrix, Vec<u8>) {
    let bytes = random_blocks(rng, fmt, rows, cols);
    let w = WeightMatrix::from_blocks(fmt.dtype(), rows, cols, bytes.clone()).unwrap();
    (w, bytes)
}

/// Row `r` (of `rows`) of a matrix's bytes.
fn row_of(bytes: &[u8], rows: usize, r: usize) -> &[u8] {
    let row_bytes = bytes.len() / rows;
    &bytes[r * row_bytes..(r + 1) * row_bytes]
}

/// Σ w·x in f64 (for f32 inputs: the exact sum up to a relative 1e-16 or so).
fn dot_f64(w: &[f32], x: &[f32]) -> f64 {
    w.iter().zip(x).map(|(&a, &b)| a as f64 * b as f64).sum()
}

/// The bf16 bit pattern of `v` (truncated; any bf16 value will do for the tests).
fn bf16_bits(v: f32) -> u16 {
    (v.to_bits() >> 16) as u16
}

/// A bf16 bit pattern widened to f32, written here from the format (the upper half of an f32).
fn bf16_value(bits: u16) -> f32 {
    f32::from_bits(u32::from(bits) << 16)
}

/// Random bf16 bits for a `rows × cols` matrix, values in [-0.1, 0.1).
fn random_bf16(rng: &mut Rng, rows: usize, cols: usize) -> Vec<u16> {
    (0..rows * cols)
        .map(|_| bf16_bits(rng.uniform(-0.1, 0.1)))
        .collect()
}

/// Σ|w·x| of a bf16 row against `x`.
fn bf16_magnitude(row: &[u16], x: &[f32]) -> f64 {
    row.iter()
        .zip(x)
        .map(|(&w, &v)| (bf16_value(w) as f64 * v as f64).abs())
        .sum()
}

fn matrix(rng: &mut Rng, dtype: DType, rows: usize, cols: usize) -> WeightMatrix {
    if dtype == DType::BF16 {
        return WeightMatrix::from_bf16(rows, cols, random_bf16(rng, rows, cols)).unwrap();
    }
    match QFormat::from_dtype(dtype) {
        Some(fmt) => {
            WeightMatrix::from_blocks(dtype, rows, cols, random_blocks(rng, fmt, rows, cols))
                .unwrap()
        }
        None => {
            let data = (0..rows * cols).map(|_| rng.uniform(-0.1, 0.1)).collect();
            WeightMatrix::from_f32(rows, cols, data).unwrap()
        }
    }
}

fn assert_close(got: &[f32], want: &[f32], bound: impl Fn(usize) -> f64, what: &str) {
    assert_eq!(got.len(), want.len());
    for (r, (&g, &w)) in got.iter().zip(want).enumerate() {
        let err = (g as f64 - w as f64).abs();
        assert!(
            err <= bound(r),
            "{what}: row {r}: {g} vs {w} (|diff| {err:e} > {:e})",
            bound(r)
        );
    }
}

#[test]
fn dispatch_takes_the_best_level_the_cpu_has_unless_rfs_isa_asks_lower() {
    let best = kernels::detect();
    #[cfg(target_arch = "x86_64")]
    {
        let avx2 = is_x86_feature_detected!("avx2")
            && is_x86_feature_detected!("fma")
            && is_x86_feature_detected!("f16c");
        let want = match (avx2, is_x86_feature_detected!("avx512f")) {
            (false, _) => Isa::Scalar,
            (true, false) => Isa::Avx2,
            (true, true) => Isa::Avx512,
        };
        assert_eq!(best, want);
    }
    #[cfg(not(target_arch = "x86_64"))]
    assert_eq!(best, Isa::Scalar);
    // CI runs this file once per level (`RFS_ISA=avx512`, `avx2`, `scalar`); a level
    // above the CPU's best says visibly that its kernels did not run.
    let asked = std::env::var("RFS_ISA").unwrap_or_default();
    let asked_isa = [Isa::Scalar, Isa::Avx2, Isa::Avx512]
        .into_iter()
        .find(|isa| isa.name() == asked);
    if let Some(isa) = asked_isa.filter(|&isa| isa > best) {
        shared::fixtures::report_not_run(&format!(
            "RFS_ISA={} asks for kernels this CPU lacks: these tests ran on {}",
            isa.name(),
            best.name()
        ));
    }
    let want = asked_isa.map_or(best, |isa| isa.min(best));
    assert_eq!(kernels::isa(), want, "RFS_ISA={asked:?}");
}

#[test]
fn hand_made_blocks_follow_the_ggml_layout() {
    // Byte j: low nibble j (element j), high nibble 15 − j (element j + 16).
    let packed: Vec<u8> = (0..16u8).map(|j| j | ((15 - j) << 4)).collect();
    let mut q4_1 = [f16_bytes(0.5), f16_bytes(-1.0)].concat();
    q4_1.extend(&packed);
    let mut q4_0 = f16_bytes(2.0).to_vec();
    q4_0.extend(&packed);
    let mut q8_0 = f16_bytes(0.25).to_vec();
    q8_0.extend((0..32).map(|i| (i as i8 - 16) as u8));

    let mut row = [0.0f32; 32];
    let w = WeightMatrix::from_blocks(DType::Q4_1, 1, 32, q4_1).unwrap();
    w.row_to_f32(0, &mut row);
    for j in 0..16 {
        assert_eq!(row[j], 0.5 * j as f32 - 1.0);
        assert_eq!(row[j + 16], 0.5 * (15 - j) as f32 - 1.0);
    }
    let w = WeightMatrix::from_blocks(DType::Q4_0, 1, 32, q4_0).unwrap();
    w.row_to_f32(0, &mut row);
    for j in 0..16 {
        assert_eq!(row[j], 2.0 * (j as f32 - 8.0));
        assert_eq!(row[j + 16], 2.0 * (7 - j as i32) as f32);
    }
    let w = WeightMatrix::from_blocks(DType::Q8_0, 1, 32, q8_0).unwrap();
    w.row_to_f32(0, &mut row);
    for (i, v) in row.iter().enumerate() {
        assert_eq!(*v, 0.25 * (i as f32 - 16.0));
    }
}

#[test]
fn row_to_f32_and_to_f32_match_the_block_formula() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for fmt in FORMATS {
        let (rows, cols) = (7, 576);
        let bytes = random_blocks(&mut rng, fmt, rows, cols);
        let w = WeightMatrix::from_blocks(fmt.dtype(), rows, cols, bytes.clone()).unwrap();
        assert_eq!((w.rows(), w.cols(), w.dtype()), (rows, cols, fmt.dtype()));
        let full = w.to_f32();
        let row_bytes = bytes.len() / rows;
        let mut row = vec![0.0; cols];
        for r in 0..rows {
            let want = dequantize_row(fmt, &bytes[r * row_bytes..(r + 1) * row_bytes]);
            w.row_to_f32(r, &mut row);
            assert_eq!(row, want, "{fmt:?} row {r}");
            assert_eq!(full.row(r).to_vec(), want, "{fmt:?} to_f32 row {r}");
        }
    }
    let data: Vec<f32> = (0..6).map(|i| i as f32).collect();
    let w = WeightMatrix::from_f32(2, 3, data).unwrap();
    let mut row = [0.0; 3];
    w.row_to_f32(1, &mut row);
    assert_eq!(row, [3.0, 4.0, 5.0]);
    assert_eq!(
        w.to_f32(),
        Array2::from_shape_fn((2, 3), |(r, c)| (3 * r + c) as f32)
    );
}

#[test]
fn scalar_quantized_dot_equals_dequantized_f32_dot() {
    let mut rng = Rng(3);
    for fmt in FORMATS {
        for cols in [32, 576, 1536] {
            let row = random_blocks(&mut rng, fmt, 1, cols);
            let x = rng.activations(cols);
            let want = dot_f64(&dequantize_row(fmt, &row), &x);
            let got = match fmt {
                QFormat::Q8_0 => scalar::dot_q8_0(&row, &x),
                QFormat::Q4_0 => scalar::dot_q4_0(&row, &x),
                QFormat::Q4_1 => scalar::dot_q4_1(&row, &x),
                other => unreachable!("{other:?} is not in FORMATS"),
            };
            let bound = reorder_bound(quantized_depth(cols), magnitude(fmt, &row, &x));
            let err = (got as f64 - want).abs();
            assert!(
                err <= bound,
                "{fmt:?} cols {cols}: {got} vs {want} ({err:e} > {bound:e})"
            );
        }
    }
}

#[test]
fn matvec_equals_scalar_reference_for_every_storage_and_shape() {
    let mut rng = Rng(42);
    for (rows, cols) in SHAPES {
        let w = matrix(&mut rng, DType::F32, rows, cols);
        let x = rng.activations(cols);
        let (mut fast, mut reference) = (vec![f32::NAN; rows], vec![f32::NAN; rows]);
        w.matvec(&x, &mut fast);
        w.matvec_scalar(&x, &mut reference);
        let dense = w.to_f32();
        let bound = |r: usize| {
            let mag: f64 = dense
                .row(r)
                .iter()
                .zip(&x)
                .map(|(&a, &b)| (a as f64 * b as f64).abs())
                .sum();
            2.0 * reorder_bound(cols, mag)
        };
        assert_close(&fast, &reference, bound, &format!("F32 {rows}×{cols}"));
    }
    for fmt in FORMATS {
        for (rows, cols) in SHAPES {
            let (w, bytes) = quantized(&mut rng, fmt, rows, cols);
            let x = rng.activations(cols);
            let (mut fast, mut reference) = (vec![f32::NAN; rows], vec![f32::NAN; rows]);
            w.matvec(&x, &mut fast);
            w.matvec_scalar(&x, &mut reference);
            // Each is within depth·u·magnitude of the exact sum.
            let bound = |r: usize| {
                let mag = magnitude(fmt, row_of(&bytes, rows, r), &x);
                2.0 * reorder_bound(quantized_depth(cols), mag)
            };
            assert_close(&fast, &reference, bound, &format!("{fmt:?} {rows}×{cols}"));
        }
    }
}

#[test]
fn quantized_matvec_is_within_summation_rounding_of_the_f32_product() {
    let mut rng = Rng(99);
    for fmt in FORMATS {
        for (rows, cols) in [(7, 32), (192, 576), (192, 1536), (1001, 576)] {
            let (w, bytes) = quantized(&mut rng, fmt, rows, cols);
            let x = rng.activations(cols);
            let mut y = vec![0.0; rows];
            w.matvec(&x, &mut y);
            let want: Vec<f32> = (0..rows)
                .map(|r| dot_f64(&dequantize_row(fmt, row_of(&bytes, rows, r)), &x) as f32)
                .collect();
            // The kernel's rounding (depth·u·magnitude), the f32 rounding of each
            // dequantized weight (u·|w|) and of `want` itself: all within depth·ε·magnitude.
            let bound = |r: usize| {
                let mag = magnitude(fmt, row_of(&bytes, rows, r), &x);
                reorder_bound(quantized_depth(cols), mag) + (want[r].abs() * f32::EPSILON) as f64
            };
            assert_close(&y, &want, bound, &format!("{fmt:?} {rows}×{cols} vs f32"));
        }
    }
}

#[test]
fn quantized_matvec_agrees_with_the_io_dequantizer() {
    let mut rng = Rng(77);
    let (rows, cols) = (33, 96);
    for fmt in FORMATS {
        let (w, bytes) = quantized(&mut rng, fmt, rows, cols);
        let dense = dequantize_to_vec(fmt.dtype(), &bytes, rows * cols).unwrap();
        let formula: Vec<f32> = (0..rows)
            .flat_map(|r| dequantize_row(fmt, row_of(&bytes, rows, r)))
            .collect();
        assert_eq!(
            dense, formula,
            "{fmt:?}: io::dequantize_to_vec vs block formula"
        );
        let x = rng.activations(cols);
        let mut y = vec![0.0; rows];
        w.matvec(&x, &mut y);
        let want: Vec<f32> = dense
            .chunks_exact(cols)
            .map(|row| dot_f64(row, &x) as f32)
            .collect();
        let bound = |r: usize| {
            let mag = magnitude(fmt, row_of(&bytes, rows, r), &x);
            reorder_bound(quantized_depth(cols), mag) + (want[r].abs() * f32::EPSILON) as f64
        };
        assert_close(&y, &want, bound, &format!("{fmt:?} vs io dequantizer"));
    }
}

#[test]
fn integer_valued_products_are_exact_in_every_kernel() {
    // Power-of-two scales, integer offsets and small integer activations: every
    // product and partial sum is exact in f32, so any layout slip shows as a mismatch.
    let mut rng = Rng(13);
    let (rows, cols) = (9, 96);
    for fmt in FORMATS {
        let mut bytes = Vec::new();
        for _ in 0..rows * cols / QK {
            bytes.extend(f16_bytes([0.5, 1.0, 2.0][(rng.next_u64() % 3) as usize]));
            if fmt == QFormat::Q4_1 {
                bytes.extend(f16_bytes(-((rng.next_u64() % 9) as f32)));
            }
            let quants = if fmt == QFormat::Q8_0 { QK } else { QK / 2 };
            bytes.extend((0..quants).map(|_| rng.byte()));
        }
        let w = WeightMatrix::from_blocks(fmt.dtype(), rows, cols, bytes.clone()).unwrap();
        let x: Vec<f32> = (0..cols)
            .map(|_| (rng.next_u64() % 17) as f32 - 8.0)
            .collect();
        let want: Vec<f32> = (0..rows)
            .map(|r| dot_f64(&dequantize_row(fmt, row_of(&bytes, rows, r)), &x) as f32)
            .collect();
        let (mut fast, mut reference) = (vec![f32::NAN; rows], vec![f32::NAN; rows]);
        w.matvec(&x, &mut fast);
        w.matvec_scalar(&x, &mut reference);
        assert_eq!(fast, want, "{fmt:?} SIMD");
        assert_eq!(reference, want, "{fmt:?} scalar");
    }
}

#[test]
fn matmul_equals_one_matvec_per_input_row() {
    let mut rng = Rng(5);
    for dtype in [
        DType::F32,
        DType::BF16,
        DType::Q8_0,
        DType::Q4_0,
        DType::Q4_1,
    ] {
        // Columns not a multiple of 32 (or 8) only where the storage allows them.
        let odd = QFormat::from_dtype(dtype).is_none().then_some((5, 13));
        for (rows, cols) in [(7, 32), (192, 576), (576, 1536), (33, 96)]
            .into_iter()
            .chain(odd)
        {
            for n in [1, 2, 3, 6, 17, 35] {
                let w = matrix(&mut rng, dtype, rows, cols);
                let x = Array2::from_shape_vec((n, cols), rng.activations(n * cols)).unwrap();
                let mut y = Array2::from_elem((n, rows), f32::NAN);
                w.matmul(x.view(), y.view_mut());
                for i in 0..n {
                    let mut want = vec![0.0; rows];
                    w.matvec(x.row(i).as_slice().unwrap(), &mut want);
                    let got = y.row(i).to_vec();
                    if dtype == DType::F32 {
                        // GEMM vs dot: two orders of summing `cols` products.
                        let dense = w.to_f32();
                        let bound = |r: usize| {
                            let mag: f64 = dense
                                .row(r)
                                .iter()
                                .zip(x.row(i))
                                .map(|(&a, &b)| (a as f64 * b as f64).abs())
                                .sum();
                            2.0 * reorder_bound(cols, mag)
                        };
                        assert_close(
                            &got,
                            &want,
                            bound,
                            &format!("F32 matmul {rows}×{cols} n={n}"),
                        );
                    } else {
                        // Same inputs, same kernel: bit-identical.
                        assert_eq!(got, want, "{dtype:?} matmul {rows}×{cols} n={n} row {i}");
                    }
                }
            }
        }
    }
}

#[test]
fn multi_input_kernels_equal_the_single_input_kernels() {
    let mut rng = Rng(21);
    for fmt in FORMATS {
        for (rows, cols) in [(5, 32), (9, 576), (3, 1536)] {
            for n in [1, 2, 3, 4, 5, 8, 11] {
                let w = random_blocks(&mut rng, fmt, rows, cols);
                let x = rng.activations(n * cols);
                let (mut fast, mut reference) =
                    (vec![f32::NAN; rows * n], vec![f32::NAN; rows * n]);
                kernels::dot_rows_q_multi(fmt, &w, cols, &x, &mut fast);
                scalar::dot_rows_q_multi(fmt, &w, cols, &x, &mut reference);
                for (i, x_i) in x.chunks_exact(cols).enumerate() {
                    let (mut one, mut one_ref) = (vec![0.0; rows], vec![0.0; rows]);
                    kernels::dot_rows_q(fmt, &w, x_i, &mut one);
                    scalar::dot_rows_q(fmt, &w, x_i, &mut one_ref);
                    let what = format!("{fmt:?} {rows}×{cols} n={n} input {i}");
                    let column = |y: &[f32]| y[i * rows..(i + 1) * rows].to_vec();
                    assert_eq!(column(&fast), one, "SIMD {what}");
                    assert_eq!(column(&reference), one_ref, "scalar {what}");
                    let bound = |r: usize| {
                        let mag = magnitude(fmt, row_of(&w, rows, r), x_i);
                        2.0 * reorder_bound(quantized_depth(cols), mag)
                    };
                    assert_close(&one, &one_ref, bound, &format!("SIMD vs scalar {what}"));
                }
            }
        }
    }
}

#[test]
fn matvec_many_equals_one_matvec_per_matrix() {
    let mut rng = Rng(34);
    for dtype in [DType::F32, DType::BF16, DType::Q8_0, DType::Q4_1] {
        // Small enough to run on one thread, and large enough to split over threads.
        for (cols, sizes) in [(32, [3, 1, 2]), (576, [576, 192, 1536])] {
            let ws: Vec<WeightMatrix> = sizes
                .iter()
                .map(|&rows| matrix(&mut rng, dtype, rows, cols))
                .collect();
            let x = rng.activations(cols);
            let mut ys: Vec<Vec<f32>> = sizes.iter().map(|&r| vec![f32::NAN; r]).collect();
            {
                let [y0, y1, y2] = &mut ys[..] else {
                    unreachable!()
                };
                let mut products = [
                    (&ws[0], &mut y0[..]),
                    (&ws[1], &mut y1[..]),
                    (&ws[2], &mut y2[..]),
                ];
                matvec_many(&x, &mut products);
            }
            for (w, y) in ws.iter().zip(&ys) {
                let mut want = vec![0.0; w.rows()];
                w.matvec(&x, &mut want);
                assert_eq!(y, &want, "{dtype:?} {}×{cols}", w.rows());
            }
        }
    }
}

#[test]
fn on_worker_runs_inside_the_pool_and_returns_the_result() {
    let (inside, value) = on_worker(|| (rayon::current_thread_index().is_some(), 7));
    assert!(inside);
    assert_eq!(value, 7);
}

#[test]
fn matmul_accepts_strided_views() {
    let mut rng = Rng(8);
    let w = matrix(&mut rng, DType::Q4_1, 192, 576);
    let wide = Array2::from_shape_vec((4, 2 * 576), rng.activations(4 * 2 * 576)).unwrap();
    let x = wide.slice(ndarray::s![.., ..;2]);
    let mut y = Array2::from_elem((192, 4), f32::NAN);
    w.matmul(x, y.view_mut().reversed_axes());
    for i in 0..4 {
        let mut want = vec![0.0; 192];
        w.matvec(&x.row(i).to_vec(), &mut want);
        assert_eq!(y.column(i).to_vec(), want);
    }
}

#[test]
fn constructors_reject_bad_sizes_and_types() {
    let bytes = vec![0u8; 7 * 576 / 32 * 20];
    assert!(WeightMatrix::from_blocks(DType::Q4_1, 7, 576, bytes.clone()).is_ok());
    for (dtype, rows, cols, len) in [
        (DType::Q4_1, 7, 576, bytes.len() - 1),
        (DType::Q4_1, 7, 576, bytes.len() + 20),
        (DType::Q8_0, 7, 576, bytes.len()),
        (DType::Q4_0, 7, 40, 7 * 18 * 2),
        (DType::Q4_0, usize::MAX, 64, 36),
    ] {
        let err = WeightMatrix::from_blocks(dtype, rows, cols, vec![0; len]).unwrap_err();
        assert!(
            matches!(err, Error::InvalidArgument(_)),
            "{dtype:?} {rows}×{cols} {len}: {err}"
        );
    }
    // Plain floats and the block types without a native kernel are not blocks.
    for dtype in [
        DType::F32,
        DType::F16,
        DType::BF16,
        DType::IQ2_XXS,
        DType::TQ1_0,
        DType::MXFP4,
    ] {
        let err = WeightMatrix::from_blocks(dtype, 1, 256, vec![0; 1024]).unwrap_err();
        assert!(matches!(err, Error::Unsupported(_)), "{dtype:?}: {err}");
    }
    // A K-quant row must be whole 256-element super-blocks.
    let err = WeightMatrix::from_blocks(DType::Q4_K, 1, 128, vec![0; 72]).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
    assert!(matches!(
        WeightMatrix::from_f32(2, 3, vec![0.0; 5]),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        WeightMatrix::from_f32(usize::MAX, 2, vec![]),
        Err(Error::InvalidArgument(_))
    ));
    assert!(WeightMatrix::from_bf16(2, 3, vec![0; 6]).is_ok());
    for (rows, cols, len) in [(2, 3, 5), (2, 3, 7), (usize::MAX, 2, 0), (0, 4, 1)] {
        let err = WeightMatrix::from_bf16(rows, cols, vec![0; len]).unwrap_err();
        assert!(
            matches!(err, Error::InvalidArgument(_)),
            "bf16 {rows}×{cols} {len}: {err}"
        );
    }
}

#[test]
fn empty_inner_dimension_gives_zeros() {
    let w = WeightMatrix::from_f32(3, 0, vec![]).unwrap();
    let mut y = [f32::NAN; 3];
    w.matvec(&[], &mut y);
    assert_eq!(y, [0.0; 3]);
    let w = WeightMatrix::from_blocks(DType::Q4_1, 3, 0, vec![]).unwrap();
    let mut y = [f32::NAN; 3];
    w.matvec(&[], &mut y);
    assert_eq!(y, [0.0; 3]);
    let w = WeightMatrix::from_bf16(3, 0, vec![]).unwrap();
    let mut y = [f32::NAN; 3];
    w.matvec(&[], &mut y);
    assert_eq!(y, [0.0; 3]);
    let mut y = Array2::from_elem((2, 3), f32::NAN);
    w.matmul(Array2::zeros((2, 0)).view(), y.view_mut());
    assert_eq!(y, Array2::<f32>::zeros((2, 3)));
}

#[test]
fn debug_shows_shape_and_type_only() {
    let w = WeightMatrix::from_blocks(DType::Q4_1, 2, 64, vec![0; 2 * 2 * 20]).unwrap();
    assert_eq!(
        format!("{w:?}"),
        "WeightMatrix { rows: 2, cols: 64, dtype: Q4_1 }"
    );
    let w = WeightMatrix::from_bf16(2, 3, vec![0; 6]).unwrap();
    assert_eq!(
        format!("{w:?}"),
        "WeightMatrix { rows: 2, cols: 3, dtype: BF16 }"
    );
}

#[test]
fn bf16_row_to_f32_and_to_f32_widen_exactly() {
    // 1.0, -3.0, 0.15625, the smallest normal, -0.0, +∞.
    let bits = vec![0x3F80, 0xC040, 0x3E20, 0x0080, 0x8000, 0x7F80];
    let want = [1.0, -3.0, 0.15625, f32::MIN_POSITIVE, -0.0, f32::INFINITY];
    let w = WeightMatrix::from_bf16(2, 3, bits).unwrap();
    assert_eq!((w.rows(), w.cols(), w.dtype()), (2, 3, DType::BF16));
    let mut row = [0.0f32; 3];
    w.row_to_f32(1, &mut row);
    assert_eq!(
        row.map(f32::to_bits),
        [want[3], want[4], want[5]].map(f32::to_bits)
    );
    assert_eq!(
        w.to_f32(),
        Array2::from_shape_vec((2, 3), want.to_vec()).unwrap()
    );

    let mut rng = Rng(0xBF16);
    let (rows, cols) = (7, 576);
    let bits = random_bf16(&mut rng, rows, cols);
    let w = WeightMatrix::from_bf16(rows, cols, bits.clone()).unwrap();
    let full = w.to_f32();
    let mut row = vec![0.0; cols];
    for (r, want) in bits.chunks_exact(cols).enumerate() {
        let want: Vec<f32> = want.iter().map(|&b| bf16_value(b)).collect();
        w.row_to_f32(r, &mut row);
        assert_eq!(row, want, "row_to_f32 row {r}");
        assert_eq!(full.row(r).to_vec(), want, "to_f32 row {r}");
    }
}

#[test]
fn bf16_matvec_equals_scalar_reference_for_every_shape() {
    let mut rng = Rng(0xB16);
    for (rows, cols) in SHAPES.into_iter().chain([(5, 13), (9, 7)]) {
        let bits = random_bf16(&mut rng, rows, cols);
        let w = WeightMatrix::from_bf16(rows, cols, bits.clone()).unwrap();
        let x = rng.activations(cols);
        let (mut fast, mut reference) = (vec![f32::NAN; rows], vec![f32::NAN; rows]);
        w.matvec(&x, &mut fast);
        w.matvec_scalar(&x, &mut reference);
        let (mut kernel, mut scalar_kernel) = (vec![f32::NAN; rows], vec![f32::NAN; rows]);
        kernels::dot_rows_bf16(&bits, &x, &mut kernel);
        scalar::dot_rows_bf16(&bits, &x, &mut scalar_kernel);
        assert_eq!(fast, kernel, "matvec vs dispatching kernel {rows}×{cols}");
        assert_eq!(
            reference, scalar_kernel,
            "matvec_scalar vs scalar kernel {rows}×{cols}"
        );
        let bound = |r: usize| {
            let mag = bf16_magnitude(&bits[r * cols..(r + 1) * cols], &x);
            2.0 * reorder_bound(cols + 8, mag)
        };
        assert_close(&fast, &reference, bound, &format!("BF16 {rows}×{cols}"));
    }
}

#[test]
fn bf16_matvec_is_within_summation_rounding_of_the_f64_product() {
    let mut rng = Rng(0xF64);
    for (rows, cols) in [(7, 32), (192, 576), (192, 1536), (1001, 576), (5, 13)] {
        let bits = random_bf16(&mut rng, rows, cols);
        let w = WeightMatrix::from_bf16(rows, cols, bits.clone()).unwrap();
        let x = rng.activations(cols);
        let dense: Vec<f32> = bits.iter().map(|&b| bf16_value(b)).collect();
        let want: Vec<f32> = dense
            .chunks_exact(cols)
            .map(|row| dot_f64(row, &x) as f32)
            .collect();
        let (mut fast, mut reference) = (vec![0.0; rows], vec![0.0; rows]);
        w.matvec(&x, &mut fast);
        w.matvec_scalar(&x, &mut reference);
        // The kernel's rounding (depth·u·magnitude) and the f32 rounding of `want`.
        let bound = |r: usize| {
            let mag = bf16_magnitude(&bits[r * cols..(r + 1) * cols], &x);
            reorder_bound(cols + 8, mag) + (want[r].abs() * f32::EPSILON) as f64
        };
        let what = format!("BF16 {rows}×{cols} vs f64");
        assert_close(&fast, &want, bound, &format!("SIMD {what}"));
        assert_close(&reference, &want, bound, &format!("scalar {what}"));
    }
}

#[test]
fn integer_valued_bf16_products_are_exact_in_every_kernel() {
    // Small integers are exact in bf16 and every partial sum is exact in f32, so any
    // slip in widening or lane order shows as a mismatch.
    let mut rng = Rng(17);
    for (rows, cols) in [(9, 96), (6, 45)] {
        let bits: Vec<u16> = (0..rows * cols)
            .map(|_| bf16_bits((rng.next_u64() % 33) as f32 - 16.0))
            .collect();
        let w = WeightMatrix::from_bf16(rows, cols, bits.clone()).unwrap();
        let x: Vec<f32> = (0..cols)
            .map(|_| (rng.next_u64() % 17) as f32 - 8.0)
            .collect();
        let want: Vec<f32> = bits
            .chunks_exact(cols)
            .map(|row| {
                let row: Vec<f32> = row.iter().map(|&b| bf16_value(b)).collect();
                dot_f64(&row, &x) as f32
            })
            .collect();
        let (mut fast, mut reference) = (vec![f32::NAN; rows], vec![f32::NAN; rows]);
        w.matvec(&x, &mut fast);
        w.matvec_scalar(&x, &mut reference);
        assert_eq!(fast, want, "BF16 SIMD {rows}×{cols}");
        assert_eq!(reference, want, "BF16 scalar {rows}×{cols}");
    }
}

#[test]
fn dot_f32_kernel_equals_the_scalar_dot_within_reordering() {
    let mut rng = Rng(0x05ee_dd07);
    for n in [0, 1, 7, 8, 31, 32, 33, 64, 128, 1000] {
        let a: Vec<f32> = (0..n).map(|_| rng.uniform(-2.0, 2.0)).collect();
        let b: Vec<f32> = (0..n).map(|_| rng.uniform(-2.0, 2.0)).collect();
        let exact = dot_f64(&a, &b);
        let magnitude: f64 = a.iter().zip(&b).map(|(x, y)| (x * y).abs() as f64).sum();
        for got in [kernels::dot_f32(&a, &b), scalar::dot_f32(&a, &b)] {
            assert!(
                (got as f64 - exact).abs() <= reorder_bound(n, magnitude),
                "n {n}: {got} vs {exact}"
            );
        }
    }
}
