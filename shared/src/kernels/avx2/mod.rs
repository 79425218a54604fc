//! AVX2 + FMA + F16C kernels: the same math as [`super::scalar`], 32 elements per step.
//!
//! Every function here is `unsafe` because it is compiled for those CPU features:
//! callers must have checked that the CPU has them (see [`super::isa`]). Memory access is
//! bounds-safe by construction: all loads read inside slices produced by `chunks_exact`.
//!
//! Quantized blocks: ggml byte layouts as documented in [`super::scalar`]. For Q8_0,
//! Q4_0 and Q4_1, each block's 32 weights are widened in registers to 4 × 8 f32 lanes
//! and multiplied with the f32 activations by FMA; the block scale `d` (and the Q4_1
//! offset `m`) is applied once per block. The other formats go through one generic
//! kernel (`generic`) that expands 8 weights at a time, scales applied, before the FMA.

use std::arch::x86_64::*;

use super::prefetch::{prefetch_share, GROUPS_AHEAD};
use super::{scalar, QFormat, QK};

pub(super) mod formats;
mod generic;

/// Sum of the 8 lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn hsum_ps(v: __m256) -> f32 {
    let s4 = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    let s1 = _mm_add_ss(s2, _mm_shuffle_ps::<0b01>(s2, s2));
    _mm_cvtss_f32(s1)
}

/// The two f16 values at `b[0..4]` (a Q4_1 block's d and m) as f32, each in all 8 lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn f16_pair(b: &[u8]) -> (__m256, __m256) {
    let bits = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    // [d, m] repeated over the lanes, then the even or the odd lanes duplicated.
    let dm = _mm256_cvtph_ps(_mm_set1_epi32(bits as i32));
    (_mm256_moveldup_ps(dm), _mm256_movehdup_ps(dm))
}

/// 32 activations of one block as 4 × 8 lanes, and their lane-wise sum (what a Q4_1
/// offset `m` multiplies; the compiler drops it where a format does not read it).
#[derive(Clone, Copy)]
struct XBlock {
    v: [__m256; 4],
    sum: __m256,
}

/// The activations `xb` (32 floats) as an [`XBlock`].
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn load_x(xb: &[f32]) -> XBlock {
    let x = load_x_with_sum(xb, _mm256_setzero_ps());
    let sum = _mm256_add_ps(_mm256_add_ps(x.v[0], x.v[1]), _mm256_add_ps(x.v[2], x.v[3]));
    XBlock { sum, ..x }
}

/// The activations `xb` (32 floats) with their lane-wise `sum` computed beforehand
/// (by [`load_x`], the only formula for it).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn load_x_with_sum(xb: &[f32], sum: __m256) -> XBlock {
    assert!(xb.len() >= QK);
    // SAFETY: `xb` holds at least 32 floats (checked above), so lanes 8k..8k+8 are in
    // bounds for k < 4; `loadu` has no alignment requirement.
    let v = unsafe {
        let p = xb.as_ptr();
        [
            _mm256_loadu_ps(p),
            _mm256_loadu_ps(p.add(8)),
            _mm256_loadu_ps(p.add(16)),
            _mm256_loadu_ps(p.add(24)),
        ]
    };
    XBlock { v, sum }
}

/// The 32 activations at `p` with their lane-wise `sum`: [`load_x_with_sum`] without
/// the bounds check, for the multi-input kernels' inner loops.
///
/// # Safety
/// `p` must point to 32 readable floats.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn load_x_at(p: *const f32, sum: __m256) -> XBlock {
    // SAFETY: the caller guarantees 32 floats at `p`; `loadu` has no alignment requirement.
    let v = unsafe {
        [
            _mm256_loadu_ps(p),
            _mm256_loadu_ps(p.add(8)),
            _mm256_loadu_ps(p.add(16)),
            _mm256_loadu_ps(p.add(24)),
        ]
    };
    XBlock { v, sum }
}

/// 16 packed bytes → the 32 nibbles as i32 lanes in element order: elements 0..8 and
/// 8..16 are the low nibbles of bytes 0..8 and 8..16, elements 16..24 and 24..32 their
/// high nibbles. Each half is widened straight from memory, then masked or shifted.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn nibbles_i32(packed: &[u8]) -> [__m256i; 4] {
    assert!(packed.len() >= 16);
    // SAFETY: `packed` holds at least 16 bytes (checked above), so the 8 bytes at 0 and
    // at 8 are in bounds; `loadl` has no alignment requirement.
    let (b0, b1) = unsafe {
        (
            _mm_loadl_epi64(packed.as_ptr().cast()),
            _mm_loadl_epi64(packed.as_ptr().add(8).cast()),
        )
    };
    let (r0, r1) = (_mm256_cvtepu8_epi32(b0), _mm256_cvtepu8_epi32(b1));
    let mask = _mm256_set1_epi32(0x0F);
    [
        _mm256_and_si256(r0, mask),
        _mm256_and_si256(r1, mask),
        _mm256_srli_epi32::<4>(r0),
        _mm256_srli_epi32::<4>(r1),
    ]
}

/// Σ_k w_k·x_k over the 4 × 8 lanes of a block: 8 partial sums.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn block_products(w: [__m256; 4], x: &XBlock) -> __m256 {
    let p = _mm256_mul_ps(w[0], x.v[0]);
    let p = _mm256_fmadd_ps(w[1], x.v[1], p);
    let p = _mm256_fmadd_ps(w[2], x.v[2], p);
    _mm256_fmadd_ps(w[3], x.v[3], p)
}

/// Σ a·b.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let n = a.len().min(b.len());
    let mut acc = [_mm256_setzero_ps(); 4];
    let (a32, b32) = (a[..n].chunks_exact(32), b[..n].chunks_exact(32));
    let (a_rest, b_rest) = (a32.remainder(), b32.remainder());
    for (ac, bc) in a32.zip(b32) {
        for (k, acc_k) in acc.iter_mut().enumerate() {
            // SAFETY: `ac` and `bc` are 32 floats; lanes 8k..8k+8 are in bounds.
            let (va, vb) = unsafe {
                (
                    _mm256_loadu_ps(ac.as_ptr().add(8 * k)),
                    _mm256_loadu_ps(bc.as_ptr().add(8 * k)),
                )
            };
            *acc_k = _mm256_fmadd_ps(va, vb, *acc_k);
        }
    }
    let (a8, b8) = (a_rest.chunks_exact(8), b_rest.chunks_exact(8));
    let tail = scalar::dot_f32(a8.remainder(), b8.remainder());
    for (ac, bc) in a8.zip(b8) {
        // SAFETY: `ac` and `bc` are 8 floats.
        let (va, vb) = unsafe { (_mm256_loadu_ps(ac.as_ptr()), _mm256_loadu_ps(bc.as_ptr())) };
        acc[0] = _mm256_fmadd_ps(va, vb, acc[0]);
    }
    let sum = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
    hsum_ps(sum) + tail
}

/// `y[r] = w[r] · x` for consecutive f32 rows of `x.len()` elements.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn dot_rows_f32(w: &[f32], x: &[f32], y: &mut [f32]) {
    debug_assert_eq!(w.len(), x.len() * y.len());
    let n = x.len();
    for (r, out) in y.iter_mut().enumerate() {
        // SAFETY: same target features as this function.
        *out = unsafe { dot_f32(&w[r * n..(r + 1) * n], x) };
    }
}

/// 8 bf16 values (raw bits) widened to f32: zero-extended to 32 bits, shifted into
/// the upper half (exact).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn bf16x8(w: &[u16]) -> __m256 {
    assert!(w.len() >= 8);
    // SAFETY: `w` holds at least 8 u16 (checked above), 16 bytes; `loadu` is unaligned.
    let bits = unsafe { _mm_loadu_si128(w.as_ptr().cast()) };
    _mm256_castsi256_ps(_mm256_slli_epi32::<16>(_mm256_cvtepu16_epi32(bits)))
}

/// The sum of one bf16 row · `x` from its 8 lane-wise partial sums (over the first
/// `x.len() / 8 · 8` elements) and the scalar sum of the tail: the one final step
/// of every bf16 row, so that grouping rows never changes a result.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn bf16_finish(acc: __m256, row: &[u16], x: &[f32]) -> f32 {
    let done = x.len() / 8 * 8;
    hsum_ps(acc) + scalar::dot_bf16(&row[done..], &x[done..])
}

/// `y[r] = w[r] · x` for consecutive bf16 rows (raw bits) of `x.len()` elements, four
/// rows at a time sharing each activation load, then the remaining rows one by one.
/// Every row gets the same float operations (one 8-lane FMA chain in element order,
/// a horizontal sum, then the scalar tail), whichever group computed it.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn dot_rows_bf16(w: &[u16], x: &[f32], y: &mut [f32]) {
    const ROWS: usize = 4;
    let n = x.len();
    assert!(w.len() >= n * y.len(), "dot_rows_bf16: w too short");
    let x8 = x.chunks_exact(8);
    let group = ROWS * n;
    for (g, out) in y.chunks_exact_mut(ROWS).enumerate() {
        let rows: [&[u16]; ROWS] = std::array::from_fn(|k| &w[(g * ROWS + k) * n..][..n]);
        let ahead = (g + GROUPS_AHEAD) * group;
        let mut acc = [_mm256_setzero_ps(); ROWS];
        for (j, xc) in x8.clone().enumerate() {
            prefetch_share(w, ahead + j * ROWS * 8, ROWS * 8);
            // SAFETY: `xc` is 8 floats; `loadu` is unaligned.
            let xv = unsafe { _mm256_loadu_ps(xc.as_ptr()) };
            for k in 0..ROWS {
                acc[k] = _mm256_fmadd_ps(bf16x8(&rows[k][8 * j..]), xv, acc[k]);
            }
        }
        for k in 0..ROWS {
            out[k] = bf16_finish(acc[k], rows[k], x);
        }
    }
    let done = y.len() / ROWS * ROWS;
    for (r, out) in y.iter_mut().enumerate().skip(done) {
        let row = &w[r * n..][..n];
        let mut acc = _mm256_setzero_ps();
        for (j, xc) in x8.clone().enumerate() {
            // SAFETY: `xc` is 8 floats; `loadu` is unaligned.
            let xv = unsafe { _mm256_loadu_ps(xc.as_ptr()) };
            acc = _mm256_fmadd_ps(bf16x8(&row[8 * j..]), xv, acc);
        }
        *out = bf16_finish(acc, row, x);
    }
}

/// The f16 at `b[0..2]` as f32 lane 0, zeros above.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn f16x1(b: &[u8]) -> __m128 {
    let bits = u16::from_le_bytes([b[0], b[1]]);
    _mm_cvtph_ps(_mm_cvtsi32_si128(i32::from(bits)))
}

/// One block's 32 weights widened to 4 × 8 f32 lanes, with its scale `d` and (Q4_1)
/// offset `m` in all lanes; expanded once, it can meet several activation blocks.
#[derive(Clone, Copy)]
struct WBlock {
    w: [__m256; 4],
    d: __m256,
    m: Option<__m256>,
}

/// `acc + d·Σ w·x (+ m·Σ x)`: one expanded block against one activation block. Every
/// kernel goes through here, so a (weight row, input) pair always sees the same float
/// operations, whichever kernel and grouping computed it.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn block_dot(wb: &WBlock, x: &XBlock, acc: __m256) -> __m256 {
    let acc = _mm256_fmadd_ps(wb.d, block_products(wb.w, x), acc);
    match wb.m {
        Some(m) => _mm256_fmadd_ps(m, x.sum, acc),
        None => acc,
    }
}

/// One Q8_0 block (34 bytes): weights q, scale d.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn expand_q8_0(b: &[u8]) -> WBlock {
    assert!(b.len() >= 34);
    let w: [__m256; 4] = std::array::from_fn(|k| {
        // SAFETY: `b` holds at least 34 bytes (checked above); the quants are bytes
        // 2..34, so the 8 bytes at 2 + 8k (k < 4) are in bounds; `loadl` is unaligned.
        let q = unsafe { _mm_loadl_epi64(b.as_ptr().add(2 + 8 * k).cast()) };
        _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q))
    });
    let d = _mm256_broadcastss_ps(f16x1(b));
    WBlock { w, d, m: None }
}

/// One Q4_0 block (18 bytes): weights nib − 8, scale d.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn expand_q4_0(b: &[u8]) -> WBlock {
    let eight = _mm256_set1_epi32(8);
    let w = nibbles_i32(&b[2..]).map(|n| _mm256_cvtepi32_ps(_mm256_sub_epi32(n, eight)));
    let d = _mm256_broadcastss_ps(f16x1(b));
    WBlock { w, d, m: None }
}

/// One Q4_1 block (20 bytes): weights nib, scale d, offset m.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn expand_q4_1(b: &[u8]) -> WBlock {
    let w = nibbles_i32(&b[4..]).map(|n| _mm256_cvtepi32_ps(n));
    let (d, m) = f16_pair(b);
    WBlock { w, d, m: Some(m) }
}

thread_local! {
    /// Per-thread scratch for the block sums of the multi-input kernels' activations.
    static BLOCK_SUMS: std::cell::RefCell<Vec<__m256>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Defines `$name(w, x, y)`: `y[r] = w[r] · x` for consecutive rows of `$bytes`-byte
/// blocks, four rows at a time (four independent accumulator chains sharing each
/// activation load), then the remaining rows one by one; and `$multi(w, x, y)`, the
/// same products for several inputs at once, each weight block expanded once for
/// up to four inputs.
macro_rules! quantized_rows {
    ($(#[$doc:meta])* $name:ident, $(#[$mdoc:meta])* $multi:ident, $bytes:literal, $expand:ident, $offset:literal) => {
        $(#[$doc])*
        ///
        /// # Safety
        /// The CPU must support AVX2, FMA and F16C.
        #[target_feature(enable = "avx2,fma,f16c")]
        pub unsafe fn $name(w: &[u8], x: &[f32], y: &mut [f32]) {
            const ROWS: usize = 4;
            let row_bytes = x.len() / QK * $bytes;
            assert!(w.len() >= row_bytes * y.len(), "{}: w too short", stringify!($name));
            let group_bytes = ROWS * row_bytes;
            for (g, out) in y.chunks_exact_mut(ROWS).enumerate() {
                let ahead = (g + GROUPS_AHEAD) * group_bytes;
                let group = &w[g * group_bytes..][..group_bytes];
                let rows: [&[u8]; ROWS] = [
                    &group[..row_bytes],
                    &group[row_bytes..2 * row_bytes],
                    &group[2 * row_bytes..3 * row_bytes],
                    &group[3 * row_bytes..],
                ];
                let mut acc = [_mm256_setzero_ps(); ROWS];
                for (j, xb) in x.chunks_exact(QK).enumerate() {
                    prefetch_share(w, ahead + j * ROWS * $bytes, ROWS * $bytes);
                    let xb = load_x(xb);
                    for k in 0..ROWS {
                        acc[k] = block_dot(&$expand(&rows[k][j * $bytes..][..$bytes]), &xb, acc[k]);
                    }
                }
                for k in 0..ROWS {
                    out[k] = hsum_ps(acc[k]);
                }
            }
            let done = y.len() / ROWS * ROWS;
            for (r, out) in y.iter_mut().enumerate().skip(done) {
                let row = &w[r * row_bytes..][..row_bytes];
                let mut acc = _mm256_setzero_ps();
                for (b, xb) in row.chunks_exact($bytes).zip(x.chunks_exact(QK)) {
                    acc = block_dot(&$expand(b), &load_x(xb), acc);
                }
                *out = hsum_ps(acc);
            }
        }

        $(#[$mdoc])*
        ///
        /// `x` holds `n` inputs of `cols` values back to back and `y` is `n × rows`
        /// (`y[i·rows + r] = w[r] · x_i`); `w` holds `rows` rows of `cols / 32` blocks.
        /// `y[i·rows + r]` is bit-identical to what the single-input kernel gives for `x_i`.
        ///
        /// # Safety
        /// The CPU must support AVX2, FMA and F16C.
        #[target_feature(enable = "avx2,fma,f16c")]
        pub unsafe fn $multi(w: &[u8], cols: usize, x: &[f32], y: &mut [f32]) {
            /// `out[i · stride] = row · x_i` for the `N` inputs in `x` (`N · cols` values, their
            /// block sums in `sums` when the format reads them), one expansion per block.
            #[inline]
            #[target_feature(enable = "avx2,fma,f16c")]
            fn row_times<const N: usize>(row: &[u8], x: &[f32], sums: &[__m256], out: &mut [f32], stride: usize) {
                let blocks = row.len() / $bytes;
                assert!(
                    x.len() >= N * blocks * QK && (!$offset || sums.len() >= N * blocks) && out.len() > (N - 1) * stride,
                    "row_times: inputs shorter than the row"
                );
                let (xp, sp) = (x.as_ptr(), sums.as_ptr());
                let mut acc = [_mm256_setzero_ps(); N];
                for (j, b) in row.chunks_exact($bytes).enumerate() {
                    let wb = $expand(b);
                    for (i, acc_i) in acc.iter_mut().enumerate() {
                        let at = i * blocks + j;
                        // SAFETY: `at < N · blocks`, so the 32 floats at `at · 32` lie in
                        // `x` and `sums[at]` in `sums` (both checked above).
                        let xb = unsafe {
                            let sum = if $offset { *sp.add(at) } else { _mm256_setzero_ps() };
                            load_x_at(xp.add(at * QK), sum)
                        };
                        *acc_i = block_dot(&wb, &xb, *acc_i);
                    }
                }
                for (k, a) in acc.into_iter().enumerate() {
                    out[k * stride] = hsum_ps(a);
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
            BLOCK_SUMS.with_borrow_mut(|sums| {
                // Reused scratch: a tile of a batched product allocates nothing.
                sums.clear();
                if $offset {
                    sums.extend(x.chunks_exact(QK).map(|xb| load_x(xb).sum));
                }
                let blocks = cols / QK;
                let mut i = 0;
                while i < n {
                    let m = (n - i).min(INPUTS);
                    let x_g = &x[i * cols..(i + m) * cols];
                    let sums_g = if $offset { &sums[i * blocks..(i + m) * blocks] } else { &sums[..] };
                    for (r, row) in w.chunks_exact(row_bytes).take(rows).enumerate() {
                        let out = &mut y[i * rows + r..];
                        match m {
                            8 => row_times::<8>(row, x_g, sums_g, out, rows),
                            7 => row_times::<7>(row, x_g, sums_g, out, rows),
                            6 => row_times::<6>(row, x_g, sums_g, out, rows),
                            5 => row_times::<5>(row, x_g, sums_g, out, rows),
                            4 => row_times::<4>(row, x_g, sums_g, out, rows),
                            3 => row_times::<3>(row, x_g, sums_g, out, rows),
                            2 => row_times::<2>(row, x_g, sums_g, out, rows),
                            _ => row_times::<1>(row, x_g, sums_g, out, rows),
                        }
                    }
                    i += m;
                }
            });
        }
    };
}

quantized_rows!(
    /// `y[r] = w[r] · x` for consecutive Q8_0 rows of `x.len() / 32` blocks.
    dot_rows_q8_0,
    /// Q8_0 rows times several inputs.
    dot_rows_q8_0_multi, 34, expand_q8_0, false
);
quantized_rows!(
    /// `y[r] = w[r] · x` for consecutive Q4_0 rows of `x.len() / 32` blocks.
    dot_rows_q4_0,
    /// Q4_0 rows times several inputs.
    dot_rows_q4_0_multi, 18, expand_q4_0, false
);
quantized_rows!(
    /// `y[r] = w[r] · x` for consecutive Q4_1 rows of `x.len() / 32` blocks
    /// (per block: d·Σ nib·x + m·Σ x).
    dot_rows_q4_1,
    /// Q4_1 rows times several inputs.
    dot_rows_q4_1_multi, 20, expand_q4_1, true
);

/// Calls `$kernel::<format type>($args)` for a format of the generic kernel, or
/// `$legacy` for the first three.
macro_rules! with_format {
    ($fmt:expr, $kernel:ident($($arg:expr),*), $legacy:expr) => {
        match $fmt {
            QFormat::Q8_0 | QFormat::Q4_0 | QFormat::Q4_1 => $legacy,
            QFormat::Q5_0 => generic::$kernel::<formats::Q5_0>($($arg),*),
            QFormat::Q5_1 => generic::$kernel::<formats::Q5_1>($($arg),*),
            QFormat::Q2_K => generic::$kernel::<formats::Q2_K>($($arg),*),
            QFormat::Q3_K => generic::$kernel::<formats::Q3_K>($($arg),*),
            QFormat::Q4_K => generic::$kernel::<formats::Q4_K>($($arg),*),
            QFormat::Q5_K => generic::$kernel::<formats::Q5_K>($($arg),*),
            QFormat::Q6_K => generic::$kernel::<formats::Q6_K>($($arg),*),
            QFormat::IQ4_NL => generic::$kernel::<formats::IQ4_NL>($($arg),*),
            QFormat::IQ4_XS => generic::$kernel::<formats::IQ4_XS>($($arg),*),
        }
    };
}

/// `y[r] = w[r] · x` for consecutive rows of `fmt` blocks (`x.len()` a multiple of the
/// block length, `w` at least `y.len()` rows).
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn dot_rows_q(fmt: QFormat, w: &[u8], x: &[f32], y: &mut [f32]) {
    // SAFETY: same target features as this function.
    unsafe {
        with_format!(
            fmt,
            dot_rows(w, x, y),
            match fmt {
                QFormat::Q8_0 => dot_rows_q8_0(w, x, y),
                QFormat::Q4_0 => dot_rows_q4_0(w, x, y),
                _ => dot_rows_q4_1(w, x, y),
            }
        )
    }
}

/// `y[i·rows + r] = w[r] · x_i` for `n` inputs of `cols` values back to back in `x` and
/// consecutive rows of `fmt` blocks (`y` is `n × rows`); bit-identical to
/// [`dot_rows_q`] of each input.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn dot_rows_q_multi(fmt: QFormat, w: &[u8], cols: usize, x: &[f32], y: &mut [f32]) {
    // SAFETY: same target features as this function.
    unsafe {
        with_format!(
            fmt,
            dot_rows_multi(w, cols, x, y),
            match fmt {
                QFormat::Q8_0 => dot_rows_q8_0_multi(w, cols, x, y),
                QFormat::Q4_0 => dot_rows_q4_0_multi(w, cols, x, y),
                _ => dot_rows_q4_1_multi(w, cols, x, y),
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn has_features() -> bool {
        is_x86_feature_detected!("avx2")
            && is_x86_feature_detected!("fma")
            && is_x86_feature_detected!("f16c")
    }

    #[test]
    fn dot_f32_handles_every_tail_length() {
        if !has_features() {
            crate::fixtures::report_not_run("this CPU lacks AVX2/FMA/F16C");
            return;
        }
        for n in 0..80 {
            let a: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..n).map(|i| (i as f32 * 0.11).cos()).collect();
            let want = scalar::dot_f32(&a, &b);
            // SAFETY: the features were detected above.
            let got = unsafe { dot_f32(&a, &b) };
            let mag: f32 = a.iter().zip(&b).map(|(x, y)| (x * y).abs()).sum();
            assert!((got - want).abs() <= n as f32 * f32::EPSILON * mag, "n={n}");
        }
    }

    #[test]
    fn bf16_rows_match_scalar_for_every_tail_length() {
        if !has_features() {
            crate::fixtures::report_not_run("this CPU lacks AVX2/FMA/F16C");
            return;
        }
        for n in 0..40 {
            for rows in [1, 4, 5] {
                let w: Vec<u16> = (0..rows * n)
                    .map(|i| ((i as f32 * 0.3).sin().to_bits() >> 16) as u16)
                    .collect();
                let x: Vec<f32> = (0..n).map(|i| (i as f32 * 0.11).cos()).collect();
                let (mut got, mut want) = (vec![f32::NAN; rows], vec![f32::NAN; rows]);
                // SAFETY: the features were detected above.
                unsafe { dot_rows_bf16(&w, &x, &mut got) };
                scalar::dot_rows_bf16(&w, &x, &mut want);
                for (g, v) in got.iter().zip(&want) {
                    assert!((g - v).abs() <= n as f32 * f32::EPSILON * n as f32, "n={n}");
                }
            }
        }
    }

    #[test]
    fn zero_rows_write_nothing_and_zero_columns_give_zeros() {
        if !has_features() {
            crate::fixtures::report_not_run("this CPU lacks AVX2/FMA/F16C");
            return;
        }
        let mut y: [f32; 0] = [];
        // SAFETY: the features were detected above.
        unsafe { dot_rows_q4_1(&[], &[0.5; 64], &mut y) };
        let mut y = [f32::NAN; 5];
        // SAFETY: as above.
        unsafe { dot_rows_q8_0(&[], &[], &mut y) };
        assert_eq!(y, [0.0; 5]);
    }
}
