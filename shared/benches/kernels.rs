//! Matrix–vector throughput of [`WeightMatrix`] for SmolLM2-135M's layer shapes and for
//! each weight type of Qwen2.5-Coder-0.5B's Q4_K_M file, and the cost of all the products
//! of one decoded token of each.
//!
//! `cargo bench -p shared --bench kernels -- --warm-up-time 1 --measurement-time 3`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use half::f16;
use ndarray::Array2;
use shared::io::DType;
use shared::linear::WeightMatrix;
use std::hint::black_box;

/// A tiny xorshift64* generator: reproducible data without a `rand` dependency.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn uniform(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    }
}

/// Where a block of `dtype` keeps its f16 scales (Q5_0, Q4_K, Q6_K: the other formats of
/// Qwen2.5-Coder-0.5B's Q4_K_M file).
fn f16_offsets(dtype: DType) -> &'static [usize] {
    match dtype {
        DType::Q5_0 => &[0],
        DType::Q4_K => &[0, 2],
        DType::Q6_K => &[208],
        other => panic!("no scale offsets for {other:?}"),
    }
}

/// A random `rows × cols` matrix stored as `dtype` (F32, Q8_0, Q4_0, Q4_1, Q5_0, Q4_K or
/// Q6_K): random bytes with small f16 scales.
fn matrix(rng: &mut Rng, dtype: DType, rows: usize, cols: usize) -> WeightMatrix {
    if dtype == DType::F32 {
        let data = (0..rows * cols).map(|_| rng.uniform()).collect();
        return WeightMatrix::from_f32(rows, cols, data).unwrap();
    }
    if matches!(dtype, DType::Q5_0 | DType::Q4_K | DType::Q6_K) {
        let mut bytes: Vec<u8> = (0..dtype.bytes_for(rows * cols).unwrap())
            .map(|_| rng.next_u64() as u8)
            .collect();
        for block in bytes.chunks_exact_mut(dtype.block_bytes()) {
            for &at in f16_offsets(dtype) {
                block[at..at + 2].copy_from_slice(&f16::from_f32(0.01).to_le_bytes());
            }
        }
        return WeightMatrix::from_blocks(dtype, rows, cols, bytes).unwrap();
    }
    let blocks = rows * cols / 32;
    let header = if dtype == DType::Q4_1 { 4 } else { 2 };
    let mut bytes = Vec::with_capacity(blocks * dtype.block_bytes());
    for _ in 0..blocks {
        bytes.extend(f16::from_f32(0.01).to_le_bytes());
        if header == 4 {
            bytes.extend(f16::from_f32(-0.08).to_le_bytes());
        }
        bytes.extend((header..dtype.block_bytes()).map(|_| rng.next_u64() as u8));
    }
    WeightMatrix::from_blocks(dtype, rows, cols, bytes).unwrap()
}

fn weight_bytes(dtype: DType, rows: usize, cols: usize) -> u64 {
    dtype.bytes_for(rows * cols).unwrap() as u64
}

/// One matvec per SmolLM2 shape (rows × cols = outputs × inputs) and storage type.
fn matvec_shapes(c: &mut Criterion) {
    let mut rng = Rng(0x5EED);
    let mut group = c.benchmark_group("matvec");
    for (rows, cols) in [(576, 1536), (1536, 576), (49152, 576)] {
        let x: Vec<f32> = (0..cols).map(|_| rng.uniform()).collect();
        let mut y = vec![0.0; rows];
        for dtype in [DType::F32, DType::Q8_0, DType::Q4_1] {
            let w = matrix(&mut rng, dtype, rows, cols);
            group.throughput(Throughput::Bytes(weight_bytes(dtype, rows, cols)));
            let id = BenchmarkId::new(format!("{dtype:?}"), format!("{rows}x{cols}"));
            group.bench_function(id, |b| b.iter(|| w.matvec(black_box(&x), &mut y)));
        }
        let w = matrix(&mut rng, DType::Q4_1, rows, cols);
        group.throughput(Throughput::Bytes(weight_bytes(DType::Q4_1, rows, cols)));
        let id = BenchmarkId::new("Q4_1-scalar", format!("{rows}x{cols}"));
        group.bench_function(id, |b| b.iter(|| w.matvec_scalar(black_box(&x), &mut y)));
    }
    group.finish();
}

/// A prefill-sized batch (`n` inputs) through each SmolLM2 shape: what the multi-input
/// kernels speed up over one matvec per input.
fn matmul_shapes(c: &mut Criterion) {
    let mut rng = Rng(0xBA7C);
    let mut group = c.benchmark_group("matmul");
    group.sample_size(20);
    let n = 64;
    for (rows, cols, dtype) in [
        (1536, 576, DType::Q4_1),
        (576, 1536, DType::Q4_1),
        (8192, 576, DType::Q8_0),
    ] {
        let x = Array2::from_shape_fn((n, cols), |_| rng.uniform());
        let mut y = Array2::zeros((n, rows));
        let w = matrix(&mut rng, dtype, rows, cols);
        group.throughput(Throughput::Elements((n * rows * cols) as u64));
        let id = BenchmarkId::new(format!("{dtype:?}"), format!("{n}x{rows}x{cols}"));
        group.bench_function(id, |b| {
            b.iter(|| w.matmul(black_box(x.view()), y.view_mut()))
        });
    }
    group.finish();
}

/// Every product of one decoded SmolLM2-135M token, each layer with its own matrices so
/// the weights stream from memory as in real decoding: 30 × (q, k, v, o, gate, up, down)
/// in `layer_dtype`, then the 49152 × 576 lm_head in Q8_0 (F32 when layers are F32).
fn smollm2_token(c: &mut Criterion) {
    let mut rng = Rng(0x70CE);
    let mut group = c.benchmark_group("smollm2_token");
    group.sample_size(20);
    for layer_dtype in [DType::Q4_1, DType::F32] {
        let head_dtype = if layer_dtype == DType::F32 {
            DType::F32
        } else {
            DType::Q8_0
        };
        let shapes = [
            (576, 576),
            (192, 576),
            (192, 576),
            (576, 576),
            (1536, 576),
            (1536, 576),
            (576, 1536),
        ];
        let layers: Vec<Vec<WeightMatrix>> = (0..30)
            .map(|_| {
                shapes
                    .iter()
                    .map(|&(r, c)| matrix(&mut rng, layer_dtype, r, c))
                    .collect()
            })
            .collect();
        let head = matrix(&mut rng, head_dtype, 49152, 576);
        let bytes = 30
            * shapes
                .iter()
                .map(|&(r, c)| weight_bytes(layer_dtype, r, c))
                .sum::<u64>()
            + weight_bytes(head_dtype, 49152, 576);
        let x576: Vec<f32> = (0..576).map(|_| rng.uniform()).collect();
        let x1536: Vec<f32> = (0..1536).map(|_| rng.uniform()).collect();
        let mut y = vec![0.0; 49152];
        group.throughput(Throughput::Bytes(bytes));
        group.bench_function(format!("{layer_dtype:?}"), |b| {
            b.iter(|| {
                for layer in &layers {
                    for w in layer {
                        let x = if w.cols() == 576 { &x576 } else { &x1536 };
                        w.matvec(black_box(x), &mut y[..w.rows()]);
                    }
                }
                head.matvec(black_box(&x576), &mut y);
            })
        });
    }
    group.finish();
}

/// One product per weight type of Qwen2.5-Coder-0.5B's Q4_K_M file, at its shapes:
/// the kernels' throughput in weights per second.
fn qwen25_matvec(c: &mut Criterion) {
    let mut rng = Rng(0x0525);
    let mut group = c.benchmark_group("qwen25_matvec");
    for (dtype, rows, cols) in [
        (DType::Q5_0, 4864, 896),
        (DType::Q8_0, 4864, 896),
        (DType::Q4_K, 896, 4864),
        (DType::Q6_K, 896, 4864),
    ] {
        let x: Vec<f32> = (0..cols).map(|_| rng.uniform()).collect();
        let mut y = vec![0.0; rows];
        let w = matrix(&mut rng, dtype, rows, cols);
        group.throughput(Throughput::Elements((rows * cols) as u64));
        let id = BenchmarkId::new(format!("{dtype:?}"), format!("{rows}x{cols}"));
        group.bench_function(id, |b| b.iter(|| w.matvec(black_box(&x), &mut y)));
    }
    group.finish();
}

/// Every product of one decoded Qwen2.5-Coder-0.5B token in its Q4_K_M file's types, each
/// layer with its own matrices (490 MB, streamed from memory as in real decoding):
/// 24 × (q, k, o, gate, up in Q5_0; v in Q8_0; down in Q6_K and Q4_K on alternate
/// layers), then the 151936 × 896 output layer in Q8_0.
fn qwen25_token(c: &mut Criterion) {
    let mut rng = Rng(0x0526);
    let mut group = c.benchmark_group("qwen25_token");
    group.sample_size(10);
    let layers: Vec<Vec<WeightMatrix>> = (0..24)
        .map(|l| {
            let down = if l % 2 == 0 { DType::Q6_K } else { DType::Q4_K };
            [
                (DType::Q5_0, 896, 896),
                (DType::Q5_0, 128, 896),
                (DType::Q8_0, 128, 896),
                (DType::Q5_0, 896, 896),
                (DType::Q5_0, 4864, 896),
                (DType::Q5_0, 4864, 896),
                (down, 896, 4864),
            ]
            .iter()
            .map(|&(dtype, r, c)| matrix(&mut rng, dtype, r, c))
            .collect()
        })
        .collect();
    let head = matrix(&mut rng, DType::Q8_0, 151936, 896);
    let weights = layers.iter().flatten().chain([&head]);
    let elements: usize = weights.map(|w| w.rows() * w.cols()).sum();
    let x896: Vec<f32> = (0..896).map(|_| rng.uniform()).collect();
    let x4864: Vec<f32> = (0..4864).map(|_| rng.uniform()).collect();
    let mut y = vec![0.0; 151936];
    group.throughput(Throughput::Elements(elements as u64));
    group.bench_function("Q4_K_M", |b| {
        b.iter(|| {
            shared::linear::on_worker(|| {
                for w in layers.iter().flatten() {
                    let x = if w.cols() == 896 { &x896 } else { &x4864 };
                    w.matvec(black_box(x), &mut y[..w.rows()]);
                }
                head.matvec(black_box(&x896), &mut y);
            })
        })
    });
    group.finish();
}

criterion_group!(
    benches,
    matvec_shapes,
    matmul_shapes,
    smollm2_token,
    qwen25_matvec,
    qwen25_token
);
criterion_main!(benches);
