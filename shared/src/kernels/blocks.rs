//! What the header of each block format holds, decoded in plain scalar code: the scales
//! and mins that the SIMD kernels read once per block before they expand its weights
//! lane by lane. The bit-level helpers (packed scales, IQ4's levels) are the reference
//! dequantizer's own ([`crate::io::quant`]), so kernels and reference read a header the
//! same way.

pub(crate) use crate::io::quant::grids::KVALUES_IQ4NL;
pub(crate) use crate::io::quant::i_quants::iq4_xs_scale;
pub(crate) use crate::io::quant::k_quants::{q3_k_scales, scale_min_k4};

/// The little-endian f16 at `b[at..at + 2]`, as f32.
#[inline]
pub fn f16_at(b: &[u8], at: usize) -> f32 {
    f16_to_f32(u16::from_le_bytes([b[at], b[at + 1]]))
}

/// The f16 with bit pattern `bits` as f32, exactly, in plain integer code: the kernels
/// read a scale per block this way, which keeps the vector shuffle unit free for the
/// weights (and needs no call into a runtime-dispatched converter).
#[inline]
pub fn f16_to_f32(bits: u16) -> f32 {
    let h = u32::from(bits);
    let sign = (h & 0x8000) << 16;
    let (exp, man) = ((h >> 10) & 0x1F, h & 0x3FF);
    let magnitude = match exp {
        // Subnormal or zero: man · 2⁻²⁴, exact in f32.
        0 => (man as f32 * (1.0 / 16_777_216.0)).to_bits(),
        // Infinity or NaN (payload kept).
        0x1F => 0x7F80_0000 | (man << 13),
        // Normal: rebias the exponent from 15 to 127.
        _ => ((exp + 112) << 23) | (man << 13),
    };
    f32::from_bits(sign | magnitude)
}

/// Per 32-element sub-block of a Q4_K or Q5_K block: `d·scale` and `dmin·min`, so that
/// element = scale·q − min.
#[derive(Debug, Clone, Copy)]
pub struct SubScales {
    /// `d·scale_j`.
    pub scale: [f32; 8],
    /// `dmin·min_j`.
    pub min: [f32; 8],
}

/// The sub-block scales of a Q4_K or Q5_K block (f16 `d` at 0, f16 `dmin` at 2, the
/// 12 packed bytes at 4).
#[inline(always)]
pub fn k4_sub_scales(block: &[u8]) -> SubScales {
    let (d, dmin) = (f16_at(block, 0), f16_at(block, 2));
    let packed = &block[4..16];
    let mut s = SubScales {
        scale: [0.0; 8],
        min: [0.0; 8],
    };
    for j in 0..8 {
        let (sc, m) = scale_min_k4(j, packed);
        s.scale[j] = d * f32::from(sc);
        s.min[j] = dmin * f32::from(m);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use half::f16;

    #[test]
    fn f16_to_f32_is_exact_for_every_bit_pattern() {
        for bits in 0..=u16::MAX {
            let want = f16::from_bits(bits).to_f32();
            let got = f16_to_f32(bits);
            assert!(
                got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
                "{bits:#06x}: {got} vs {want}"
            );
        }
    }

    #[test]
    fn sub_scales_multiply_the_packed_fields_by_d_and_dmin() {
        let mut block = [0u8; 144];
        block[0..2].copy_from_slice(&f16::from_f32(0.5).to_le_bytes());
        block[2..4].copy_from_slice(&f16::from_f32(0.25).to_le_bytes());
        // Sub-block 1: scale 3 (byte 5 low 6 bits), min 7 (byte 9 low 6 bits).
        block[4 + 1] = 3;
        block[4 + 5] = 7;
        let s = k4_sub_scales(&block);
        assert_eq!((s.scale[1], s.min[1]), (1.5, 1.75));
        assert_eq!((s.scale[0], s.min[0]), (0.0, 0.0));
    }
}
