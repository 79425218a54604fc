//! `WeightMatrix` and the kernels behind it: SIMD against the scalar reference, batched
//! against per-vector products, and quantized products against a plain f32 reference
//! built here from the ggml block layouts.

use half::f16;
use ndarray::Array2;
use shared::io::DType;
use shared::kernels::{self, scalar, BlockQ8, Isa, QFormat, QK};
use shared::linear::WeightMatrix;
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

/// The quantized activations as the f32 values they stand for.
fn dequantize_q8(xq: &[BlockQ8]) -> Vec<f32> {
    xq.iter()
        .flat_map(|b| b.qs.map(|q| b.d * q as f32))
        .collect()
}

fn quantize(x: &[f32]) -> Vec<BlockQ8> {
    let mut xq = vec![BlockQ8::default(); x.len() / QK];
    scalar::quantize_q8(x, &mut xq);
    xq
}

/// Bound on the difference between two f32 evaluations of the same sum of `n` terms
/// in different orders: each is within n·u·Σ|terms| of the exact sum (u = ε/2).
fn reorder_bound(n: usize, magnitude: f64) -> f64 {
    n as f64 * f32::EPSILON as f64 * magnitude + 1e-30
}

/// Σ|terms| of a quantized row · x̂, counting a Q4_1 offset term apart from d·nib
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

fn matrix(rng: &mut Rng, dtype: DType, rows: usize, cols: usize) -> WeightMatrix {
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
fn dispatch_uses_avx2_when_the_cpu_has_it() {
    #[cfg(target_arch = "x86_64")]
    {
        let has = is_x86_feature_detected!("avx2")
            && is_x86_feature_detected!("fma")
            && is_x86_feature_detected!("f16c");
        assert_eq!(kernels::isa() == Isa::Avx2, has);
    }
    #[cfg(not(target_arch = "x86_64"))]
    assert_eq!(kernels::isa(), Isa::Scalar);
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
fn quantize_q8_simd_equals_scalar_bit_for_bit() {
    let mut rng = Rng(7);
    let mut x = rng.activations(1536);
    // A block whose scale is exactly 1 with ties at .5: round-half-even must agree.
    for (i, v) in x[..QK].iter_mut().enumerate() {
        *v = i as f32 - 15.5;
    }
    x[QK - 1] = 127.0;
    let want = quantize(&x);
    let mut got = vec![BlockQ8::default(); x.len() / QK];
    kernels::quantize_q8(&x, &mut got);
    assert_eq!(got, want);
    assert_eq!(&want[0].qs[..4], &[-16, -14, -14, -12]);
}

#[test]
fn quantize_q8_error_is_at_most_half_a_step() {
    let mut rng = Rng(11);
    let x = rng.activations(1536);
    let xq = quantize(&x);
    for (b, (xb, qb)) in x.chunks_exact(QK).zip(&xq).enumerate() {
        let amax = xb.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert_eq!(qb.d, amax / 127.0, "block {b}");
        assert_eq!(
            qb.s,
            qb.d * qb.qs.iter().map(|&q| q as i32).sum::<i32>() as f32
        );
        for (v, q) in xb.iter().zip(qb.qs) {
            // Half a step, plus the rounding of x·(1/d) in f32.
            assert!(
                (v - qb.d * q as f32).abs() <= qb.d * 0.5 * (1.0 + 1e-6),
                "block {b}: {v}"
            );
        }
    }
}

#[test]
fn scalar_quantized_dot_equals_dequantized_f32_dot() {
    let mut rng = Rng(3);
    for fmt in FORMATS {
        for cols in [32, 576, 1536] {
            let row = random_blocks(&mut rng, fmt, 1, cols);
            let xq = quantize(&rng.activations(cols));
            let xh = dequantize_q8(&xq);
            let w = dequantize_row(fmt, &row);
            let want: f64 = w.iter().zip(&xh).map(|(&a, &b)| a as f64 * b as f64).sum();
            let got = match fmt {
                QFormat::Q8_0 => scalar::dot_q8_0(&row, &xq),
                QFormat::Q4_0 => scalar::dot_q4_0(&row, &xq),
                QFormat::Q4_1 => scalar::dot_q4_1(&row, &xq),
            };
            // Per block: a few f32 roundings of the scale products, then one addition.
            let bound = reorder_bound(cols / QK + 4, magnitude(fmt, &row, &xh));
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
    for dtype in [DType::F32, DType::Q8_0, DType::Q4_0, DType::Q4_1] {
        for (rows, cols) in SHAPES {
            let w = matrix(&mut rng, dtype, rows, cols);
            let x = rng.activations(cols);
            let (mut fast, mut reference) = (vec![f32::NAN; rows], vec![f32::NAN; rows]);
            w.matvec(&x, &mut fast);
            w.matvec_scalar(&x, &mut reference);
            let dense = w.to_f32();
            let xh = match QFormat::from_dtype(dtype) {
                Some(_) => dequantize_q8(&quantize(&x)),
                None => x.clone(),
            };
            // Terms summed: one per column (f32) or per block (quantized); the Q4_1
            // offset products m·s are counted in the magnitude through |m|·|x̂|.
            let terms = if dtype == DType::F32 {
                cols
            } else {
                cols / QK + 4
            };
            let bound = |r: usize| {
                let mag: f64 = dense
                    .row(r)
                    .iter()
                    .zip(&xh)
                    .map(|(&a, &b)| (a as f64 * b as f64).abs())
                    .sum();
                let offsets: f64 = if dtype == DType::Q4_1 {
                    xh.iter().map(|v| v.abs() as f64).sum::<f64>() * 0.4
                } else {
                    0.0
                };
                2.0 * reorder_bound(terms, mag + offsets)
            };
            assert_close(
                &fast,
                &reference,
                bound,
                &format!("{dtype:?} {rows}×{cols}"),
            );
        }
    }
}

#[test]
fn quantized_matvec_is_within_activation_rounding_of_the_f32_product() {
    let mut rng = Rng(99);
    for fmt in FORMATS {
        for (rows, cols) in [(7, 32), (192, 576), (192, 1536)] {
            let w = matrix(&mut rng, fmt.dtype(), rows, cols);
            let x = rng.activations(cols);
            let mut y = vec![0.0; rows];
            w.matvec(&x, &mut y);
            let dense = w.to_f32();
            let xq = quantize(&x);
            let want: Vec<f32> = dense
                .rows()
                .into_iter()
                .map(|row| {
                    row.iter()
                        .zip(&x)
                        .map(|(&a, &b)| a as f64 * b as f64)
                        .sum::<f64>() as f32
                })
                .collect();
            // |x − x̂| ≤ d_x/2 per input (1e-6: f32 rounding of x·(1/d)), so
            // |W x − W x̂| ≤ Σ_blocks d_x/2 · Σ_block |w|; plus the summation error.
            let bound = |r: usize| {
                let row = dense.row(r);
                let quantization: f64 = row
                    .as_slice()
                    .unwrap()
                    .chunks_exact(QK)
                    .zip(&xq)
                    .map(|(wb, xb)| {
                        xb.d as f64
                            * 0.5
                            * (1.0 + 1e-6)
                            * wb.iter().map(|v| v.abs() as f64).sum::<f64>()
                    })
                    .sum();
                let mag: f64 = row
                    .iter()
                    .zip(&x)
                    .map(|(&a, &b)| (a as f64 * b as f64).abs())
                    .sum::<f64>()
                    + x.iter().map(|v| v.abs() as f64).sum::<f64>() * 0.4;
                quantization + 2.0 * reorder_bound(cols / QK + 4, mag)
            };
            assert_close(&y, &want, bound, &format!("{fmt:?} {rows}×{cols} vs f32"));
        }
    }
}

#[test]
fn matmul_equals_one_matvec_per_input_row() {
    let mut rng = Rng(5);
    for dtype in [DType::F32, DType::Q8_0, DType::Q4_0, DType::Q4_1] {
        for (rows, cols) in [(7, 32), (192, 576), (576, 1536), (33, 96)] {
            for n in [1, 3, 17] {
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
                        // Same quantized inputs, same kernel: bit-identical.
                        assert_eq!(got, want, "{dtype:?} matmul {rows}×{cols} n={n} row {i}");
                    }
                }
            }
        }
    }
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
    for dtype in [
        DType::F32,
        DType::F16,
        DType::BF16,
        DType::Q4_K,
        DType::Q6_K,
    ] {
        let err = WeightMatrix::from_blocks(dtype, 1, 256, vec![0; 1024]).unwrap_err();
        assert!(matches!(err, Error::Unsupported(_)), "{dtype:?}: {err}");
    }
    assert!(matches!(
        WeightMatrix::from_f32(2, 3, vec![0.0; 5]),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        WeightMatrix::from_f32(usize::MAX, 2, vec![]),
        Err(Error::InvalidArgument(_))
    ));
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
}

#[test]
fn debug_shows_shape_and_type_only() {
    let w = WeightMatrix::from_blocks(DType::Q4_1, 2, 64, vec![0; 2 * 2 * 20]).unwrap();
    assert_eq!(
        format!("{w:?}"),
        "WeightMatrix { rows: 2, cols: 64, dtype: Q4_1 }"
    );
}
