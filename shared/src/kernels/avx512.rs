//! AVX-512 kernels for the quantized formats: dequantize(W)·x with 16 f32 lanes and
//! 32 vector registers.
//!
//! Each block's 32 weights are dequantized in two 16-lane registers (`d·q`, `d·(nib − 8)`,
//! `d·nib + m`: the values ggml's dequantizer gives), then multiplied into two
//! accumulators by FMA: two instructions per block and input, against six in
//! [`super::avx2`], which scales each block's partial sum instead. The multi-input
//! kernels keep the accumulators of eight inputs and the dequantized block in registers
//! at once. The additions happen in another order than in the AVX2 and scalar kernels,
//! so results differ from theirs in the last bits; within this module every
//! (row, input) pair gets the same float operations, whichever kernel and grouping
//! computed it.
//!
//! Every function here is `unsafe` because it is compiled for AVX-512F (plus AVX2, FMA
//! and F16C): callers must have checked that the CPU has them (see [`super::isa`]).

use std::arch::x86_64::*;

use super::QK;

/// The target features every function here is compiled for.
macro_rules! avx512 {
    ($($item:item)*) => {
        $(
            #[target_feature(enable = "avx512f,avx2,fma,f16c")]
            $item
        )*
    };
}

/// One block's 32 weights, dequantized, as 2 × 16 f32 lanes.
#[derive(Clone, Copy)]
struct WBlock([__m512; 2]);

/// The running sums of one (row, input) pair: lanes of the first and of the second
/// half of every block.
type Acc = [__m512; 2];

/// A zeroed [`Acc`].
const fn zero_acc() -> Acc {
    // SAFETY: an all-zero bit pattern is 0.0 in every lane.
    unsafe { std::mem::transmute([0u8; 128]) }
}

avx512! {
    /// Sum of the 16 lanes: the two halves added, then the 8 lanes pairwise.
    #[inline]
    fn hsum(v: __m512) -> f32 {
        let h = _mm256_add_ps(_mm512_castps512_ps256(v), upper_half(v));
        let s4 = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps::<1>(h));
        let s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
        let s1 = _mm_add_ss(s2, _mm_shuffle_ps::<0b01>(s2, s2));
        _mm_cvtss_f32(s1)
    }

    /// The upper 8 lanes of `v` (AVX-512F alone has no `extractf32x8`, so through the
    /// integer view).
    #[inline]
    fn upper_half(v: __m512) -> __m256 {
        _mm256_castsi256_ps(_mm512_extracti64x4_epi64::<1>(_mm512_castps_si512(v)))
    }

    /// `acc += w·x` lane-wise for one dequantized block and the 32 activations at `x`.
    /// Every kernel here goes through this, so a (row, input) pair always sees the
    /// same float operations.
    ///
    /// # Safety
    /// `x` must point to 32 readable floats.
    #[inline]
    unsafe fn block_dot(wb: &WBlock, x: *const f32, acc: &mut Acc) {
        // SAFETY: the caller guarantees 32 floats at `x`; `loadu` is unaligned.
        let (x0, x1) = unsafe { (_mm512_loadu_ps(x), _mm512_loadu_ps(x.add(16))) };
        acc[0] = _mm512_fmadd_ps(wb.0[0], x0, acc[0]);
        acc[1] = _mm512_fmadd_ps(wb.0[1], x1, acc[1]);
    }

    /// The dot product an [`Acc`] holds.
    #[inline]
    fn finish(acc: Acc) -> f32 {
        hsum(_mm512_add_ps(acc[0], acc[1]))
    }

    /// The f16 at `b[at..at + 2]` as f32, in all 16 lanes.
    #[inline]
    fn f16_splat(b: &[u8], at: usize) -> __m512 {
        let bits = u16::from_le_bytes([b[at], b[at + 1]]);
        _mm512_broadcastss_ps(_mm_cvtph_ps(_mm_cvtsi32_si128(i32::from(bits))))
    }

    /// 16 packed bytes → the 32 nibbles as i32 lanes in element order: elements 0..16
    /// are the low nibbles, 16..32 the high nibbles.
    #[inline]
    fn nibbles_i32(packed: &[u8]) -> [__m512i; 2] {
        assert!(packed.len() >= 16);
        // SAFETY: `packed` holds at least 16 bytes (checked above); `loadu` is unaligned.
        let bytes = unsafe { _mm_loadu_si128(packed.as_ptr().cast()) };
        let wide = _mm512_cvtepu8_epi32(bytes);
        [_mm512_and_si512(wide, _mm512_set1_epi32(0x0F)), _mm512_srli_epi32::<4>(wide)]
    }

    /// One Q8_0 block (34 bytes): d·q.
    #[inline]
    fn expand_q8_0(b: &[u8]) -> WBlock {
        assert!(b.len() >= 34);
        let d = f16_splat(b, 0);
        WBlock(std::array::from_fn(|k| {
            // SAFETY: `b` holds at least 34 bytes (checked above); the quants are bytes
            // 2..34, so the 16 bytes at 2 + 16k (k < 2) are in bounds.
            let q = unsafe { _mm_loadu_si128(b.as_ptr().add(2 + 16 * k).cast()) };
            _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q)))
        }))
    }

    /// One Q4_0 block (18 bytes): d·(nib − 8).
    #[inline]
    fn expand_q4_0(b: &[u8]) -> WBlock {
        let (d, eight) = (f16_splat(b, 0), _mm512_set1_epi32(8));
        WBlock(nibbles_i32(&b[2..]).map(|n| {
            _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_sub_epi32(n, eight)))
        }))
    }

    /// One Q4_1 block (20 bytes): d·nib + m.
    #[inline]
    fn expand_q4_1(b: &[u8]) -> WBlock {
        let (d, m) = (f16_splat(b, 0), f16_splat(b, 2));
        WBlock(nibbles_i32(&b[4..]).map(|n| _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(n), m)))
    }

    /// Asks the CPU to start loading the first `len` bytes of `bytes` (or all of it).
    #[inline]
    fn prefetch(bytes: &[u8], len: usize) {
        let bytes = &bytes[..len.min(bytes.len())];
        for line in bytes.chunks(64) {
            // A hint that never faults; the pointer is inside `bytes` anyway.
            _mm_prefetch::<_MM_HINT_T0>(line.as_ptr().cast());
        }
    }
}

/// How many groups of rows ahead the single-input kernels prefetch.
const PREFETCH_GROUPS: usize = 2;

/// Defines `$name(w, x, y)`: `y[r] = w[r] · x` for consecutive rows of `$bytes`-byte
/// blocks, four rows at a time (eight independent accumulator chains); and
/// `$multi(w, cols, x, y)`, the same products for several inputs, each weight block
/// dequantized once for up to eight inputs.
macro_rules! quantized_rows {
    ($(#[$doc:meta])* $name:ident, $(#[$mdoc:meta])* $multi:ident, $bytes:literal, $expand:ident) => {
        $(#[$doc])*
        ///
        /// # Safety
        /// The CPU must support AVX-512F, AVX2, FMA and F16C.
        #[target_feature(enable = "avx512f,avx2,fma,f16c")]
        pub unsafe fn $name(w: &[u8], x: &[f32], y: &mut [f32]) {
            const ROWS: usize = 4;
            let blocks = x.len() / QK;
            let row_bytes = blocks * $bytes;
            assert!(w.len() >= row_bytes * y.len(), "{}: w too short", stringify!($name));
            let group_bytes = ROWS * row_bytes;
            for (g, out) in y.chunks_exact_mut(ROWS).enumerate() {
                prefetch(w.get((g + PREFETCH_GROUPS) * group_bytes..).unwrap_or(&[]), group_bytes);
                let group = &w[g * group_bytes..][..group_bytes];
                let mut acc = [zero_acc(); ROWS];
                for (j, xb) in x.chunks_exact(QK).enumerate() {
                    for (k, acc_k) in acc.iter_mut().enumerate() {
                        let wb = $expand(&group[(k * blocks + j) * $bytes..][..$bytes]);
                        // SAFETY: `xb` is 32 floats.
                        unsafe { block_dot(&wb, xb.as_ptr(), acc_k) };
                    }
                }
                for (o, a) in out.iter_mut().zip(acc) {
                    *o = finish(a);
                }
            }
            let done = y.len() / ROWS * ROWS;
            for (r, out) in y.iter_mut().enumerate().skip(done) {
                let row = &w[r * row_bytes..][..row_bytes];
                let mut acc = zero_acc();
                for (b, xb) in row.chunks_exact($bytes).zip(x.chunks_exact(QK)) {
                    // SAFETY: `xb` is 32 floats.
                    unsafe { block_dot(&$expand(b), xb.as_ptr(), &mut acc) };
                }
                *out = finish(acc);
            }
        }

        $(#[$mdoc])*
        ///
        /// `x` holds `n` inputs of `cols` values back to back and `y` is `n × rows`
        /// (`y[i·rows + r] = w[r] · x_i`); `w` holds `rows` rows of `cols / 32` blocks.
        /// `y[i·rows + r]` is bit-identical to what the single-input kernel gives for `x_i`.
        ///
        /// # Safety
        /// The CPU must support AVX-512F, AVX2, FMA and F16C.
        #[target_feature(enable = "avx512f,avx2,fma,f16c")]
        pub unsafe fn $multi(w: &[u8], cols: usize, x: &[f32], y: &mut [f32]) {
            /// `out[i · stride] = row · x_i` for the `N` inputs in `x` (`N · cols` values), one
            /// dequantization per block.
            #[inline]
            #[target_feature(enable = "avx512f,avx2,fma,f16c")]
            fn row_times<const N: usize>(row: &[u8], x: &[f32], out: &mut [f32], stride: usize) {
                let blocks = row.len() / $bytes;
                assert!(
                    x.len() >= N * blocks * QK && out.len() > (N - 1) * stride,
                    "row_times: inputs shorter than the row"
                );
                let mut acc = [zero_acc(); N];
                for (j, b) in row.chunks_exact($bytes).enumerate() {
                    let wb = $expand(b);
                    for (i, acc_i) in acc.iter_mut().enumerate() {
                        // SAFETY: `(i · blocks + j) · 32 + 32 ≤ N · blocks · 32 ≤ x.len()`
                        // (checked above).
                        unsafe { block_dot(&wb, x.as_ptr().add((i * blocks + j) * QK), acc_i) };
                    }
                }
                for (k, a) in acc.into_iter().enumerate() {
                    out[k * stride] = finish(a);
                }
            }
            const INPUTS: usize = 8;
            let n = x.len().checked_div(cols).unwrap_or(0);
            let row_bytes = cols / QK * $bytes;
            let rows = y.len().checked_div(n).unwrap_or(0);
            assert!(
                cols % QK == 0 && x.len() == n * cols && y.len() == rows * n && w.len() >= rows * row_bytes,
                "{}: shape mismatch", stringify!($multi)
            );
            if n == 0 || cols == 0 {
                y.fill(0.0);
                return;
            }
            let mut i = 0;
            while i < n {
                let m = (n - i).min(INPUTS);
                let x_g = &x[i * cols..(i + m) * cols];
                for (r, row) in w.chunks_exact(row_bytes).take(rows).enumerate() {
                    let out = &mut y[i * rows + r..];
                    match m {
                        8 => row_times::<8>(row, x_g, out, rows),
                        7 => row_times::<7>(row, x_g, out, rows),
                        6 => row_times::<6>(row, x_g, out, rows),
                        5 => row_times::<5>(row, x_g, out, rows),
                        4 => row_times::<4>(row, x_g, out, rows),
                        3 => row_times::<3>(row, x_g, out, rows),
                        2 => row_times::<2>(row, x_g, out, rows),
                        _ => row_times::<1>(row, x_g, out, rows),
                    }
                }
                i += m;
            }
        }
    };
}

quantized_rows!(
    /// `y[r] = w[r] · x` for consecutive Q8_0 rows of `x.len() / 32` blocks.
    dot_rows_q8_0,
    /// Q8_0 rows times several inputs.
    dot_rows_q8_0_multi, 34, expand_q8_0
);
quantized_rows!(
    /// `y[r] = w[r] · x` for consecutive Q4_0 rows of `x.len() / 32` blocks.
    dot_rows_q4_0,
    /// Q4_0 rows times several inputs.
    dot_rows_q4_0_multi, 18, expand_q4_0
);
quantized_rows!(
    /// `y[r] = w[r] · x` for consecutive Q4_1 rows of `x.len() / 32` blocks.
    dot_rows_q4_1,
    /// Q4_1 rows times several inputs.
    dot_rows_q4_1_multi, 20, expand_q4_1
);
