//! The formats the generic AVX2 kernel ([`super::generic`]) reads: each block's header
//! once, then any 8 of its weights expanded into one register of f32 lanes, the values
//! ggml's dequantizer gives (see [`crate::io::quant`] for the plain formulas and
//! [`super::super::blocks`] for the header fields).
//!
//! Small integers are widened from 8 bytes (`vpmovzxbd`), masked, shifted and
//! converted to f32 exactly. Q5_0, Q5_1 and Q6_K, whose bits are spread over two
//! fields, are decoded once per block into one signed byte per weight with 32-byte-wide
//! operations, and each group is then one widening load. IQ4's 16 levels are two 8-lane
//! registers: two permutes and a blend by the index's fourth bit look a level up.

#![allow(non_camel_case_types)]

use std::arch::x86_64::*;

use super::super::blocks::{self, f16_at, SubScales};
use super::generic::Format;

/// IQ4's levels as f32 lanes, for `vpermps`: indices 0..8, then 8..16.
static IQ4NL_LEVELS: [f32; 16] = {
    let mut t = [0.0f32; 16];
    let mut i = 0;
    while i < 16 {
        t[i] = blocks::KVALUES_IQ4NL[i] as f32;
        i += 1;
    }
    t
};

/// The f16 at `b[at..at + 2]` as f32, in all 8 lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn f16_splat(b: &[u8], at: usize) -> __m256 {
    let bits = u16::from_le_bytes([b[at], b[at + 1]]);
    _mm256_broadcastss_ps(_mm_cvtph_ps(_mm_cvtsi32_si128(i32::from(bits))))
}

/// The 8 bytes at `b[at..at + 8]` zero-extended to i32 lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn bytes_u32(b: &[u8], at: usize) -> __m256i {
    let b = &b[at..at + 8];
    // SAFETY: `b` holds 8 bytes (sliced above); `loadl` is unaligned.
    _mm256_cvtepu8_epi32(unsafe { _mm_loadl_epi64(b.as_ptr().cast()) })
}

/// The 8 bytes at `q[at..at + 8]` sign-extended to i32 lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn bytes_i32(q: &[i8], at: usize) -> __m256i {
    let q = &q[at..at + 8];
    // SAFETY: `q` holds 8 bytes (sliced above); `loadl` is unaligned.
    _mm256_cvtepi8_epi32(unsafe { _mm_loadl_epi64(q.as_ptr().cast()) })
}

/// The low (`high == false`) or high nibbles of the 8 bytes at `b[at..at + 8]`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn nibbles(b: &[u8], at: usize, high: bool) -> __m256i {
    let wide = bytes_u32(b, at);
    if high {
        _mm256_srli_epi32::<4>(wide)
    } else {
        _mm256_and_si256(wide, _mm256_set1_epi32(0x0F))
    }
}

/// Bits `shift..shift + width` of every lane (`width` ≤ 8).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn bit_field(v: __m256i, shift: u32, width: u32) -> __m256i {
    let shifted = _mm256_srl_epi32(v, _mm_cvtsi32_si128(shift as i32));
    _mm256_and_si256(shifted, _mm256_set1_epi32((1 << width) - 1))
}

/// IQ4's level for each 4-bit index lane.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn iq4_levels(idx: __m256i) -> __m256 {
    // SAFETY: the table holds 16 floats; `loadu` is unaligned.
    let (lo, hi) = unsafe {
        (
            _mm256_loadu_ps(IQ4NL_LEVELS.as_ptr()),
            _mm256_loadu_ps(IQ4NL_LEVELS.as_ptr().add(8)),
        )
    };
    let (from_lo, from_hi) = (
        _mm256_permutevar8x32_ps(lo, idx),
        _mm256_permutevar8x32_ps(hi, idx),
    );
    // Bit 3 of the index, moved to the sign bit, picks the upper table.
    let upper = _mm256_castsi256_ps(_mm256_slli_epi32::<28>(idx));
    _mm256_blendv_ps(from_lo, from_hi, upper)
}

/// Defines a unit type for a format and its [`Format`] impl, compiled for AVX2.
macro_rules! block_format {
    ($(#[$doc:meta])* $name:ident, $len:literal, $bytes:literal, $header:ty,
     |$hb:ident| $head:block, |$b:ident, $h:ident, $g:ident| $group:block) => {
        $(#[$doc])*
        pub(super) struct $name;

        impl Format for $name {
            const LEN: usize = $len;
            const BYTES: usize = $bytes;
            type Header = $header;

            #[inline]
            #[target_feature(enable = "avx2,fma,f16c")]
            unsafe fn header($hb: &[u8]) -> $header $head

            #[inline]
            #[target_feature(enable = "avx2,fma,f16c")]
            unsafe fn group($b: &[u8], $h: &$header, $g: usize) -> __m256 $group
        }
    };
}

/// The 32 five-bit values of a Q5_0 or Q5_1 block, in bytes, minus `offset` (16 for
/// Q5_0, 0 for Q5_1): the nibbles at `b[at..at + 16]` (low nibbles are elements 0..16,
/// high nibbles 16..32) with bit `i` of `qh` as element `i`'s fifth bit. Decoded once
/// per block with byte-wide operations: `qh` spread to one byte per element, compared
/// against each byte's bit.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn five_bit_values(b: &[u8], at: usize, qh: u32, offset: i8) -> [i8; 32] {
    let packed = &b[at..at + 16];
    // SAFETY: `packed` holds 16 bytes (sliced above); `loadu` is unaligned.
    let packed = unsafe { _mm_loadu_si128(packed.as_ptr().cast()) };
    let nib = _mm_set1_epi8(0x0F);
    let low = _mm_and_si128(packed, nib);
    let high = _mm_and_si128(_mm_srli_epi16::<4>(packed), nib);
    // Byte i (each 128-bit lane indexes its own copy of qh): byte i / 8 of qh.
    let spread = _mm256_shuffle_epi8(
        _mm256_set1_epi32(qh as i32),
        _mm256_setr_epi8(
            0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, //
            2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3,
        ),
    );
    let bit = _mm256_set1_epi64x(0x8040_2010_0804_0201_u64 as i64);
    let set = _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
    let fifth = _mm256_and_si256(set, _mm256_set1_epi8(16));
    let q = _mm256_or_si256(_mm256_set_m128i(high, low), fifth);
    let mut out = [0i8; 32];
    // SAFETY: `out` holds 32 bytes; `storeu` is unaligned.
    unsafe {
        _mm256_storeu_si256(
            out.as_mut_ptr().cast(),
            _mm256_sub_epi8(q, _mm256_set1_epi8(offset)),
        )
    };
    out
}

block_format!(
    /// Q5_0: d·(q − 16), q = nibble + 16·(bit of `qh`), decoded once per block
    /// ([`five_bit_values`]).
    Q5_0, 32, 22, (__m256, [i8; 32]),
    |b| {
        let qh = u32::from_le_bytes([b[2], b[3], b[4], b[5]]);
        (f16_splat(b, 0), five_bit_values(b, 6, qh, 16))
    },
    |_b, h, g| { _mm256_mul_ps(h.0, _mm256_cvtepi32_ps(bytes_i32(&h.1, 8 * g))) }
);

block_format!(
    /// Q5_1: d·q + m, q = nibble + 16·(bit of `qh`), decoded once per block.
    Q5_1, 32, 24, (__m256, __m256, [i8; 32]),
    |b| {
        let qh = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
        (f16_splat(b, 0), f16_splat(b, 2), five_bit_values(b, 8, qh, 0))
    },
    |_b, h, g| { _mm256_fmadd_ps(h.0, _mm256_cvtepi32_ps(bytes_i32(&h.2, 8 * g)), h.1) }
);

/// Per 16 elements: the scale and the min subtracted (both already times d or dmin).
#[derive(Clone, Copy)]
pub(super) struct Scales16 {
    scale: [f32; 16],
    min: [f32; 16],
}

block_format!(
    /// Q2_K (84 bytes: 16 scale bytes, 64 bytes of 2-bit quants, f16 d, f16 dmin):
    /// d·(sc & 15)·q − dmin·(sc >> 4) per 16 elements.
    Q2_K, 256, 84, Scales16,
    |b| {
        let (d, dmin) = (f16_at(b, 80), f16_at(b, 82));
        let mut s = Scales16 { scale: [0.0; 16], min: [0.0; 16] };
        for ((scale, min), &sc) in s.scale.iter_mut().zip(&mut s.min).zip(&b[..16]) {
            *scale = d * f32::from(sc & 0x0F);
            *min = dmin * f32::from(sc >> 4);
        }
        s
    },
    |b, h, g| {
        // 16-group s = 8n + 2j + half: bytes 32n + 16·half, bits 2j..2j + 2.
        let s = g / 2;
        let (n, j, half) = (s / 8, (s % 8) / 2, s % 2);
        let at = 16 + 32 * n + 16 * half + 8 * (g % 2);
        let q = bit_field(bytes_u32(b, at), 2 * j as u32, 2);
        _mm256_fmsub_ps(_mm256_set1_ps(h.scale[s]), _mm256_cvtepi32_ps(q), _mm256_set1_ps(h.min[s]))
    }
);

block_format!(
    /// Q3_K (110 bytes: 32 bytes of high bits, 64 of 2-bit quants, 12 of scales, f16 d):
    /// d·scale·(q − 4 where the high bit is clear) per 16 elements.
    Q3_K, 256, 110, [f32; 16],
    |b| {
        let d = f16_at(b, 108);
        let scales = blocks::q3_k_scales(&b[96..108]);
        let mut out = [0.0; 16];
        for (o, &sc) in out.iter_mut().zip(&scales) {
            *o = d * f32::from(i16::from(sc) - 32);
        }
        out
    },
    |b, h, g| {
        let s = g / 2;
        let (n, j, half) = (s / 8, (s % 8) / 2, s % 2);
        let within = 16 * half + 8 * (g % 2);
        let q = bit_field(bytes_u32(b, 32 + 32 * n + within), 2 * j as u32, 2);
        let high = bit_field(bytes_u32(b, within), (4 * n + j) as u32, 1);
        // q − 4 + 4·bit
        let q = _mm256_add_epi32(
            _mm256_sub_epi32(q, _mm256_set1_epi32(4)),
            _mm256_slli_epi32::<2>(high),
        );
        _mm256_mul_ps(_mm256_set1_ps(h[s]), _mm256_cvtepi32_ps(q))
    }
);

block_format!(
    /// Q4_K (144 bytes: f16 d, f16 dmin, 12 scale bytes, 128 bytes of nibbles):
    /// d·scale·q − dmin·min per 32 elements; each 32-byte chunk holds two sub-blocks,
    /// low nibbles first.
    Q4_K, 256, 144, SubScales,
    |b| { blocks::k4_sub_scales(b) },
    |b, h, g| {
        let j = g / 4;
        let q = nibbles(b, 16 + 32 * (j / 2) + 8 * (g % 4), j % 2 == 1);
        _mm256_fmsub_ps(_mm256_set1_ps(h.scale[j]), _mm256_cvtepi32_ps(q), _mm256_set1_ps(h.min[j]))
    }
);

block_format!(
    /// Q5_K (176 bytes: f16 d, f16 dmin, 12 scale bytes, 32 bytes of high bits, 128 of
    /// nibbles): as Q4_K with a fifth bit, bit j of `qh[l]` for sub-block j.
    Q5_K, 256, 176, SubScales,
    |b| { blocks::k4_sub_scales(b) },
    |b, h, g| {
        let j = g / 4;
        let q = nibbles(b, 48 + 32 * (j / 2) + 8 * (g % 4), j % 2 == 1);
        let high = bit_field(bytes_u32(b, 16 + 8 * (g % 4)), j as u32, 1);
        let q = _mm256_or_si256(q, _mm256_slli_epi32::<4>(high));
        _mm256_fmsub_ps(_mm256_set1_ps(h.scale[j]), _mm256_cvtepi32_ps(q), _mm256_set1_ps(h.min[j]))
    }
);

/// A Q6_K block read once: its 256 weights as `q − 32` in bytes, and its 16 scales
/// times `d`. Decoding all 256 together takes a few byte-wide operations per 32
/// weights; each group of lanes is then one widening load from `q`.
#[derive(Clone, Copy)]
pub(in crate::kernels) struct Q6Values {
    /// Element `e` of the block, `q − 32`, in −32..32.
    pub(in crate::kernels) q: [i8; 256],
    /// `d·scale` of elements `16s..16s + 16`.
    pub(in crate::kernels) scale: [f32; 16],
}

/// Decodes a Q6_K block (210 bytes: 128 bytes of low nibbles `ql`, 64 of high 2-bit
/// pairs `qh`, 16 i8 scales, f16 d). Each 128-element half reads 64 bytes of `ql` and
/// 32 of `qh`: element `l + 32k` (l < 32) takes nibble `k / 2` of `ql[l + 32(k % 2)]`
/// and bits `2k..2k + 2` of `qh[l]`. 16-bit shifts move bits across byte boundaries,
/// but only into bits the masks then clear.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(in crate::kernels) fn q6_k_values(b: &[u8]) -> Q6Values {
    let b = &b[..210];
    let mut v = Q6Values {
        q: [0; 256],
        scale: [0.0; 16],
    };
    let (nib, high_bits, offset) = (
        _mm256_set1_epi8(0x0F),
        _mm256_set1_epi8(0x30),
        _mm256_set1_epi8(32),
    );
    let load = |at: usize| {
        let bytes = &b[at..at + 32];
        // SAFETY: `bytes` holds 32 bytes (sliced above); `loadu` is unaligned.
        unsafe { _mm256_loadu_si256(bytes.as_ptr().cast()) }
    };
    for half in 0..2 {
        let (ql0, ql1, qh) = (load(64 * half), load(64 * half + 32), load(128 + 32 * half));
        let parts = [
            (_mm256_and_si256(ql0, nib), _mm256_slli_epi16::<4>(qh)),
            (_mm256_and_si256(ql1, nib), _mm256_slli_epi16::<2>(qh)),
            (_mm256_and_si256(_mm256_srli_epi16::<4>(ql0), nib), qh),
            (
                _mm256_and_si256(_mm256_srli_epi16::<4>(ql1), nib),
                _mm256_srli_epi16::<2>(qh),
            ),
        ];
        for (k, (low, high)) in parts.into_iter().enumerate() {
            let q = _mm256_or_si256(low, _mm256_and_si256(high, high_bits));
            let out = &mut v.q[128 * half + 32 * k..][..32];
            // SAFETY: `out` holds 32 bytes (sliced above); `storeu` is unaligned.
            unsafe { _mm256_storeu_si256(out.as_mut_ptr().cast(), _mm256_sub_epi8(q, offset)) };
        }
    }
    let d = f16_at(b, 208);
    for (o, &sc) in v.scale.iter_mut().zip(&b[192..208]) {
        *o = d * f32::from(sc as i8);
    }
    v
}

block_format!(
    /// Q6_K: d·scale·(q − 32) per 16 elements, decoded once per block ([`q6_k_values`]).
    Q6_K, 256, 210, Q6Values,
    |b| { q6_k_values(b) },
    |_b, h, g| {
        _mm256_mul_ps(_mm256_set1_ps(h.scale[g / 2]), _mm256_cvtepi32_ps(bytes_i32(&h.q, 8 * g)))
    }
);

block_format!(
    /// IQ4_NL: d·level[nib], low nibbles first.
    IQ4_NL, 32, 18, __m256,
    |b| { f16_splat(b, 0) },
    |b, d, g| { _mm256_mul_ps(*d, iq4_levels(nibbles(b, 2 + 8 * (g % 2), g >= 2))) }
);

block_format!(
    /// IQ4_XS (136 bytes: f16 d, 6-bit scales split over 2 + 4 bytes, 128 bytes of
    /// indices): d·(scale − 32)·level[nib] per 32 elements, low nibbles first.
    IQ4_XS, 256, 136, [f32; 8],
    |b| {
        let d = f16_at(b, 0);
        let mut out = [0.0; 8];
        for (ib, o) in out.iter_mut().enumerate() {
            *o = d * f32::from(blocks::iq4_xs_scale(b, ib));
        }
        out
    },
    |b, h, g| {
        let (ib, q) = (g / 4, g % 4);
        let levels = iq4_levels(nibbles(b, 8 + 16 * ib + 8 * (q % 2), q >= 2));
        _mm256_mul_ps(_mm256_set1_ps(h[ib]), levels)
    }
);
