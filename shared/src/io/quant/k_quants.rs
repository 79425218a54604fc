//! The K-quants: 256-element super-blocks whose sub-blocks of 16 or 32 elements carry
//! their own small scales (and mins), themselves scaled by the block's f16 `d` (and
//! `dmin`). ggml's `dequantize_row_q2_K` … `dequantize_row_q6_K`.
//!
//! Each `dequantize_block_*` takes one block's bytes (`DType::block_bytes()` of them)
//! and writes its 256 elements to `y`; [`super::dequantize`] checks the sizes.
//!
//! The low bits of Q2_K, Q3_K and Q6_K are packed the same way: each 128-element half
//! of the block uses 32 bytes, and its four 32-element quarters take bits 0–1, 2–3, 4–5
//! and 6–7 of those bytes, in that order.

use super::read_f16;

/// `block_q2_K` (84 bytes): 16 bytes of scales (low nibble: the scale, high nibble: the
/// min of each 16 elements), 64 bytes of 2-bit values, f16 `d`, f16 `dmin`;
/// x = d·scale·q − dmin·min.
pub(crate) fn dequantize_block_q2_k(block: &[u8], y: &mut [f32]) {
    let scales = &block[0..16];
    let qs = &block[16..80];
    let d = read_f16(block, 80);
    let dmin = read_f16(block, 82);
    for (group, (y, &sc)) in y.chunks_exact_mut(16).zip(scales).enumerate() {
        let (q, shift) = low_two_bits(qs, group);
        let dl = d * f32::from(sc & 0x0F);
        let ml = dmin * f32::from(sc >> 4);
        for (x, &byte) in y.iter_mut().zip(q) {
            *x = dl * f32::from((byte >> shift) & 3) - ml;
        }
    }
}

/// For 16-element group `group` (0..16) of a Q2_K/Q3_K block, the 16 bytes of `qs`
/// that hold its 2-bit values and the shift that selects them (see the module doc).
fn low_two_bits(qs: &[u8], group: usize) -> (&[u8], usize) {
    let (half, quarter, part) = (group / 8, group / 2 % 4, group % 2);
    let start = 32 * half + 16 * part;
    (&qs[start..start + 16], 2 * quarter)
}

/// Q3_K's 16 six-bit scales (as stored, before subtracting 32) from their 12 packed
/// bytes: the low nibbles of bytes 0–7 are scales 0–7, their high nibbles scales 8–15;
/// scale `i`'s top two bits are bits `2·(i / 4)`.. of byte `8 + i % 4`.
pub(crate) fn q3_k_scales(packed: &[u8]) -> [u8; 16] {
    std::array::from_fn(|i| {
        let low = (packed[i % 8] >> (4 * (i / 8))) & 0x0F;
        let high = (packed[8 + i % 4] >> (2 * (i / 4))) & 3;
        low | (high << 4)
    })
}

/// `block_q3_K` (110 bytes): 32 bytes `hmask`, 64 bytes of low 2 bits, 12 bytes of
/// packed 6-bit scales (one per 16 elements), f16 `d`. Group `g` of 16 elements takes
/// its third bit from bit `g / 2` of `hmask[16·(g % 2)..][..16]`; a clear bit subtracts
/// 4 (so q runs −4..=3); x = d·(scale − 32)·q.
pub(crate) fn dequantize_block_q3_k(block: &[u8], y: &mut [f32]) {
    let hmask = &block[0..32];
    let qs = &block[32..96];
    let scales = q3_k_scales(&block[96..108]);
    let d = read_f16(block, 108);
    for (group, (y, &sc)) in y.chunks_exact_mut(16).zip(&scales).enumerate() {
        let (q, shift) = low_two_bits(qs, group);
        let hm = &hmask[16 * (group % 2)..][..16];
        let hbit = group / 2;
        let dl = d * f32::from(i16::from(sc) - 32);
        for ((x, &byte), &h) in y.iter_mut().zip(q).zip(hm) {
            let low = i16::from((byte >> shift) & 3);
            let minus = if (h >> hbit) & 1 == 1 { 0 } else { 4 };
            *x = dl * f32::from(low - minus);
        }
    }
}

/// The 6-bit scale and min of sub-block `j` (0..8) from Q4_K's and Q5_K's 12 packed
/// bytes (ggml's `get_scale_min_k4`).
pub(crate) fn scale_min_k4(j: usize, packed: &[u8]) -> (u8, u8) {
    if j < 4 {
        (packed[j] & 63, packed[j + 4] & 63)
    } else {
        let scale = (packed[j + 4] & 0x0F) | ((packed[j - 4] >> 6) << 4);
        let min = (packed[j + 4] >> 4) | ((packed[j] >> 6) << 4);
        (scale, min)
    }
}

/// `block_q4_K` (144 bytes): f16 `d`, f16 `dmin`, 12 bytes of packed 6-bit scales and
/// mins, 128 bytes of nibbles. Each 64-element chunk uses 32 bytes: the low nibbles are
/// its first 32 elements (sub-block 2c), the high nibbles the next 32 (sub-block 2c+1);
/// x = d·scale·q − dmin·min.
pub(crate) fn dequantize_block_q4_k(block: &[u8], y: &mut [f32]) {
    let d = read_f16(block, 0);
    let dmin = read_f16(block, 2);
    let packed = &block[4..16];
    let qs = &block[16..144];
    for (sub, y) in y.chunks_exact_mut(32).enumerate() {
        let (sc, m) = scale_min_k4(sub, packed);
        let (dl, ml) = (d * f32::from(sc), dmin * f32::from(m));
        let shift = 4 * (sub % 2);
        for (x, &byte) in y.iter_mut().zip(&qs[32 * (sub / 2)..][..32]) {
            *x = dl * f32::from((byte >> shift) & 0x0F) - ml;
        }
    }
}

/// `block_q5_K` (176 bytes): f16 `d`, f16 `dmin`, 12 bytes of scales and mins as
/// Q4_K, 32 bytes `qh`, 128 bytes of nibbles as Q4_K. Element `l` of sub-block `s`
/// takes its fifth bit from bit `s` of `qh[l]`; x = d·scale·q − dmin·min.
pub(crate) fn dequantize_block_q5_k(block: &[u8], y: &mut [f32]) {
    let d = read_f16(block, 0);
    let dmin = read_f16(block, 2);
    let packed = &block[4..16];
    let qh = &block[16..48];
    let qs = &block[48..176];
    for (sub, y) in y.chunks_exact_mut(32).enumerate() {
        let (sc, m) = scale_min_k4(sub, packed);
        let (dl, ml) = (d * f32::from(sc), dmin * f32::from(m));
        let shift = 4 * (sub % 2);
        let low = &qs[32 * (sub / 2)..][..32];
        for ((x, &byte), &h) in y.iter_mut().zip(low).zip(qh) {
            let q = ((byte >> shift) & 0x0F) | (((h >> sub) & 1) << 4);
            *x = dl * f32::from(q) - ml;
        }
    }
}

/// `block_q6_K` (210 bytes): 128 bytes `ql` (low 4 bits), 64 bytes `qh` (high 2 bits),
/// 16 × i8 scales, f16 `d`. Each 128-element half uses 64 bytes of `ql`, 32 of `qh`
/// and 8 scales (one per 16 elements); x = d·scale·(q − 32).
pub(crate) fn dequantize_block_q6_k(block: &[u8], y: &mut [f32]) {
    let d = read_f16(block, 208);
    for half in 0..2 {
        let ql = &block[64 * half..64 * (half + 1)];
        let qh = &block[128 + 32 * half..128 + 32 * (half + 1)];
        let scales = &block[192 + 8 * half..192 + 8 * (half + 1)];
        let y = &mut y[128 * half..128 * (half + 1)];
        for l in 0..32 {
            let is = l / 16;
            let q = [
                (ql[l] & 0x0F) | ((qh[l] & 3) << 4),
                (ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4),
                (ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4),
                (ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4),
            ];
            for (k, &qk) in q.iter().enumerate() {
                let scale = f32::from(scales[is + 2 * k] as i8);
                y[l + 32 * k] = d * scale * f32::from(i16::from(qk) - 32);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::f16_bytes;
    use super::*;

    #[test]
    fn q4_k_scale_min_unpacking() {
        let packed = [1, 2, 3, 4, 5, 6, 7, 8, 0x21, 0x43, 0x65, 0x87];
        assert_eq!(scale_min_k4(0, &packed), (1, 5));
        assert_eq!(scale_min_k4(3, &packed), (4, 8));
        assert_eq!(scale_min_k4(4, &packed), (1, 2));
        assert_eq!(scale_min_k4(7, &packed), (7, 8));
        let high = [0xC0; 12];
        assert_eq!(scale_min_k4(5, &high), (0x30, 0x3C));
    }

    #[test]
    fn q2_k_quarters_take_successive_bit_pairs() {
        // Scale 1 and min 0 everywhere except group 5 (scale 2, min 1), d = 0.5,
        // dmin = 0.25. qs byte 0 = 0b11_10_01_00: elements 0, 32, 64, 96 (groups 0, 2,
        // 4, 6: bits 0–1, 2–3, 4–5, 6–7) get 0, 1, 2, 3. Group 5 (elements 80..96) is
        // half 0, quarter 2, second 16: bytes 16..32, bits 4–5.
        let mut block = [0x01u8; 16].to_vec();
        block[5] = 0x12;
        let mut qs = [0u8; 64];
        qs[0] = 0b11_10_01_00;
        qs[16 + 3] = 0b0000_1100; // bits 2–3: group 3, not 5
        qs[16 + 4] = 0b0011_0000;
        block.extend(qs);
        block.extend(f16_bytes(0.5));
        block.extend(f16_bytes(0.25));
        let mut y = [0.0; 256];
        dequantize_block_q2_k(&block, &mut y);
        assert_eq!([y[0], y[32], y[64], y[96]], [0.0, 0.5, 1.0, 1.5]);
        assert_eq!((y[51], y[83]), (1.5, -0.25));
        assert_eq!(y[84], 0.5 * 2.0 * 3.0 - 0.25);
        assert!(y[128..].iter().all(|&x| x == 0.0));
    }

    #[test]
    fn q3_k_scales_and_high_mask() {
        // Scales: byte 0 = 0x21 → scale 0 low 1, scale 8 low 2; byte 8 = 0b10_00_00_11 →
        // scale 0 high 3, scale 12 high 2.
        let mut packed = [0u8; 12];
        packed[0] = 0x21;
        packed[8] = 0b1000_0011;
        let scales = q3_k_scales(&packed);
        assert_eq!(scales[0], 0x31);
        assert_eq!(scales[8], 0x02);
        assert_eq!(scales[12], 0x20);
        assert_eq!(scales[1], 0);
        // A block with every scale 33 (= +1), low bits 0: elements with their hmask bit
        // set are 0, the others −4. Set bit 1 (group 2 and 3) of hmask[0] and hmask[16].
        let mut block = [0u8; 32].to_vec();
        block[0] = 0b10;
        block[16] = 0b10;
        block.extend([0u8; 64]);
        block.extend([0x11u8; 8]);
        block.extend([0b1010_1010u8; 4]);
        block.extend(f16_bytes(1.0));
        let mut y = [0.0; 256];
        dequantize_block_q3_k(&block, &mut y);
        assert_eq!((y[32], y[48], y[33]), (0.0, 0.0, -4.0));
        assert_eq!((y[0], y[16]), (-4.0, -4.0));
        assert_eq!(y.iter().filter(|&&x| x == 0.0).count(), 2);
    }

    #[test]
    fn q5_k_fifth_bit_is_the_sub_block_bit_of_qh() {
        // All scales 1, mins 0, nibbles 0; qh[7] has bits 0 and 5: elements 7 and 5·32+7.
        let mut block = f16_bytes(1.0).to_vec();
        block.extend(f16_bytes(0.0));
        block.extend([1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1]);
        let mut qh = [0u8; 32];
        qh[7] = 0b10_0001;
        block.extend(qh);
        block.extend([0u8; 128]);
        let mut y = [0.0; 256];
        dequantize_block_q5_k(&block, &mut y);
        for (i, &x) in y.iter().enumerate() {
            let expected = if i == 7 || i == 167 { 16.0 } else { 0.0 };
            assert_eq!(x, expected, "element {i}");
        }
    }
}
