//! One AVX2 kernel for the formats added after the first three (Q5_0, Q5_1, the
//! K-quants, IQ4_NL, IQ4_XS): a format says how to read a block's header once and how
//! to expand any 8 of its weights into one register of f32 lanes ([`super::formats`]);
//! the kernel multiplies each expanded group into one of two accumulators by FMA
//! (groups alternate between them). A (row, input) pair always sees the same float
//! operations, so the multi-input kernel is bit-identical to the single-input one.

use std::arch::x86_64::*;

use super::hsum_ps;
use crate::kernels::prefetch::{prefetch_share, GROUPS_AHEAD};

/// A block format as the AVX2 kernels read it.
pub(super) trait Format {
    /// Elements per block (a multiple of 8).
    const LEN: usize;
    /// Bytes per block.
    const BYTES: usize;
    /// What the kernels read once per block (scales, mins, high bits).
    type Header: Copy;

    /// The header of `block`.
    ///
    /// # Safety
    /// The CPU must support AVX2, FMA and F16C; `block` holds `BYTES` bytes.
    unsafe fn header(block: &[u8]) -> Self::Header;

    /// Weights `8·g .. 8·g + 8` of `block` (`g < LEN / 8`), dequantized.
    ///
    /// # Safety
    /// As for [`Format::header`], and `h` is `block`'s header.
    unsafe fn group(block: &[u8], h: &Self::Header, g: usize) -> __m256;
}

/// The running sums of one (row, input) pair: even and odd groups of 8.
type Acc = [__m256; 2];

/// A zeroed [`Acc`].
const fn zero_acc() -> Acc {
    // SAFETY: an all-zero bit pattern is 0.0 in every lane.
    unsafe { std::mem::transmute([0u8; 64]) }
}

/// The dot product an [`Acc`] holds.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn finish(acc: Acc) -> f32 {
    hsum_ps(_mm256_add_ps(acc[0], acc[1]))
}

/// `acc[g % 2] += w · x[8g..8g + 8]`: one expanded group against its activations.
/// Every kernel here goes through this.
///
/// # Safety
/// `x` must point to 8 readable floats.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn group_dot(w: __m256, x: *const f32, g: usize, acc: &mut Acc) {
    // SAFETY: the caller guarantees 8 floats at `x`; `loadu` is unaligned.
    let xv = unsafe { _mm256_loadu_ps(x) };
    acc[g % 2] = _mm256_fmadd_ps(w, xv, acc[g % 2]);
}

/// `y[r] = w[r] · x` for consecutive rows of `F` blocks, four rows at a time, then the
/// remaining rows one by one.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn dot_rows<F: Format>(w: &[u8], x: &[f32], y: &mut [f32]) {
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
                [
                    F::header(bs[0]),
                    F::header(bs[1]),
                    F::header(bs[2]),
                    F::header(bs[3]),
                ]
            };
            for g in 0..F::LEN / 8 {
                for k in 0..ROWS {
                    // SAFETY: as above; `8g + 8 <= F::LEN = xb.len()`.
                    unsafe {
                        let wv = F::group(bs[k], &hs[k], g);
                        group_dot(wv, xb.as_ptr().add(8 * g), g, &mut acc[k]);
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
        for (b, xb) in row.chunks_exact(F::BYTES).zip(x.chunks_exact(F::LEN)) {
            // SAFETY: `b` holds `F::BYTES` bytes, `xb` `F::LEN` floats.
            unsafe {
                let h = F::header(b);
                for g in 0..F::LEN / 8 {
                    group_dot(F::group(b, &h, g), xb.as_ptr().add(8 * g), g, &mut acc);
                }
            }
        }
        *out = finish(acc);
    }
}

/// `out[i · stride] = row · x_i` for the `N` inputs in `x` (`N` inputs of the row's
/// length, back to back), each block expanded once for all of them.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
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
        for g in 0..F::LEN / 8 {
            // SAFETY: as above.
            let wv = unsafe { F::group(b, &h, g) };
            for (i, acc_i) in acc.iter_mut().enumerate() {
                // SAFETY: `i · cols + j · LEN + 8g + 8 <= N · cols <= x.len()`.
                unsafe { group_dot(wv, x.as_ptr().add(i * cols + j * F::LEN + 8 * g), g, acc_i) };
            }
        }
    }
    for (k, a) in acc.into_iter().enumerate() {
        out[k * stride] = finish(a);
    }
}

/// `y[i·rows + r] = w[r] · x_i` for `n` inputs of `cols` values back to back in `x`
/// (`y` is `n × rows`), up to four inputs per pass over the weights (their eight
/// accumulators fill half the 16 registers). Bit-identical to [`dot_rows`] of each
/// input.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn dot_rows_multi<F: Format>(w: &[u8], cols: usize, x: &[f32], y: &mut [f32]) {
    const INPUTS: usize = 4;
    let n = x.len().checked_div(cols).unwrap_or(0);
    let row_bytes = cols / F::LEN * F::BYTES;
    let rows = y.len().checked_div(n).unwrap_or(0);
    assert!(
        cols.is_multiple_of(F::LEN)
            && x.len() == n * cols
            && y.len() == rows * n
            && w.len() >= rows * row_bytes,
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
