//! AVX2 + FMA + F16C kernels: the same math as [`super::scalar`], 32 elements per step.
//!
//! Every function here is `unsafe` because it is compiled for those CPU features:
//! callers must have checked that the CPU has them (see [`super::isa`]). Memory access is
//! bounds-safe by construction: all loads read inside slices produced by `chunks_exact`.
//!
//! Quantized blocks: ggml byte layouts as documented in [`super::scalar`]; the integer
//! products use `_mm256_maddubs_epi16` (unsigned × signed bytes → i16 pairs) as llama.cpp does.

use std::arch::x86_64::*;

use super::{scalar, BlockQ8, QK};

/// Sum of the 8 lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn hsum_ps(v: __m256) -> f32 {
    let s4 = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    let s1 = _mm_add_ss(s2, _mm_shuffle_ps::<0b01>(s2, s2));
    _mm_cvtss_f32(s1)
}

/// Maximum of the 8 lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn hmax_ps(v: __m256) -> f32 {
    let m4 = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let m2 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    let m1 = _mm_max_ss(m2, _mm_shuffle_ps::<0b01>(m2, m2));
    _mm_cvtss_f32(m1)
}

/// Sum of the 8 i32 lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn hsum_epi32(v: __m256i) -> i32 {
    let s4 = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
    let s2 = _mm_add_epi32(s4, _mm_unpackhi_epi64(s4, s4));
    let s1 = _mm_add_epi32(s2, _mm_shuffle_epi32::<0b01>(s2));
    _mm_cvtsi128_si32(s1)
}

/// The two f16 values at `b[0..4]` (d and, for Q4_1, m) as f32 lanes 0 and 1.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn f16x2(b: &[u8]) -> __m128 {
    let bits = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    _mm_cvtph_ps(_mm_cvtsi32_si128(bits as i32))
}

/// `[d, s]` of an activation block as f32 lanes 0 and 1.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn ds(xb: &BlockQ8) -> __m128 {
    _mm_setr_ps(xb.d, xb.s, 0.0, 0.0)
}

/// The 32 quantized activations of a block.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn load_qs(xb: &BlockQ8) -> __m256i {
    // SAFETY: `xb.qs` is 32 bytes; `loadu` has no alignment requirement.
    unsafe { _mm256_loadu_si256(xb.qs.as_ptr().cast()) }
}

/// 16 packed bytes → 32 nibbles in element order (low nibbles 0..15, high nibbles 16..31).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn unpack_nibbles(packed: &[u8]) -> __m256i {
    assert!(packed.len() >= 16);
    // SAFETY: `packed` holds at least 16 bytes (checked above); `loadu` is unaligned.
    let raw = unsafe { _mm_loadu_si128(packed.as_ptr().cast()) };
    let mask = _mm_set1_epi8(0x0F);
    let lo = _mm_and_si128(raw, mask);
    let hi = _mm_and_si128(_mm_srli_epi16::<4>(raw), mask);
    _mm256_set_m128i(hi, lo)
}

/// Σ of 32 products of signed bytes `w`·`x` as 8 i32 lanes.
/// `x` must lie in −127..=127 (then no i16 pair sum can saturate; `w` may be −128).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn dot_i8(w: __m256i, x: __m256i) -> __m256i {
    let abs_w = _mm256_sign_epi8(w, w);
    let signed_x = _mm256_sign_epi8(x, w);
    _mm256_madd_epi16(_mm256_maddubs_epi16(abs_w, signed_x), _mm256_set1_epi16(1))
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

/// Quantizes `x` to Q8 activation blocks with exactly the arithmetic of
/// [`scalar::quantize_q8`] (max is order-free, rounding is ties-to-even in both).
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn quantize_q8(x: &[f32], out: &mut [BlockQ8]) {
    assert_eq!(
        x.len(),
        out.len() * QK,
        "quantize_q8: x length must be 32 × blocks"
    );
    let sign = _mm256_set1_ps(-0.0);
    for (xb, ob) in x.chunks_exact(QK).zip(out.iter_mut()) {
        // SAFETY: `xb` is 32 floats; lanes 8k..8k+8 are in bounds for k < 4.
        let v: [__m256; 4] =
            std::array::from_fn(|k| unsafe { _mm256_loadu_ps(xb.as_ptr().add(8 * k)) });
        let mut amax = _mm256_andnot_ps(sign, v[0]);
        for vk in &v[1..] {
            amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign, *vk));
        }
        let (d, id) = scalar::q8_scale(hmax_ps(amax));
        let idv = _mm256_set1_ps(id);
        let q: [__m256i; 4] = std::array::from_fn(|k| {
            let scaled = _mm256_mul_ps(v[k], idv);
            let rounded =
                _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(scaled);
            _mm256_cvtps_epi32(rounded)
        });
        let isum = hsum_epi32(_mm256_add_epi32(
            _mm256_add_epi32(q[0], q[1]),
            _mm256_add_epi32(q[2], q[3]),
        ));
        // packs work per 128-bit lane; the permute restores element order.
        let q16a = _mm256_packs_epi32(q[0], q[1]);
        let q16b = _mm256_packs_epi32(q[2], q[3]);
        let q8 = _mm256_packs_epi16(q16a, q16b);
        let q8 = _mm256_permutevar8x32_epi32(q8, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        // SAFETY: `ob.qs` is 32 bytes; `storeu` has no alignment requirement.
        unsafe { _mm256_storeu_si256(ob.qs.as_mut_ptr().cast(), q8) };
        ob.d = d;
        ob.s = d * isum as f32;
    }
}

/// The f16 at `b[0..2]` as f32 lane 0, zeros above.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn f16x1(b: &[u8]) -> __m128 {
    let bits = u16::from_le_bytes([b[0], b[1]]);
    _mm_cvtph_ps(_mm_cvtsi32_si128(i32::from(bits)))
}

/// One Q8_0 block (34 bytes) · activations `x`: the 8-lane products and `[d·d_x, 0]`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn block_q8_0(b: &[u8], x: __m256i, x_ds: __m128) -> (__m256, __m128) {
    assert!(b.len() >= 34);
    // SAFETY: `b` holds at least 34 bytes (checked above); the 32 quants start at offset 2.
    let w = unsafe { _mm256_loadu_si256(b.as_ptr().add(2).cast()) };
    (_mm256_cvtepi32_ps(dot_i8(w, x)), _mm_mul_ps(f16x1(b), x_ds))
}

/// One Q4_0 block (18 bytes) · activations `x`: the 8-lane products and `[d·d_x, 0]`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn block_q4_0(b: &[u8], x: __m256i, x_ds: __m128) -> (__m256, __m128) {
    let w = _mm256_sub_epi8(unpack_nibbles(&b[2..]), _mm256_set1_epi8(8));
    (_mm256_cvtepi32_ps(dot_i8(w, x)), _mm_mul_ps(f16x1(b), x_ds))
}

/// One Q4_1 block (20 bytes) · activations `x`: the 8-lane products of the nibbles and
/// `[d·d_x, m·s_x]` (the offset's share of the block).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn block_q4_1(b: &[u8], x: __m256i, x_ds: __m128) -> (__m256, __m128) {
    // Nibbles are unsigned, so they go straight into maddubs' unsigned operand.
    let pairs = _mm256_maddubs_epi16(unpack_nibbles(&b[4..]), x);
    let p = _mm256_madd_epi16(pairs, _mm256_set1_epi16(1));
    (_mm256_cvtepi32_ps(p), _mm_mul_ps(f16x2(b), x_ds))
}

/// The total of a row's accumulators: Σ lanes of `acc` plus lane 1 of `acc_m`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn finish(acc: __m256, acc_m: __m128) -> f32 {
    hsum_ps(acc) + _mm_cvtss_f32(_mm_movehdup_ps(acc_m))
}

/// How many groups of rows ahead the quantized kernels prefetch: decoding streams each
/// weight once from memory, and the hardware prefetcher alone leaves the kernels waiting.
const PREFETCH_GROUPS: usize = 2;

/// Asks the CPU to start loading the first `len` bytes of `bytes` (or all of it, if shorter).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn prefetch(bytes: &[u8], len: usize) {
    let bytes = &bytes[..len.min(bytes.len())];
    for line in bytes.chunks(64) {
        // A hint that never faults; the pointer is inside `bytes` anyway.
        _mm_prefetch::<_MM_HINT_T0>(line.as_ptr().cast());
    }
}

/// Defines `$name(w, xq, y)`: `y[r] = w[r] · x̂` for consecutive rows of `$bytes`-byte
/// blocks, four rows at a time (four independent accumulator chains sharing each
/// activation load), then the remaining rows one by one.
macro_rules! quantized_rows {
    ($(#[$doc:meta])* $name:ident, $bytes:literal, $block:ident) => {
        $(#[$doc])*
        ///
        /// # Safety
        /// The CPU must support AVX2, FMA and F16C.
        #[target_feature(enable = "avx2,fma,f16c")]
        pub unsafe fn $name(w: &[u8], xq: &[BlockQ8], y: &mut [f32]) {
            const ROWS: usize = 4;
            let row_bytes = xq.len() * $bytes;
            assert!(w.len() >= row_bytes * y.len(), "{}: w too short", stringify!($name));
            let group_bytes = ROWS * row_bytes;
            for (g, out) in y.chunks_exact_mut(ROWS).enumerate() {
                prefetch(w.get((g + PREFETCH_GROUPS) * group_bytes..).unwrap_or(&[]), group_bytes);
                let rows: [&[u8]; ROWS] =
                    std::array::from_fn(|k| &w[(g * ROWS + k) * row_bytes..][..row_bytes]);
                let mut acc = [_mm256_setzero_ps(); ROWS];
                let mut acc_m = [_mm_setzero_ps(); ROWS];
                for (j, xb) in xq.iter().enumerate() {
                    let (x, x_ds) = (load_qs(xb), ds(xb));
                    for k in 0..ROWS {
                        let (p, scales) = $block(&rows[k][j * $bytes..][..$bytes], x, x_ds);
                        acc[k] = _mm256_fmadd_ps(_mm256_broadcastss_ps(scales), p, acc[k]);
                        acc_m[k] = _mm_add_ps(acc_m[k], scales);
                    }
                }
                for k in 0..ROWS {
                    out[k] = finish(acc[k], acc_m[k]);
                }
            }
            let done = y.len() / ROWS * ROWS;
            for (r, out) in y.iter_mut().enumerate().skip(done) {
                let row = &w[r * row_bytes..][..row_bytes];
                let (mut acc, mut acc_m) = (_mm256_setzero_ps(), _mm_setzero_ps());
                for (b, xb) in row.chunks_exact($bytes).zip(xq) {
                    let (p, scales) = $block(b, load_qs(xb), ds(xb));
                    acc = _mm256_fmadd_ps(_mm256_broadcastss_ps(scales), p, acc);
                    acc_m = _mm_add_ps(acc_m, scales);
                }
                *out = finish(acc, acc_m);
            }
        }
    };
}

quantized_rows!(
    /// `y[r] = w[r] · x̂` for consecutive Q8_0 rows of `xq.len()` blocks.
    dot_rows_q8_0, 34, block_q8_0
);
quantized_rows!(
    /// `y[r] = w[r] · x̂` for consecutive Q4_0 rows of `xq.len()` blocks.
    dot_rows_q4_0, 18, block_q4_0
);
quantized_rows!(
    /// `y[r] = w[r] · x̂` for consecutive Q4_1 rows of `xq.len()` blocks
    /// (per block: d·d_x·Σ nib·q_x + m·s_x).
    dot_rows_q4_1, 20, block_q4_1
);

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
            eprintln!("skipping: CPU lacks AVX2/FMA/F16C");
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
    fn zero_rows_write_nothing_and_zero_columns_give_zeros() {
        if !has_features() {
            eprintln!("skipping: CPU lacks AVX2/FMA/F16C");
            return;
        }
        let mut y: [f32; 0] = [];
        // SAFETY: the features were detected above.
        unsafe { dot_rows_q4_1(&[], &[BlockQ8::default(); 2], &mut y) };
        let mut y = [f32::NAN; 5];
        // SAFETY: as above.
        unsafe { dot_rows_q8_0(&[], &[], &mut y) };
        assert_eq!(y, [0.0; 5]);
    }
}
