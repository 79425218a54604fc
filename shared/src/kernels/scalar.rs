//! Plain-loop kernels: the reference that every SIMD kernel must reproduce.
//!
//! Quantized rows follow the ggml block layouts (`ggml-quants.c`), 32 elements per block:
//! - Q8_0 (34 bytes): f16 `d`, then 32 × i8 `q`; element = d·q.
//! - Q4_0 (18 bytes): f16 `d`, then 16 bytes; element = d·(nib − 8).
//! - Q4_1 (20 bytes): f16 `d`, f16 `m`, then 16 bytes; element = d·nib + m.
//!
//! In a Q4 block, byte `j`'s low nibble is element `j` and its high nibble is element `j + 16`.
//!
//! A quantized row is multiplied by activations that were themselves quantized to
//! [`BlockQ8`] (as llama.cpp does), so the inner loop is an exact integer dot product
//! and only one float multiply–add per block remains.

use half::f16;

use super::{BlockQ8, QFormat};

use super::QK;

/// Reads the little-endian f16 at `bytes[at..at + 2]` as f32.
fn f16_at(bytes: &[u8], at: usize) -> f32 {
    f16::from_le_bytes([bytes[at], bytes[at + 1]]).to_f32()
}

/// The `i`-th nibble (0..32) of a Q4 block's 16 packed bytes.
fn nibble(packed: &[u8], i: usize) -> u8 {
    if i < QK / 2 {
        packed[i] & 0x0F
    } else {
        packed[i - QK / 2] >> 4
    }
}

/// The quantization scale of a block whose largest magnitude is `amax`, and its inverse.
///
/// `d = amax / 127`; the inverse is 0 when it would not be finite (an all-zero block, or
/// one so tiny that `1/d` overflows), which quantizes the whole block to 0.
pub fn q8_scale(amax: f32) -> (f32, f32) {
    let d = amax / 127.0;
    let id = 1.0 / d;
    if id.is_finite() {
        (d, id)
    } else {
        (d, 0.0)
    }
}

/// Quantizes `x` (a whole number of 32-element blocks) to Q8 activation blocks:
/// per block `d = max|x| / 127`, `q = round_ties_even(x / d)` computed as `x · (1/d)`,
/// and `s = d · Σq`.
pub fn quantize_q8(x: &[f32], out: &mut [BlockQ8]) {
    assert_eq!(
        x.len(),
        out.len() * QK,
        "quantize_q8: x length must be 32 × blocks"
    );
    for (xb, ob) in x.chunks_exact(QK).zip(out.iter_mut()) {
        let amax = xb.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let (d, id) = q8_scale(amax);
        let mut isum = 0i32;
        for (q, v) in ob.qs.iter_mut().zip(xb) {
            *q = (v * id).round_ties_even() as i8;
            isum += i32::from(*q);
        }
        ob.d = d;
        ob.s = d * isum as f32;
    }
}

/// Σ a·b in one left-to-right f32 accumulation.
pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// One Q8_0 row (`xq.len()` blocks of 34 bytes) · Q8 activations.
pub fn dot_q8_0(row: &[u8], xq: &[BlockQ8]) -> f32 {
    debug_assert_eq!(row.len(), xq.len() * 34);
    let mut sum = 0.0f32;
    for (b, xb) in row.chunks_exact(34).zip(xq) {
        let isum: i32 = b[2..]
            .iter()
            .zip(&xb.qs)
            .map(|(&w, &x)| i32::from(w as i8) * i32::from(x))
            .sum();
        sum += f16_at(b, 0) * xb.d * isum as f32;
    }
    sum
}

/// One Q4_0 row (`xq.len()` blocks of 18 bytes) · Q8 activations.
pub fn dot_q4_0(row: &[u8], xq: &[BlockQ8]) -> f32 {
    debug_assert_eq!(row.len(), xq.len() * 18);
    let mut sum = 0.0f32;
    for (b, xb) in row.chunks_exact(18).zip(xq) {
        let packed = &b[2..];
        let isum: i32 = (0..QK)
            .map(|i| (i32::from(nibble(packed, i)) - 8) * i32::from(xb.qs[i]))
            .sum();
        sum += f16_at(b, 0) * xb.d * isum as f32;
    }
    sum
}

/// One Q4_1 row (`xq.len()` blocks of 20 bytes) · Q8 activations:
/// Σ (d·nib + m)·x̂ = d·d_x·Σ nib·q_x + m·s_x per block.
pub fn dot_q4_1(row: &[u8], xq: &[BlockQ8]) -> f32 {
    debug_assert_eq!(row.len(), xq.len() * 20);
    let mut sum = 0.0f32;
    for (b, xb) in row.chunks_exact(20).zip(xq) {
        let packed = &b[4..];
        let isum: i32 = (0..QK)
            .map(|i| i32::from(nibble(packed, i)) * i32::from(xb.qs[i]))
            .sum();
        sum += f16_at(b, 0) * xb.d * isum as f32 + f16_at(b, 2) * xb.s;
    }
    sum
}

/// Dequantizes one row of `fmt` blocks into `out` (`out.len()` elements, a multiple of 32).
pub fn dequantize_row(fmt: QFormat, row: &[u8], out: &mut [f32]) {
    debug_assert_eq!(row.len() * QK, out.len() * fmt.block_bytes());
    for (b, ob) in row
        .chunks_exact(fmt.block_bytes())
        .zip(out.chunks_exact_mut(QK))
    {
        let d = f16_at(b, 0);
        match fmt {
            QFormat::Q8_0 => {
                for (o, &q) in ob.iter_mut().zip(&b[2..]) {
                    *o = d * f32::from(q as i8);
                }
            }
            QFormat::Q4_0 => {
                for (i, o) in ob.iter_mut().enumerate() {
                    *o = d * (f32::from(nibble(&b[2..], i)) - 8.0);
                }
            }
            QFormat::Q4_1 => {
                let m = f16_at(b, 2);
                for (i, o) in ob.iter_mut().enumerate() {
                    *o = d * f32::from(nibble(&b[4..], i)) + m;
                }
            }
        }
    }
}

/// `y[r] = w[r] · x` for consecutive f32 rows of `x.len()` elements.
pub fn dot_rows_f32(w: &[f32], x: &[f32], y: &mut [f32]) {
    debug_assert_eq!(w.len(), x.len() * y.len());
    let n = x.len();
    for (r, out) in y.iter_mut().enumerate() {
        *out = dot_f32(&w[r * n..(r + 1) * n], x);
    }
}

/// `y[r] = w[r] · x̂` for consecutive `fmt` rows of `xq.len()` blocks.
pub fn dot_rows_q(fmt: QFormat, w: &[u8], xq: &[BlockQ8], y: &mut [f32]) {
    let row_bytes = xq.len() * fmt.block_bytes();
    debug_assert_eq!(w.len(), row_bytes * y.len());
    let dot = match fmt {
        QFormat::Q8_0 => dot_q8_0,
        QFormat::Q4_0 => dot_q4_0,
        QFormat::Q4_1 => dot_q4_1,
    };
    for (r, out) in y.iter_mut().enumerate() {
        *out = dot(&w[r * row_bytes..(r + 1) * row_bytes], xq);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_and_tiny_blocks_quantize_to_zero() {
        assert_eq!(q8_scale(0.0), (0.0, 0.0));
        // 1/(amax/127) overflows f32 for this amax: the block becomes all zeros.
        let tiny = 1e-38f32;
        assert_eq!(q8_scale(tiny).1, 0.0);
        let mut out = [BlockQ8::default(); 2];
        let mut x = [0.0f32; 64];
        x[40] = tiny;
        quantize_q8(&x, &mut out);
        assert!(out.iter().all(|b| b.qs == [0; QK] && b.s == 0.0));
    }

    #[test]
    fn largest_magnitude_maps_to_plus_or_minus_127() {
        let mut x = [0.25f32; 32];
        x[3] = -2.0;
        let mut out = [BlockQ8::default()];
        quantize_q8(&x, &mut out);
        assert_eq!(out[0].d, 2.0 / 127.0);
        assert_eq!(out[0].qs[3], -127);
        assert_eq!(out[0].qs[0], 16); // 0.25 · 63.5 = 15.875
    }

    #[test]
    fn nibbles_run_low_then_high() {
        let packed: Vec<u8> = (0..16).map(|j| 0xA0 | j).collect();
        assert_eq!(nibble(&packed, 5), 5);
        assert_eq!(nibble(&packed, 21), 0xA);
    }
}
