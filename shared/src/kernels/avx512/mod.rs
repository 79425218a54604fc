//! AVX-512 kernels for the quantized formats: dequantize(W)·x with 16 f32 lanes and
//! 32 vector registers.
//!
//! One generic kernel serves every format. A format says how to read a block's header
//! (its scales, once per block) and how to expand any 16 of its weights into one
//! register of f32 lanes, the values ggml's dequantizer gives (`formats`). The kernel
//! multiplies each expanded group into one of two accumulators by FMA (groups
//! alternate between them); a format whose block shares one scale (Q8_0, Q4_0, Q5_0,
//! IQ4_NL) gives its groups without the scale, and the kernel sums a block's products
//! before multiplying by it once (blocks alternate between the accumulators). Either
//! way a (row, input) pair always sees the same float operations, whichever kernel and
//! grouping computed it: the multi-input kernel is bit-identical to the single-input
//! one. The additions happen in another order than in the AVX2 and scalar kernels, so
//! results differ from theirs in the last bits.
//!
//! The single-input kernel walks four rows side by side and prefetches the rows two
//! steps ahead a share per block (`super::prefetch`).
//!
//! Every function here is `unsafe` because it is compiled for AVX-512F (plus AVX2, FMA
//! and F16C): callers must have checked that the CPU has them (see [`super::isa`]).

use std::arch::x86_64::*;

use super::prefetch::{prefetch_share, GROUPS_AHEAD};
use super::QFormat;

mod formats;

/// A block format as the AVX-512 kernels read it.
trait Format {
    /// Elements per block (a multiple of 16).
    const LEN: usize;
    /// Bytes per block.
    const BYTES: usize;
    /// What the kernels read once per block (scales, mins, high bits).
    type Header: Copy;

    /// The header of `block`.
    ///
    /// # Safety
    /// The CPU must support AVX-512F, AVX2, FMA and F16C; `block` holds `BYTES` bytes.
    unsafe fn header(block: &[u8]) -> Self::Header;

    /// Whether every weight of a block shares one scale (Q8_0, Q4_0, Q5_0, IQ4_NL): then
    /// [`Format::group`] gives the weights without it, the kernel sums the block's
    /// products first and multiplies the sum by [`Format::shared_scale`] once.
    const SHARED_SCALE: bool = false;

    /// The scale shared by the whole block, in all lanes (formats with
    /// [`Format::SHARED_SCALE`] only).
    ///
    /// # Safety
    /// As for [`Format::header`], and `h` is a block's header.
    unsafe fn shared_scale(_h: &Self::Header) -> __m512 {
        unreachable!("only formats with SHARED_SCALE have a shared scale")
    }

    /// Weights `16·g .. 16·g + 16` of `block` (`g < LEN / 16`), dequantized (without
    /// the shared scale, for a format with [`Format::SHARED_SCALE`]).
    ///
    /// # Safety
    /// As for [`Format::header`], and `h` is `block`'s header.
    unsafe fn group(block: &[u8], h: &Self::Header, g: usize) -> __m512;
}

/// The running sums of one (row, input) pair: even and odd groups of 16.
type Acc = [__m512; 2];

/// A zeroed [`Acc`].
const fn zero_acc() -> Acc {
    // SAFETY: an all-zero bit pattern is 0.0 in every lane.
    unsafe { std::mem::transmute([0u8; 128]) }
}

/// The target features every function here is compiled for.
macro_rules! avx512 {
    ($($item:item)*) => {
        $(
            #[target_feature(enable = "avx512f,avx2,fma,f16c")]
            $item
        )*
    };
}
pub(super) use avx512;

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

    /// The dot product an [`Acc`] holds.
    #[inline]
    fn finish(acc: Acc) -> f32 {
        hsum(_mm512_add_ps(acc[0], acc[1]))
    }

    /// `acc[g % 2] += w · x[16g..16g + 16]`: one expanded group against its activations.
    ///
    /// # Safety
    /// `x` must point to 16 readable floats.
    #[inline]
    unsafe fn group_dot(w: __m512, x: *const f32, g: usize, acc: &mut Acc) {
        // SAFETY: the caller guarantees 16 floats at `x`; `loadu` is unaligned.
        let xv = unsafe { _mm512_loadu_ps(x) };
        acc[g % 2] = _mm512_fmadd_ps(w, xv, acc[g % 2]);
    }

    /// `acc += block · x` for block `j` of a row (`x` its `F::LEN` activations). A format
    /// with a shared scale sums its groups' products (the first multiplied, the rest
    /// by FMA), then adds the sum times the scale into `acc[j % 2]`; any other format
    /// adds group by group ([`group_dot`]). These are the operations every kernel here
    /// does for a (row, block) pair; the four-row loop and the multi-input kernel only
    /// interleave them differently, so a (row, input) pair always gets the same result.
    ///
    /// # Safety
    /// `block` holds `F::BYTES` bytes, `h` is its header and `x` points to `F::LEN`
    /// readable floats.
    #[inline]
    unsafe fn block_dot<F: Format>(block: &[u8], h: &F::Header, x: *const f32, j: usize, acc: &mut Acc) {
        // SAFETY: the caller's guarantees, passed on; `16g + 16 <= F::LEN`.
        unsafe {
            if F::SHARED_SCALE {
                let mut sum = _mm512_mul_ps(F::group(block, h, 0), _mm512_loadu_ps(x));
                for g in 1..F::LEN / 16 {
                    let xv = _mm512_loadu_ps(x.add(16 * g));
                    sum = _mm512_fmadd_ps(F::group(block, h, g), xv, sum);
                }
                acc[j % 2] = _mm512_fmadd_ps(sum, F::shared_scale(h), acc[j % 2]);
            } else {
                for g in 0..F::LEN / 16 {
                    group_dot(F::group(block, h, g), x.add(16 * g), g, acc);
                }
            }
        }
    }

    /// `y[r] = w[r] · x` for consecutive rows of `F` blocks, four rows at a time (eight
    /// independent accumulator chains), then the remaining rows one by one.
    ///
    /// # Safety
    /// The CPU must support AVX-512F, AVX2, FMA and F16C.
    unsafe fn dot_rows<F: Format>(w: &[u8], x: &[f32], y: &mut [f32]) {
        const ROWS: usize = 4;
        let blocks = x.len() / F::LEN;
        let row_bytes = blocks * F::BYTES;
        assert!(
            x.len().is_multiple_of(F::LEN) && w.len() >= row_bytes * y.len(),
            "dot_rows: shape mismatch"
        );
        let group_bytes = ROWS * row_bytes;
        let step = ROWS * F::BYTES;
        for (gi, out) in y.chunks_exact_mut(ROWS).enumerate() {
            let ahead = (gi + GROUPS_AHEAD) * group_bytes;
            let rows = &w[gi * group_bytes..][..group_bytes];
            let mut acc = [zero_acc(); ROWS];
            for (j, xb) in x.chunks_exact(F::LEN).enumerate() {
                prefetch_share(w, ahead + j * step, step);
                // Plain arrays, no `array::from_fn`: its closure would not inline here.
                let block = |k: usize| &rows[(k * blocks + j) * F::BYTES..][..F::BYTES];
                let bs: [&[u8]; ROWS] = [block(0), block(1), block(2), block(3)];
                // SAFETY: each block slice holds `F::BYTES` bytes.
                let hs = unsafe {
                    [F::header(bs[0]), F::header(bs[1]), F::header(bs[2]), F::header(bs[3])]
                };
                if F::SHARED_SCALE {
                    for k in 0..ROWS {
                        // SAFETY: as above; `xb` holds `F::LEN` floats.
                        unsafe { block_dot::<F>(bs[k], &hs[k], xb.as_ptr(), j, &mut acc[k]) };
                    }
                } else {
                    // The same operations as `block_dot`, groups outermost: the four rows
                    // share each load of `x`.
                    for g in 0..F::LEN / 16 {
                        for k in 0..ROWS {
                            // SAFETY: as above; `16g + 16 <= F::LEN = xb.len()`.
                            unsafe {
                                let wv = F::group(bs[k], &hs[k], g);
                                group_dot(wv, xb.as_ptr().add(16 * g), g, &mut acc[k]);
                            }
                        }
                    }
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
            for (j, (b, xb)) in row.chunks_exact(F::BYTES).zip(x.chunks_exact(F::LEN)).enumerate() {
                // SAFETY: `b` holds `F::BYTES` bytes, `xb` `F::LEN` floats.
                unsafe { block_dot::<F>(b, &F::header(b), xb.as_ptr(), j, &mut acc) };
            }
            *out = finish(acc);
        }
    }

    /// `out[i · stride] = row · x_i` for the `N` inputs in `x` (`N` inputs of the row's
    /// length, back to back), each block expanded once for all of them.
    ///
    /// # Safety
    /// The CPU must support AVX-512F, AVX2, FMA and F16C.
    #[inline]
    unsafe fn row_times<F: Format, const N: usize>(
        row: &[u8],
        x: &[f32],
        out: &mut [f32],
        stride: usize,
    ) {
        let blocks = row.len() / F::BYTES;
        let cols = blocks * F::LEN;
        assert!(
            x.len() >= N * cols && out.len() > (N - 1) * stride,
            "row_times: inputs shorter than the row"
        );
        let mut acc = [zero_acc(); N];
        for (j, b) in row.chunks_exact(F::BYTES).enumerate() {
            // SAFETY: `b` holds `F::BYTES` bytes.
            let h = unsafe { F::header(b) };
            if F::SHARED_SCALE {
                // `block_dot`'s operations, each group expanded once for every input.
                let mut sums = [_mm512_setzero_ps(); N];
                for g in 0..F::LEN / 16 {
                    // SAFETY: as above.
                    let wv = unsafe { F::group(b, &h, g) };
                    for (i, sum) in sums.iter_mut().enumerate() {
                        // SAFETY: `i · cols + j · LEN + 16g + 16 <= N · cols <= x.len()`.
                        let xv = unsafe { _mm512_loadu_ps(x.as_ptr().add(i * cols + j * F::LEN + 16 * g)) };
                        *sum = if g == 0 { _mm512_mul_ps(wv, xv) } else { _mm512_fmadd_ps(wv, xv, *sum) };
                    }
                }
                // SAFETY: as above.
                let d = unsafe { F::shared_scale(&h) };
                for (acc_i, sum) in acc.iter_mut().zip(sums) {
                    acc_i[j % 2] = _mm512_fmadd_ps(sum, d, acc_i[j % 2]);
                }
            } else {
                for g in 0..F::LEN / 16 {
                    // SAFETY: as above.
                    let wv = unsafe { F::group(b, &h, g) };
                    for (i, acc_i) in acc.iter_mut().enumerate() {
                        // SAFETY: `i · cols + j · LEN + 16g + 16 <= N · cols <= x.len()`.
                        unsafe {
                            group_dot(wv, x.as_ptr().add(i * cols + j * F::LEN + 16 * g), g, acc_i)
                        };
                    }
                }
            }
        }
        for (k, a) in acc.into_iter().enumerate() {
            out[k * stride] = finish(a);
        }
    }

    /// `y[i·rows + r] = w[r] · x_i` for `n` inputs of `cols` values back to back in `x`
    /// (`y` is `n × rows`), up to eight inputs per pass over the weights. Bit-identical
    /// to [`dot_rows`] of each input.
    ///
    /// # Safety
    /// The CPU must support AVX-512F, AVX2, FMA and F16C.
    unsafe fn dot_rows_multi<F: Format>(w: &[u8], cols: usize, x: &[f32], y: &mut [f32]) {
        const INPUTS: usize = 8;
        let n = x.len().checked_div(cols).unwrap_or(0);
        let row_bytes = cols / F::LEN * F::BYTES;
        let rows = y.len().checked_div(n).unwrap_or(0);
        assert!(
            cols.is_multiple_of(F::LEN) && x.len() == n * cols && y.len() == rows * n && w.len() >= rows * row_bytes,
            "dot_rows_multi: shape mismatch"
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
                // SAFETY: same target features as this function.
                unsafe {
                    match m {
                        8 => row_times::<F, 8>(row, x_g, out, rows),
                        7 => row_times::<F, 7>(row, x_g, out, rows),
                        6 => row_times::<F, 6>(row, x_g, out, rows),
                        5 => row_times::<F, 5>(row, x_g, out, rows),
                        4 => row_times::<F, 4>(row, x_g, out, rows),
                        3 => row_times::<F, 3>(row, x_g, out, rows),
                        2 => row_times::<F, 2>(row, x_g, out, rows),
                        _ => row_times::<F, 1>(row, x_g, out, rows),
                    }
                }
            }
            i += m;
        }
    }
}

/// Calls `$kernel::<format type>($args)` for the runtime format `$fmt`.
macro_rules! with_format {
    ($fmt:expr, $kernel:ident($($arg:expr),*)) => {
        match $fmt {
            QFormat::Q8_0 => $kernel::<formats::Q8_0>($($arg),*),
            QFormat::Q4_0 => $kernel::<formats::Q4_0>($($arg),*),
            QFormat::Q4_1 => $kernel::<formats::Q4_1>($($arg),*),
            QFormat::Q5_0 => $kernel::<formats::Q5_0>($($arg),*),
            QFormat::Q5_1 => $kernel::<formats::Q5_1>($($arg),*),
            QFormat::Q2_K => $kernel::<formats::Q2_K>($($arg),*),
            QFormat::Q3_K => $kernel::<formats::Q3_K>($($arg),*),
            QFormat::Q4_K => $kernel::<formats::Q4_K>($($arg),*),
            QFormat::Q5_K => $kernel::<formats::Q5_K>($($arg),*),
            QFormat::Q6_K => $kernel::<formats::Q6_K>($($arg),*),
            QFormat::IQ4_NL => $kernel::<formats::IQ4_NL>($($arg),*),
            QFormat::IQ4_XS => $kernel::<formats::IQ4_XS>($($arg),*),
        }
    };
}

/// `y[r] = w[r] · x` for consecutive rows of `fmt` blocks (`x.len()` a multiple of the
/// block length, `w` at least `y.len()` rows).
///
/// # Safety
/// The CPU must support AVX-512F, AVX2, FMA and F16C.
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
pub unsafe fn dot_rows_q(fmt: QFormat, w: &[u8], x: &[f32], y: &mut [f32]) {
    // SAFETY: same target features as this function.
    unsafe { with_format!(fmt, dot_rows(w, x, y)) }
}

/// `y[i·rows + r] = w[r] · x_i` for `n` inputs of `cols` values back to back in `x` and
/// consecutive rows of `fmt` blocks (`y` is `n × rows`); bit-identical to
/// [`dot_rows_q`] of each input.
///
/// # Safety
/// The CPU must support AVX-512F, AVX2, FMA and F16C.
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
pub unsafe fn dot_rows_q_multi(fmt: QFormat, w: &[u8], cols: usize, x: &[f32], y: &mut [f32]) {
    // SAFETY: same target features as this function.
    unsafe { with_format!(fmt, dot_rows_multi(w, cols, x, y)) }
}
