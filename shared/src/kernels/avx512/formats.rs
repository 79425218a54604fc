//! Each block format as the AVX-512 kernels read it: its header once per block, then any
//! 16 of its weights expanded into one register of f32 lanes, the values ggml's
//! dequantizer gives (see [`crate::io::quant`] for the plain formulas and
//! [`super::super::blocks`] for the header fields).
//!
//! Small integers are widened from bytes (`vpmovzxbd`), masked, shifted and converted
//! to f32 exactly; a high bit stored apart (Q5_0, Q5_1, Q5_K, Q3_K) is tested into a mask
//! register and merged in one masked instruction; IQ4's 16 levels are one register
//! that a permute looks up.

#![allow(non_camel_case_types)]

use std::arch::x86_64::*;

use super::super::avx2::formats::{q6_k_values, Q6Values};
use super::super::blocks::{self, f16_at, SubScales};
use super::{avx512, Format};

/// IQ4's levels as f32 lanes, for `vpermps`.
static IQ4NL_LEVELS: [f32; 16] = {
    let mut t = [0.0f32; 16];
    let mut i = 0;
    while i < 16 {
        t[i] = blocks::KVALUES_IQ4NL[i] as f32;
        i += 1;
    }
    t
};

avx512! {
    /// The f16 at `b[at..at + 2]` as f32, in all 16 lanes.
    #[inline]
    fn f16_splat(b: &[u8], at: usize) -> __m512 {
        let bits = u16::from_le_bytes([b[at], b[at + 1]]);
        _mm512_broadcastss_ps(_mm_cvtph_ps(_mm_cvtsi32_si128(i32::from(bits))))
    }

    /// The 16 bytes at `b[at..at + 16]` zero-extended to i32 lanes.
    #[inline]
    fn bytes_u32(b: &[u8], at: usize) -> __m512i {
        let b = &b[at..at + 16];
        // SAFETY: `b` holds 16 bytes (sliced above); `loadu` is unaligned.
        _mm512_cvtepu8_epi32(unsafe { _mm_loadu_si128(b.as_ptr().cast()) })
    }

    /// The low (`high == false`) or high nibbles of the 16 bytes at `b[at..at + 16]`.
    #[inline]
    fn nibbles(b: &[u8], at: usize, high: bool) -> __m512i {
        let wide = bytes_u32(b, at);
        if high {
            _mm512_srli_epi32::<4>(wide)
        } else {
            _mm512_and_si512(wide, _mm512_set1_epi32(0x0F))
        }
    }

    /// Bits `shift..shift + width` of every lane (`width` ≤ 8).
    #[inline]
    fn bit_field(v: __m512i, shift: u32, width: u32) -> __m512i {
        let shifted = _mm512_srl_epi32(v, _mm_cvtsi32_si128(shift as i32));
        _mm512_and_si512(shifted, _mm512_set1_epi32((1 << width) - 1))
    }

    /// `q + 16` in the lanes whose bit is set in `high` (a fifth bit stored apart).
    #[inline]
    fn add_high_bit(q: __m512i, high: __mmask16) -> __m512i {
        _mm512_mask_or_epi32(q, high, q, _mm512_set1_epi32(16))
    }

    /// IQ4's level for each 4-bit index lane.
    #[inline]
    fn iq4_levels(idx: __m512i) -> __m512 {
        // SAFETY: the table holds 16 floats; `loadu` is unaligned.
        let table = unsafe { _mm512_loadu_ps(IQ4NL_LEVELS.as_ptr()) };
        _mm512_permutexvar_ps(idx, table)
    }
}

/// Defines a unit type for a format and its [`Format`] impl, compiled for AVX-512. A
/// format whose blocks share one scale says so with `shared |h| scale`, the scale read
/// from the header.
macro_rules! block_format {
    ($(#[$doc:meta])* $name:ident, $len:literal, $bytes:literal, $header:ty,
     |$hb:ident| $head:block, $(shared |$sh:ident| $scale:block,)?
     |$b:ident, $h:ident, $g:ident| $group:block) => {
        $(#[$doc])*
        pub(super) struct $name;

        impl Format for $name {
            const LEN: usize = $len;
            const BYTES: usize = $bytes;
            type Header = $header;

            #[inline]
            #[target_feature(enable = "avx512f,avx2,fma,f16c")]
            unsafe fn header($hb: &[u8]) -> $header $head

            $(
                const SHARED_SCALE: bool = true;

                #[inline]
                #[target_feature(enable = "avx512f,avx2,fma,f16c")]
                unsafe fn shared_scale($sh: &$header) -> __m512 $scale
            )?

            #[inline]
            #[target_feature(enable = "avx512f,avx2,fma,f16c")]
            unsafe fn group($b: &[u8], $h: &$header, $g: usize) -> __m512 $group
        }
    };
}

block_format!(
    /// Q8_0: d·q.
    Q8_0, 32, 34, __m512,
    |b| { f16_splat(b, 0) },
    shared |d| { *d },
    |b, _d, g| {
        let b = &b[2 + 16 * g..][..16];
        // SAFETY: `b` holds 16 bytes (sliced above); `loadu` is unaligned.
        let q = unsafe { _mm_loadu_si128(b.as_ptr().cast()) };
        _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q))
    }
);

block_format!(
    /// Q4_0: d·(nib − 8); low nibbles are elements 0..16, high nibbles 16..32.
    Q4_0, 32, 18, __m512,
    |b| { f16_splat(b, 0) },
    shared |d| { *d },
    |b, _d, g| {
        _mm512_cvtepi32_ps(_mm512_sub_epi32(nibbles(b, 2, g == 1), _mm512_set1_epi32(8)))
    }
);

block_format!(
    /// Q4_1: d·nib + m.
    Q4_1, 32, 20, (__m512, __m512),
    |b| { (f16_splat(b, 0), f16_splat(b, 2)) },
    |b, h, g| {
        _mm512_fmadd_ps(h.0, _mm512_cvtepi32_ps(nibbles(b, 4, g == 1)), h.1)
    }
);

block_format!(
    /// Q5_0: d·(q − 16), q = nibble + 16·(bit of `qh`). For a nibble n, q − 16 is n where
    /// the bit is set and n − 16 = n | !15 (two's complement) where it is clear: one
    /// masked OR, over the bits of `qh` inverted once per block.
    Q5_0, 32, 22, (__m512, u32),
    |b| { (f16_splat(b, 0), !u32::from_le_bytes([b[2], b[3], b[4], b[5]])) },
    shared |h| { h.0 },
    |b, h, g| {
        let n = nibbles(b, 6, g == 1);
        let q = _mm512_mask_or_epi32(n, (h.1 >> (16 * g)) as __mmask16, n, _mm512_set1_epi32(!15));
        _mm512_cvtepi32_ps(q)
    }
);

block_format!(
    /// Q5_1: d·q + m, q = nibble + 16·(bit of `qh`).
    Q5_1, 32, 24, (__m512, __m512, u32),
    |b| { (f16_splat(b, 0), f16_splat(b, 2), u32::from_le_bytes([b[4], b[5], b[6], b[7]])) },
    |b, h, g| {
        let q = add_high_bit(nibbles(b, 8, g == 1), (h.2 >> (16 * g)) as __mmask16);
        _mm512_fmadd_ps(h.0, _mm512_cvtepi32_ps(q), h.1)
    }
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
        // Group g = 8n + 2j + half: bytes 32n + 16·half, bits 2j..2j + 2.
        let (n, j, half) = (g / 8, (g % 8) / 2, g % 2);
        let q = bit_field(bytes_u32(b, 16 + 32 * n + 16 * half), 2 * j as u32, 2);
        _mm512_fmsub_ps(_mm512_set1_ps(h.scale[g]), _mm512_cvtepi32_ps(q), _mm512_set1_ps(h.min[g]))
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
        let (n, j, half) = (g / 8, (g % 8) / 2, g % 2);
        let q = bit_field(bytes_u32(b, 32 + 32 * n + 16 * half), 2 * j as u32, 2);
        let bit = _mm512_set1_epi32(1 << (4 * n + j));
        let high = _mm512_test_epi32_mask(bytes_u32(b, 16 * half), bit);
        let q = _mm512_mask_mov_epi32(_mm512_sub_epi32(q, _mm512_set1_epi32(4)), high, q);
        _mm512_mul_ps(_mm512_set1_ps(h[g]), _mm512_cvtepi32_ps(q))
    }
);

block_format!(
    /// Q4_K (144 bytes: f16 d, f16 dmin, 12 scale bytes, 128 bytes of nibbles):
    /// d·scale·q − dmin·min per 32 elements; each 32-byte chunk holds two sub-blocks,
    /// low nibbles first.
    Q4_K, 256, 144, SubScales,
    |b| { blocks::k4_sub_scales(b) },
    |b, h, g| {
        let (j, half) = (g / 2, g % 2);
        let q = nibbles(b, 16 + 32 * (j / 2) + 16 * half, j % 2 == 1);
        _mm512_fmsub_ps(_mm512_set1_ps(h.scale[j]), _mm512_cvtepi32_ps(q), _mm512_set1_ps(h.min[j]))
    }
);

block_format!(
    /// Q5_K (176 bytes: f16 d, f16 dmin, 12 scale bytes, 32 bytes of high bits, 128 of
    /// nibbles): as Q4_K with a fifth bit, bit j of `qh[l]` for sub-block j.
    Q5_K, 256, 176, SubScales,
    |b| { blocks::k4_sub_scales(b) },
    |b, h, g| {
        let (j, half) = (g / 2, g % 2);
        let q = nibbles(b, 48 + 32 * (j / 2) + 16 * half, j % 2 == 1);
        let high = _mm512_test_epi32_mask(bytes_u32(b, 16 + 16 * half), _mm512_set1_epi32(1 << j));
        let q = add_high_bit(q, high);
        _mm512_fmsub_ps(_mm512_set1_ps(h.scale[j]), _mm512_cvtepi32_ps(q), _mm512_set1_ps(h.min[j]))
    }
);

block_format!(
    /// Q6_K: d·scale·(q − 32) per 16 elements, decoded once per block with byte-wide
    /// operations ([`q6_k_values`]); a group is one widening load.
    Q6_K, 256, 210, Q6Values,
    |b| { q6_k_values(b) },
    |_b, h, g| {
        let q = &h.q[16 * g..16 * g + 16];
        // SAFETY: `q` holds 16 bytes (sliced above); `loadu` is unaligned.
        let q = _mm512_cvtepi8_epi32(unsafe { _mm_loadu_si128(q.as_ptr().cast()) });
        _mm512_mul_ps(_mm512_set1_ps(h.scale[g]), _mm512_cvtepi32_ps(q))
    }
);

block_format!(
    /// IQ4_NL: d·level[nib], low nibbles first.
    IQ4_NL, 32, 18, __m512,
    |b| { f16_splat(b, 0) },
    shared |d| { *d },
    |b, _d, g| { iq4_levels(nibbles(b, 2, g == 1)) }
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
        let (ib, half) = (g / 2, g % 2);
        let levels = iq4_levels(nibbles(b, 8 + 16 * ib, half == 1));
        _mm512_mul_ps(_mm512_set1_ps(h[ib]), levels)
    }
);
