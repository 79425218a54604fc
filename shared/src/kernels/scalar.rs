//! Plain-loop kernels: the reference that every SIMD kernel must reproduce.
//!
//! Quantized rows follow the ggml block layouts (`ggml-quants.c`), 32 elements per block:
//! - Q8_0 (34 bytes): f16 `d`, then 32 × i8 `q`; element = d·q.
//! - Q4_0 (18 bytes): f16 `d`, then 16 bytes; element = d·(nib − 8).
//! - Q4_1 (20 bytes): f16 `d`, f16 `m`, then 16 bytes; element = d·nib + m.
//!
//! In a Q4 block, byte `j`'s low nibble is element `j` and its high nibble is element `j + 16`.
//!
//! A bf16 value is the upper 16 bits of an f32, so widening it (`bits << 16`) is exact.
//!
//! A quantized row is multiplied by f32 activations directly: each block's weights are
//! expanded on the fly and summed against `x`, then scaled by the block's `d` (and, for
//! Q4_1, its offset `m` times the block's sum of `x`). The result is dequantize(W)·x up
//! to float rounding. The other formats (Q5_0, Q5_1, the K-quants, IQ4_NL, IQ4_XS) take
//! the plainest route: each block dequantized by [`crate::io::dequantize`], then
//! dotted with `x` ([`dot_dequantized`]).

use half::f16;

use super::{QFormat, QK, QK_K};

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

/// Σ a·b in one left-to-right f32 accumulation.
pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The bf16 value with bit pattern `bits`, as f32 (exact: bf16 is a truncated f32).
pub fn bf16_to_f32(bits: u16) -> f32 {
    f32::from_bits(u32::from(bits) << 16)
}

/// One bf16 row (raw bits) · `x` in one left-to-right f32 accumulation.
pub fn dot_bf16(row: &[u16], x: &[f32]) -> f32 {
    debug_assert_eq!(row.len(), x.len());
    row.iter().zip(x).map(|(&w, v)| bf16_to_f32(w) * v).sum()
}

/// One bf16 row (raw bits) widened to f32 into `out` (`out.len() == row.len()`).
pub fn bf16_row_to_f32(row: &[u16], out: &mut [f32]) {
    debug_assert_eq!(row.len(), out.len());
    for (o, &w) in out.iter_mut().zip(row) {
        *o = bf16_to_f32(w);
    }
}

/// `y[r] = w[r] · x` for consecutive bf16 rows of `x.len()` elements.
pub fn dot_rows_bf16(w: &[u16], x: &[f32], y: &mut [f32]) {
    debug_assert_eq!(w.len(), x.len() * y.len());
    let n = x.len();
    for (r, out) in y.iter_mut().enumerate() {
        *out = dot_bf16(&w[r * n..(r + 1) * n], x);
    }
}

/// One Q8_0 row (`x.len() / 32` blocks of 34 bytes) · `x`: Σ_blocks d·Σ q_i·x_i.
pub fn dot_q8_0(row: &[u8], x: &[f32]) -> f32 {
    debug_assert_eq!(row.len() * QK, x.len() * 34);
    let mut sum = 0.0f32;
    for (b, xb) in row.chunks_exact(34).zip(x.chunks_exact(QK)) {
        let p: f32 = b[2..]
            .iter()
            .zip(xb)
            .map(|(&q, &v)| f32::from(q as i8) * v)
            .sum();
        sum += f16_at(b, 0) * p;
    }
    sum
}

/// One Q4_0 row (`x.len() / 32` blocks of 18 bytes) · `x`: Σ_blocks d·Σ (nib_i − 8)·x_i.
pub fn dot_q4_0(row: &[u8], x: &[f32]) -> f32 {
    debug_assert_eq!(row.len() * QK, x.len() * 18);
    let mut sum = 0.0f32;
    for (b, xb) in row.chunks_exact(18).zip(x.chunks_exact(QK)) {
        let packed = &b[2..];
        let p: f32 = xb
            .iter()
            .enumerate()
            .map(|(i, &v)| (f32::from(nibble(packed, i)) - 8.0) * v)
            .sum();
        sum += f16_at(b, 0) * p;
    }
    sum
}

/// One Q4_1 row (`x.len() / 32` blocks of 20 bytes) · `x`:
/// Σ_blocks (d·Σ nib_i·x_i + m·Σ x_i).
pub fn dot_q4_1(row: &[u8], x: &[f32]) -> f32 {
    debug_assert_eq!(row.len() * QK, x.len() * 20);
    let mut sum = 0.0f32;
    for (b, xb) in row.chunks_exact(20).zip(x.chunks_exact(QK)) {
        let packed = &b[4..];
        let p: f32 = xb
            .iter()
            .enumerate()
            .map(|(i, &v)| f32::from(nibble(packed, i)) * v)
            .sum();
        sum += f16_at(b, 0) * p + f16_at(b, 2) * xb.iter().sum::<f32>();
    }
    sum
}

/// Dequantizes one row of `fmt` blocks into `out` (`out.len()` elements, a multiple of
/// the block length).
pub fn dequantize_row(fmt: QFormat, row: &[u8], out: &mut [f32]) {
    debug_assert_eq!(row.len(), fmt.row_bytes(out.len()));
    if !matches!(fmt, QFormat::Q8_0 | QFormat::Q4_0 | QFormat::Q4_1) {
        dequantize(fmt, row, out);
        return;
    }
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
            _ => unreachable!("handled above"),
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

/// `fmt` blocks (a whole number of them in `bytes`) dequantized into `out` by the
/// reference, [`crate::io::dequantize`].
fn dequantize(fmt: QFormat, bytes: &[u8], out: &mut [f32]) {
    crate::io::dequantize(fmt.dtype(), bytes, out).expect("callers pass whole blocks");
}

/// One row of a format without a hand-written dot below (Q5_0, Q5_1, the K-quants,
/// IQ4_NL, IQ4_XS) · `x`: each block dequantized by the reference, its dot with `x`
/// summed left to right, the blocks' dots summed in order.
pub fn dot_dequantized(fmt: QFormat, row: &[u8], x: &[f32]) -> f32 {
    debug_assert_eq!(row.len(), fmt.row_bytes(x.len()));
    let mut w = [0.0f32; QK_K];
    let w = &mut w[..fmt.block_len()];
    let blocks = row.chunks_exact(fmt.block_bytes());
    let mut sum = 0.0f32;
    for (b, xb) in blocks.zip(x.chunks_exact(fmt.block_len())) {
        dequantize(fmt, b, w);
        sum += dot_f32(w, xb);
    }
    sum
}

/// `y[r] = w[r] · x` for consecutive `fmt` rows of `x.len() / block_len` blocks.
pub fn dot_rows_q(fmt: QFormat, w: &[u8], x: &[f32], y: &mut [f32]) {
    let row_bytes = fmt.row_bytes(x.len());
    debug_assert_eq!(w.len(), row_bytes * y.len());
    let dot: &dyn Fn(&[u8], &[f32]) -> f32 = match fmt {
        QFormat::Q8_0 => &dot_q8_0,
        QFormat::Q4_0 => &dot_q4_0,
        QFormat::Q4_1 => &dot_q4_1,
        _ => &|row, x| dot_dequantized(fmt, row, x),
    };
    for (r, out) in y.iter_mut().enumerate() {
        *out = dot(&w[r * row_bytes..(r + 1) * row_bytes], x);
    }
}

/// `y[i·rows + r] = w[r] · x_i` for `n` inputs of `cols` values back to back in `x` and
/// consecutive `fmt` rows (`y` is `n × rows`): [`dot_rows_q`] once per input.
pub fn dot_rows_q_multi(fmt: QFormat, w: &[u8], cols: usize, x: &[f32], y: &mut [f32]) {
    if cols == 0 {
        y.fill(0.0);
        return;
    }
    let n = x.len() / cols;
    let rows = y.len().checked_div(n).unwrap_or(0);
    for (x_i, y_i) in x.chunks_exact(cols).zip(y.chunks_exact_mut(rows.max(1))) {
        dot_rows_q(fmt, w, x_i, y_i);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_integer_blocks_give_exact_dots() {
        // Every product and partial sum is a small integer: no rounding anywhere.
        let x: Vec<f32> = (0..QK).map(|i| i as f32 - 10.0).collect();
        let packed: Vec<u8> = (0..16u8).map(|j| j | ((15 - j) << 4)).collect();
        let nibs: Vec<f32> = (0..QK).map(|i| f32::from(nibble(&packed, i))).collect();
        let dot = |w: &dyn Fn(usize) -> f32| (0..QK).map(|i| w(i) * x[i]).sum::<f32>();

        let mut q8 = f16::from_f32(2.0).to_le_bytes().to_vec();
        q8.extend((0..QK).map(|i| (i as i8 - 16) as u8));
        assert_eq!(dot_q8_0(&q8, &x), dot(&|i| 2.0 * (i as f32 - 16.0)));

        let mut q4_0 = f16::from_f32(0.5).to_le_bytes().to_vec();
        q4_0.extend(&packed);
        assert_eq!(dot_q4_0(&q4_0, &x), dot(&|i| 0.5 * (nibs[i] - 8.0)));

        let mut q4_1 = [
            f16::from_f32(4.0).to_le_bytes(),
            f16::from_f32(-3.0).to_le_bytes(),
        ]
        .concat();
        q4_1.extend(&packed);
        assert_eq!(dot_q4_1(&q4_1, &x), dot(&|i| 4.0 * nibs[i] - 3.0));
    }

    #[test]
    fn bf16_widens_exactly() {
        assert_eq!(bf16_to_f32(0x3F80), 1.0);
        assert_eq!(bf16_to_f32(0xC040), -3.0);
        assert_eq!(bf16_to_f32(0x3E20), 0.15625);
        let x = [2.0, -1.0, 0.5];
        assert_eq!(dot_bf16(&[0x3F80, 0xC040, 0x4000], &x), 2.0 + 3.0 + 1.0);
    }

    #[test]
    fn nibbles_run_low_then_high() {
        let packed: Vec<u8> = (0..16).map(|j| 0xA0 | j).collect();
        assert_eq!(nibble(&packed, 5), 5);
        assert_eq!(nibble(&packed, 21), 0xA);
    }
}
