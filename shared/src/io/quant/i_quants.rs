//! The i-quants (codebook quantizations) and the ternary types: ggml's
//! `dequantize_row_iq2_xxs` … `dequantize_row_iq4_xs`, `dequantize_row_tq1_0` and
//! `dequantize_row_tq2_0`.
//!
//! IQ2 and IQ3 store, per 8 (or 4) elements, an index into a grid of magnitude vectors
//! (see `grids`) plus a sign per element; IQ1 grids hold −1/0/1 and add a small shift.
//! IQ4 maps each nibble through a fixed non-linear table. Every K-sized block holds 256
//! elements in eight 32-element sub-blocks, each with its own scale.
//!
//! Each `dequantize_block_*` takes one block's bytes (`DType::block_bytes()` of them)
//! and writes its elements to `y`; [`super::dequantize`] checks the sizes.

use super::grids::{
    IQ1S_GRID, IQ2S_GRID, IQ2XS_GRID, IQ2XXS_GRID, IQ3S_GRID, IQ3XXS_GRID, KSIGNS_IQ2XS,
    KVALUES_IQ4NL,
};
use super::{read_f16, read_u16, read_u32};

/// The shift IQ1_S and IQ1_M add to every grid value before scaling (ggml's `IQ1S_DELTA`
/// and `IQ1M_DELTA`); the block stores its sign.
const IQ1_DELTA: f32 = 0.125;

/// Write `scale`·`magnitudes[j]` to `y[j]`, negated where bit `j` of `signs` is set.
fn put_signed(y: &mut [f32], scale: f32, magnitudes: [u8; 8], signs: u8) {
    for (j, (x, &m)) in y.iter_mut().zip(&magnitudes).enumerate() {
        let v = scale * f32::from(m);
        *x = if (signs >> j) & 1 == 1 { -v } else { v };
    }
}

/// The 8 magnitudes of two 4-element grid points (IQ3), the first in elements 0..4.
fn two_points(first: u32, second: u32) -> [u8; 8] {
    (u64::from(first) | (u64::from(second) << 32)).to_le_bytes()
}

/// IQ2's and IQ3_XXS's sub-block scale from its 4-bit code: d·(0.5 + code)·`factor`
/// (computed in that order, as ggml does).
fn half_step_scale(d: f32, code: u32, factor: f32) -> f32 {
    d * (0.5 + code as f32) * factor
}

/// `block_iq2_xxs` (66 bytes): f16 `d`, then 8 bytes per 32 elements: four grid indices
/// (one byte per 8 elements, into [`IQ2XXS_GRID`]), and a u32 holding four 7-bit sign
/// patterns ([`KSIGNS_IQ2XS`]) in bits 0..28 and the scale code in bits 28..32;
/// x = d·(0.5 + code)/4 · ±grid.
pub(super) fn dequantize_block_iq2_xxs(block: &[u8], y: &mut [f32]) {
    let d = read_f16(block, 0);
    for (ib, y) in y.chunks_exact_mut(32).enumerate() {
        let at = 2 + 8 * ib;
        let aux = read_u32(block, at + 4);
        let db = half_step_scale(d, aux >> 28, 0.25);
        for (l, y) in y.chunks_exact_mut(8).enumerate() {
            let point = IQ2XXS_GRID[usize::from(block[at + l])].to_le_bytes();
            let signs = KSIGNS_IQ2XS[((aux >> (7 * l)) & 127) as usize];
            put_signed(y, db, point, signs);
        }
    }
}

/// `block_iq2_xs` (74 bytes): f16 `d`, 32 × u16 (per 8 elements: a 9-bit index into
/// [`IQ2XS_GRID`] and a 7-bit sign pattern), 8 bytes of 4-bit scale codes (low nibble
/// for the first 16 elements of each 32); x = d·(0.5 + code)/4 · ±grid.
pub(super) fn dequantize_block_iq2_xs(block: &[u8], y: &mut [f32]) {
    let d = read_f16(block, 0);
    for (ib, y) in y.chunks_exact_mut(32).enumerate() {
        let sc = block[66 + ib];
        let db = [sc & 0x0F, sc >> 4].map(|code| half_step_scale(d, code.into(), 0.25));
        for (l, y) in y.chunks_exact_mut(8).enumerate() {
            let q = read_u16(block, 2 + 2 * (4 * ib + l));
            let point = IQ2XS_GRID[usize::from(q & 511)].to_le_bytes();
            let signs = KSIGNS_IQ2XS[usize::from(q >> 9)];
            put_signed(y, db[l / 2], point, signs);
        }
    }
}

/// `block_iq2_s` (82 bytes): f16 `d`, 32 bytes of index low bits, 32 sign bytes (one
/// bit per element), 8 bytes of index high bits (2 per 8 elements), 8 bytes of 4-bit
/// scale codes as IQ2_XS. Indices are 10 bits into [`IQ2S_GRID`];
/// x = d·(0.5 + code)/4 · ±grid.
pub(super) fn dequantize_block_iq2_s(block: &[u8], y: &mut [f32]) {
    let d = read_f16(block, 0);
    let (low, signs, high) = (&block[2..34], &block[34..66], &block[66..74]);
    for (ib, y) in y.chunks_exact_mut(32).enumerate() {
        let sc = block[74 + ib];
        let db = [sc & 0x0F, sc >> 4].map(|code| half_step_scale(d, code.into(), 0.25));
        for (l, y) in y.chunks_exact_mut(8).enumerate() {
            let k = 4 * ib + l;
            let index = usize::from(low[k]) | (usize::from((high[ib] >> (2 * l)) & 3) << 8);
            put_signed(y, db[l / 2], IQ2S_GRID[index].to_le_bytes(), signs[k]);
        }
    }
}

/// `block_iq3_xxs` (98 bytes): f16 `d`, 64 bytes of indices into [`IQ3XXS_GRID`] (one
/// per 4 elements), then per 32 elements a u32 of four 7-bit sign patterns and the
/// scale code in bits 28..32; x = d·(0.5 + code)/2 · ±grid.
pub(super) fn dequantize_block_iq3_xxs(block: &[u8], y: &mut [f32]) {
    let d = read_f16(block, 0);
    let indices = &block[2..66];
    for (ib, y) in y.chunks_exact_mut(32).enumerate() {
        let aux = read_u32(block, 66 + 4 * ib);
        let db = half_step_scale(d, aux >> 28, 0.5);
        for (l, y) in y.chunks_exact_mut(8).enumerate() {
            let k = 8 * ib + 2 * l;
            let point = |i: usize| IQ3XXS_GRID[usize::from(indices[i])];
            let signs = KSIGNS_IQ2XS[((aux >> (7 * l)) & 127) as usize];
            put_signed(y, db, two_points(point(k), point(k + 1)), signs);
        }
    }
}

/// `block_iq3_s` (110 bytes): f16 `d`, 64 bytes of index low bits (one per 4 elements),
/// 8 bytes of index ninth bits (one byte per 32 elements), 32 sign bytes (one bit per
/// element), 4 bytes of 4-bit scale codes (one per 32 elements, low nibble first).
/// Indices are 9 bits into [`IQ3S_GRID`]; x = d·(1 + 2·code) · ±grid.
pub(super) fn dequantize_block_iq3_s(block: &[u8], y: &mut [f32]) {
    let d = read_f16(block, 0);
    let (low, high, signs, scales) = (
        &block[2..66],
        &block[66..74],
        &block[74..106],
        &block[106..110],
    );
    for (ib, y) in y.chunks_exact_mut(32).enumerate() {
        let code = (scales[ib / 2] >> (4 * (ib % 2))) & 0x0F;
        let db = d * f32::from(1 + 2 * code);
        let point = |k: usize| {
            let index = usize::from(low[8 * ib + k]) | (usize::from((high[ib] >> k) & 1) << 8);
            IQ3S_GRID[index]
        };
        for (l, y) in y.chunks_exact_mut(8).enumerate() {
            let magnitudes = two_points(point(2 * l), point(2 * l + 1));
            put_signed(y, db, magnitudes, signs[4 * ib + l]);
        }
    }
}

/// Write `scale`·(`point[j]` + `delta`) to `y[j]`, `point` being 8 signed bytes of
/// [`IQ1S_GRID`].
fn put_shifted(y: &mut [f32], scale: f32, point: u64, delta: f32) {
    for (x, &g) in y.iter_mut().zip(&point.to_le_bytes()) {
        *x = scale * (f32::from(g as i8) + delta);
    }
}

/// `block_iq1_s` (50 bytes): f16 `d`, 32 bytes of index low bits (one per 8 elements),
/// then per 32 elements a u16: four 3-bit index high parts (bits 0..12), a 3-bit scale
/// code (12..15) and the shift's sign (bit 15, set = −). Indices are 11 bits into
/// [`IQ1S_GRID`]; x = d·(2·code + 1)·(grid ± 0.125).
pub(super) fn dequantize_block_iq1_s(block: &[u8], y: &mut [f32]) {
    let d = read_f16(block, 0);
    let low = &block[2..34];
    for (ib, y) in y.chunks_exact_mut(32).enumerate() {
        let qh = read_u16(block, 34 + 2 * ib);
        let dl = d * f32::from(2 * ((qh >> 12) & 7) + 1);
        let delta = if qh & 0x8000 != 0 {
            -IQ1_DELTA
        } else {
            IQ1_DELTA
        };
        for (l, y) in y.chunks_exact_mut(8).enumerate() {
            let index = usize::from(low[4 * ib + l]) | (usize::from((qh >> (3 * l)) & 7) << 8);
            put_shifted(y, dl, IQ1S_GRID[index], delta);
        }
    }
}

/// `block_iq1_m` (56 bytes): 32 bytes of index low bits (one per 8 elements), 16 bytes
/// of nibbles (per 8 elements, low nibble first: 3 index high bits and the shift's sign
/// in bit 3), 4 × u16 of 3-bit scale codes (one per 16 elements, in bits 0..12) whose
/// top nibbles together are the f16 `d`. Indices are 11 bits into [`IQ1S_GRID`];
/// x = d·(2·code + 1)·(grid ± 0.125).
pub(super) fn dequantize_block_iq1_m(block: &[u8], y: &mut [f32]) {
    let (low, high) = (&block[0..32], &block[32..48]);
    let sc: [u16; 4] = std::array::from_fn(|t| read_u16(block, 48 + 2 * t));
    let d_bits =
        (sc[0] >> 12) | ((sc[1] >> 8) & 0x00F0) | ((sc[2] >> 4) & 0x0F00) | (sc[3] & 0xF000);
    let d = half::f16::from_bits(d_bits).to_f32();
    for (k, y) in y.chunks_exact_mut(8).enumerate() {
        let nibble = (high[k / 2] >> (4 * (k % 2))) & 0x0F;
        let index = usize::from(low[k]) | (usize::from(nibble & 7) << 8);
        let delta = if nibble & 8 != 0 {
            -IQ1_DELTA
        } else {
            IQ1_DELTA
        };
        let group = k / 2; // 16-element scale group
        let code = (sc[group / 4] >> (3 * (group % 4))) & 7;
        let dl = d * f32::from(2 * code + 1);
        put_shifted(y, dl, IQ1S_GRID[index], delta);
    }
}

/// `block_iq4_nl` (18 bytes): f16 `d`, 16 bytes of nibbles (byte `j`: element `j` low,
/// `j + 16` high) indexing [`KVALUES_IQ4NL`]; x = d·kvalue.
pub(crate) fn dequantize_block_iq4_nl(block: &[u8], y: &mut [f32]) {
    let d = read_f16(block, 0);
    put_iq4_nibbles(y, d, &block[2..18]);
}

/// Write the 32 elements of 16 IQ4 nibble bytes: `scale`·[`KVALUES_IQ4NL`]`[nibble]`,
/// byte `j`'s low nibble to `y[j]`, its high nibble to `y[j + 16]`.
fn put_iq4_nibbles(y: &mut [f32], scale: f32, qs: &[u8]) {
    for (j, &byte) in qs.iter().enumerate() {
        y[j] = scale * f32::from(KVALUES_IQ4NL[usize::from(byte & 0x0F)]);
        y[j + 16] = scale * f32::from(KVALUES_IQ4NL[usize::from(byte >> 4)]);
    }
}

/// `block_iq4_xs` (136 bytes): f16 `d`, a u16 of scale high bits (2 per 32 elements),
/// 4 bytes of scale low nibbles (low nibble first), 128 bytes of nibbles (16 bytes per 32
/// elements, ordered as IQ4_NL); x = d·(scale − 32)·kvalue with a 6-bit scale.
pub(crate) fn dequantize_block_iq4_xs(block: &[u8], y: &mut [f32]) {
    let d = read_f16(block, 0);
    for (ib, y) in y.chunks_exact_mut(32).enumerate() {
        let qs = &block[8 + 16 * ib..8 + 16 * (ib + 1)];
        put_iq4_nibbles(y, d * f32::from(iq4_xs_scale(block, ib)), qs);
    }
}

/// The 6-bit scale of IQ4_XS sub-block `ib` (0..8), minus 32: its low nibble from
/// `scales_l` (4 bytes at 4, low nibble first), its top two bits from the u16 `scales_h`
/// at 2.
pub(crate) fn iq4_xs_scale(block: &[u8], ib: usize) -> i16 {
    let scales_h = read_u16(block, 2);
    let low = (block[4 + ib / 2] >> (4 * (ib % 2))) & 0x0F;
    let high = ((scales_h >> (2 * ib)) & 3) as u8;
    i16::from(low | (high << 4)) - 32
}

/// Digit `k` (0 = most significant) of a byte holding a base-3 number of up to 5
/// digits as a fraction of 256 (TQ1_0 stores ⌈v·256/243⌉): multiplying by 3^k (mod 256)
/// drops the first `k` digits, and ·3 / 256 reads the next one.
fn ternary_digit(byte: u8, k: u32) -> u8 {
    let shifted = byte.wrapping_mul(3u8.pow(k));
    ((u16::from(shifted) * 3) >> 8) as u8
}

/// `block_tq1_0` (54 bytes): 48 bytes of 5 ternary digits each, 4 bytes of 4, f16 `d`.
/// Digit `k` of `qs[0..32]` gives elements `32k..32k + 32`, digit `k` of `qs[32..48]`
/// elements `160 + 16k..`, digit `k` of the last 4 bytes elements `240 + 4k..`;
/// x = d·(t − 1).
pub(super) fn dequantize_block_tq1_0(block: &[u8], y: &mut [f32]) {
    let d = read_f16(block, 52);
    let parts: [(&[u8], u32); 3] = [(&block[0..32], 5), (&block[32..48], 5), (&block[48..52], 4)];
    let digits = parts.into_iter().flat_map(|(bytes, n_digits)| {
        (0..n_digits).flat_map(move |k| bytes.iter().map(move |&b| ternary_digit(b, k)))
    });
    for (x, t) in y.iter_mut().zip(digits) {
        *x = f32::from(i16::from(t) - 1) * d;
    }
}

/// `block_tq2_0` (66 bytes): 64 bytes of 2-bit values, f16 `d`. Each 128-element half
/// uses 32 bytes, its quarters taking bits 0–1, 2–3, 4–5, 6–7; x = d·(q − 1).
pub(super) fn dequantize_block_tq2_0(block: &[u8], y: &mut [f32]) {
    let d = read_f16(block, 64);
    for (chunk, y) in y.chunks_exact_mut(32).enumerate() {
        let qs = &block[32 * (chunk / 4)..][..32];
        let shift = 2 * (chunk % 4);
        for (x, &byte) in y.iter_mut().zip(qs) {
            *x = f32::from(i16::from((byte >> shift) & 3) - 1) * d;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::f16_bytes;
    use super::*;

    #[test]
    fn iq4_nl_nibbles_index_the_non_linear_table() {
        let mut block = f16_bytes(0.5).to_vec();
        block.extend((0..16u8).map(|j| j | ((15 - j) << 4)));
        let mut y = [0.0; 32];
        dequantize_block_iq4_nl(&block, &mut y);
        assert_eq!((y[0], y[16]), (0.5 * -127.0, 0.5 * 113.0));
        assert_eq!((y[8], y[24]), (0.5 * 1.0, 0.5 * -10.0));
        assert_eq!(y[15], 0.5 * 113.0);
    }

    #[test]
    fn iq4_xs_six_bit_scales() {
        // Sub-block 3: low nibble 0xA (high nibble of scales_l[1]), high bits 0b10 →
        // scale 0x2A − 32 = 10. Every other scale is 0 − 32.
        let mut block = f16_bytes(0.25).to_vec();
        block.extend((0b10u16 << 6).to_le_bytes());
        block.extend([0, 0xA0, 0, 0]);
        block.extend([0x88u8; 128]); // kvalue[8] = 1
        let mut y = [0.0; 256];
        dequantize_block_iq4_xs(&block, &mut y);
        assert!(y[96..128].iter().all(|&x| x == 0.25 * 10.0));
        assert!(y[..96].iter().all(|&x| x == 0.25 * -32.0));
    }

    #[test]
    fn ksigns_have_even_parity_and_signs_apply_per_element() {
        assert_eq!(&KSIGNS_IQ2XS[..4], &[0x00, 0x81, 0x82, 0x03]);
        assert_eq!(KSIGNS_IQ2XS[127], 0xFF);
        assert!(KSIGNS_IQ2XS.iter().all(|s| s.count_ones() % 2 == 0));
        // IQ2_XXS, sub-block 0: grid point 0 (all 8s) with sign pattern 1 (elements 0
        // and 7 negative), scale code 3: db = d·3.5/4.
        let mut block = f16_bytes(2.0).to_vec();
        block.extend([0u8; 4]);
        block.extend((1u32 | (3 << 28)).to_le_bytes());
        block.extend([0u8; 56]);
        let mut y = [0.0; 256];
        dequantize_block_iq2_xxs(&block, &mut y);
        let db = 2.0 * 3.5 / 4.0;
        assert_eq!(
            &y[..8],
            &[
                -8.0 * db,
                8.0 * db,
                8.0 * db,
                8.0 * db,
                8.0 * db,
                8.0 * db,
                8.0 * db,
                -8.0 * db
            ]
        );
        assert_eq!(y[8], 8.0 * db);
        assert_eq!(y[32], 2.0 * 0.5 / 4.0 * 8.0);
    }

    #[test]
    fn iq1_m_reassembles_d_from_the_scale_nibbles() {
        // d = 1.0 is f16 0x3C00: nibbles 0x0, 0x0, 0xC, 0x3 from sc[0] to sc[3].
        // Scale codes all 0 (×1); grid index 0 (all −1), shift + for the first 8
        // elements, − (bit 3 of the low nibble) for the next 8.
        let mut block = [0u8; 32].to_vec();
        block.extend([0x08u8 << 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        for top in [0x0u16, 0x0, 0xC, 0x3] {
            block.extend((top << 12).to_le_bytes());
        }
        let mut y = [0.0; 256];
        dequantize_block_iq1_m(&block, &mut y);
        assert!(y[..8].iter().all(|&x| x == -1.0 + 0.125));
        assert!(y[8..16].iter().all(|&x| x == -1.0 - 0.125));
        assert_eq!(y[16], -1.0 + 0.125);
    }

    #[test]
    fn ternary_digits() {
        // v = 2·81 + 0·27 + 1·9 + 2·3 + 1 = 178, stored as ⌈178·256/243⌉ = 188.
        let digits: Vec<u8> = (0..5).map(|k| ternary_digit(188, k)).collect();
        assert_eq!(digits, [2, 0, 1, 2, 1]);
        let mut block = [0u8; 52].to_vec();
        block[0] = 188;
        block.extend(f16_bytes(3.0));
        let mut y = [0.0; 256];
        dequantize_block_tq1_0(&block, &mut y);
        assert_eq!(
            [y[0], y[32], y[64], y[96], y[128]],
            [3.0, -3.0, 0.0, 3.0, 0.0]
        );
        assert_eq!(y[1], -3.0);
        // TQ2_0: byte 0 = 0b00_01_10_11 → elements 0, 32, 64, 96 are 2, 1, 0, −1 (·d).
        let mut block = [0u8; 64].to_vec();
        block[0] = 0b00_01_10_11;
        block.extend(f16_bytes(0.5));
        dequantize_block_tq2_0(&block, &mut y);
        assert_eq!(
            [y[0], y[32], y[64], y[96], y[1]],
            [1.0, 0.5, 0.0, -0.5, -0.5]
        );
    }
}
