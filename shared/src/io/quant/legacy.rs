//! The 32-element block types with one scale per block: Q8_0, Q4_0, Q4_1, Q5_0, Q5_1
//! and MXFP4 (ggml's `dequantize_row_q4_0` …).
//!
//! Each `dequantize_block_*` takes one block's bytes (`DType::block_bytes()` of them)
//! and writes its 32 elements to `y`; [`super::dequantize`] checks the sizes.
//! The nibble types share one order: byte `j` holds element `j` in its low nibble and
//! element `j + 16` in its high nibble.

use super::grids::KVALUES_MXFP4;
use super::{read_f16, read_u32};

/// `block_q8_0`: f16 `d`, then 32 × i8 `q`; x = d·q.
pub(super) fn dequantize_block_q8_0(block: &[u8], y: &mut [f32]) {
    let d = read_f16(block, 0);
    for (x, &q) in y.iter_mut().zip(&block[2..34]) {
        *x = d * f32::from(q as i8);
    }
}

/// `block_q4_0`: f16 `d`, then 16 bytes of nibbles; x = d·(q − 8).
pub(super) fn dequantize_block_q4_0(block: &[u8], y: &mut [f32]) {
    let d = read_f16(block, 0);
    for (j, &byte) in block[2..18].iter().enumerate() {
        y[j] = d * f32::from(i16::from(byte & 0x0F) - 8);
        y[j + 16] = d * f32::from(i16::from(byte >> 4) - 8);
    }
}

/// `block_q4_1`: f16 `d`, f16 `m`, then 16 bytes of nibbles; x = d·q + m.
pub(super) fn dequantize_block_q4_1(block: &[u8], y: &mut [f32]) {
    let d = read_f16(block, 0);
    let m = read_f16(block, 2);
    for (j, &byte) in block[4..20].iter().enumerate() {
        y[j] = d * f32::from(byte & 0x0F) + m;
        y[j + 16] = d * f32::from(byte >> 4) + m;
    }
}

/// The 5-bit values of elements `j` and `j + 16` of a Q5 block: the nibbles of
/// byte `j`, with bits `j` and `j + 16` of `qh` as their fifth bits.
fn five_bit_pair(byte: u8, qh: u32, j: usize) -> (u8, u8) {
    let high = |bit: usize| (((qh >> bit) & 1) as u8) << 4;
    ((byte & 0x0F) | high(j), (byte >> 4) | high(j + 16))
}

/// `block_q5_0` (22 bytes): f16 `d`, a u32 `qh` whose bit `i` is the fifth bit of
/// element `i`, then 16 bytes of nibbles (the low four bits); x = d·(q − 16).
pub(crate) fn dequantize_block_q5_0(block: &[u8], y: &mut [f32]) {
    let d = read_f16(block, 0);
    let qh = read_u32(block, 2);
    for (j, &byte) in block[6..22].iter().enumerate() {
        let (q0, q1) = five_bit_pair(byte, qh, j);
        y[j] = d * f32::from(i16::from(q0) - 16);
        y[j + 16] = d * f32::from(i16::from(q1) - 16);
    }
}

/// `block_q5_1` (24 bytes): f16 `d`, f16 `m`, a u32 of fifth bits and 16 bytes of
/// nibbles as in Q5_0; x = d·q + m.
pub(crate) fn dequantize_block_q5_1(block: &[u8], y: &mut [f32]) {
    let d = read_f16(block, 0);
    let m = read_f16(block, 2);
    let qh = read_u32(block, 4);
    for (j, &byte) in block[8..24].iter().enumerate() {
        let (q0, q1) = five_bit_pair(byte, qh, j);
        y[j] = d * f32::from(q0) + m;
        y[j + 16] = d * f32::from(q1) + m;
    }
}

/// Half of the E8M0 scale `e` (an exponent with bias 127: 2^(e − 127) / 2), as ggml's
/// `ggml_e8m0_to_fp32_half`. The halving makes up for [`KVALUES_MXFP4`] being doubled.
/// `e` = 0 and 1 give subnormal f32s; 255 (NaN in the OCP spec) gives 2^127, as in ggml.
pub(super) fn e8m0_to_f32_half(e: u8) -> f32 {
    let bits = if e < 2 {
        0x0020_0000u32 << e
    } else {
        u32::from(e - 1) << 23
    };
    f32::from_bits(bits)
}

/// `block_mxfp4` (17 bytes): a u8 E8M0 exponent `e`, then 16 bytes of E2M1 nibbles
/// (sign, 2 exponent bits, 1 mantissa bit); x = 2^(e − 127)·fp4(q).
pub(super) fn dequantize_block_mxfp4(block: &[u8], y: &mut [f32]) {
    let d = e8m0_to_f32_half(block[0]);
    for (j, &byte) in block[1..17].iter().enumerate() {
        y[j] = d * f32::from(KVALUES_MXFP4[usize::from(byte & 0x0F)]);
        y[j + 16] = d * f32::from(KVALUES_MXFP4[usize::from(byte >> 4)]);
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::f16_bytes;
    use super::*;

    #[test]
    fn q5_0_fifth_bits_come_from_qh_in_element_order() {
        // Every nibble is 0; qh sets the fifth bit of elements 0, 3 and 16 and 31 only.
        let qh: u32 = 1 | (1 << 3) | (1 << 16) | (1 << 31);
        let mut block = f16_bytes(0.25).to_vec();
        block.extend(qh.to_le_bytes());
        block.extend([0u8; 16]);
        let mut y = [0.0; 32];
        dequantize_block_q5_0(&block, &mut y);
        for (i, &x) in y.iter().enumerate() {
            let q = if [0, 3, 16, 31].contains(&i) {
                16.0
            } else {
                0.0
            };
            assert_eq!(x, 0.25 * (q - 16.0), "element {i}");
        }
        // Nibbles: low of byte j is element j, high is element j + 16.
        block[6 + 5] = 0x9A;
        dequantize_block_q5_0(&block, &mut y);
        assert_eq!((y[5], y[21]), (0.25 * (10.0 - 16.0), 0.25 * (9.0 - 16.0)));
    }

    #[test]
    fn q5_1_adds_the_min_to_five_bit_values() {
        let mut block = f16_bytes(0.5).to_vec();
        block.extend(f16_bytes(-2.0));
        block.extend((1u32 << 17).to_le_bytes());
        block.extend([0xF1u8; 16]);
        let mut y = [0.0; 32];
        dequantize_block_q5_1(&block, &mut y);
        assert_eq!(y[0], 0.5 * 1.0 - 2.0);
        assert_eq!(y[16], 0.5 * 15.0 - 2.0);
        assert_eq!(y[17], 0.5 * 31.0 - 2.0);
    }

    #[test]
    fn mxfp4_scales_by_a_power_of_two() {
        assert_eq!(e8m0_to_f32_half(127), 0.5);
        assert_eq!(e8m0_to_f32_half(130), 4.0);
        assert_eq!(e8m0_to_f32_half(1), 2f32.powi(-127));
        assert_eq!(e8m0_to_f32_half(0), 2f32.powi(-128));
        // e = 128: scale 2; nibbles 0x7 (+6), 0xF (−6), 0x1 (+0.5), 0x9 (−0.5).
        let mut block = vec![128u8, 0xF7, 0x91];
        block.extend([0u8; 14]);
        let mut y = [0.0; 32];
        dequantize_block_mxfp4(&block, &mut y);
        assert_eq!([y[0], y[16], y[1], y[17]], [12.0, -12.0, 1.0, -1.0]);
        assert_eq!(y[2], 0.0);
    }
}
