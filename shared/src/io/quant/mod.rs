//! Dequantization: turning stored tensor bytes of any [`DType`] into f32.
//!
//! Block layouts follow ggml (`ggml-common.h`, `ggml-quants.c` `dequantize_row_*`),
//! the same definitions gguf-py uses. All multi-byte values are little-endian.
//! These functions are deliberately plain: they are the reference that the fast
//! kernels are tested against. One function per block type, in three files:
//!
//! - `legacy` — 32-element blocks with one scale: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, MXFP4
//! - `k_quants` — 256-element "K" super-blocks with per-sub-block scales: Q2_K..Q6_K
//! - `i_quants` — lattice ("grid") and non-linear codebooks: IQ1_S..IQ4_XS, and the
//!   ternary TQ1_0, TQ2_0
//!
//! with the codebooks in `grids`.

pub(crate) mod i_quants;
pub(crate) mod k_quants;
pub(crate) mod legacy;

pub(crate) mod grids;

use super::DType;
use crate::{Error, Result};
use half::{bf16, f16};

/// Dequantize `out.len()` elements of type `dtype` from `bytes` into `out`.
///
/// `bytes.len()` must equal `dtype.bytes_for(out.len())`: a whole number of
/// blocks, nothing left over. Elements come out in storage order.
pub fn dequantize(dtype: DType, bytes: &[u8], out: &mut [f32]) -> Result<()> {
    check_len(dtype, bytes.len(), out.len())?;
    match dtype {
        DType::F32 => convert_elements(dtype, bytes, out, |b| {
            f32::from_le_bytes([b[0], b[1], b[2], b[3]])
        }),
        DType::F16 => convert_elements(dtype, bytes, out, |b| read_f16(b, 0)),
        DType::BF16 => convert_elements(dtype, bytes, out, |b| {
            bf16::from_bits(read_u16(b, 0)).to_f32()
        }),
        DType::Q8_0 => for_each_block(dtype, bytes, out, legacy::dequantize_block_q8_0),
        DType::Q4_0 => for_each_block(dtype, bytes, out, legacy::dequantize_block_q4_0),
        DType::Q4_1 => for_each_block(dtype, bytes, out, legacy::dequantize_block_q4_1),
        DType::Q5_0 => for_each_block(dtype, bytes, out, legacy::dequantize_block_q5_0),
        DType::Q5_1 => for_each_block(dtype, bytes, out, legacy::dequantize_block_q5_1),
        DType::MXFP4 => for_each_block(dtype, bytes, out, legacy::dequantize_block_mxfp4),
        DType::Q2_K => for_each_block(dtype, bytes, out, k_quants::dequantize_block_q2_k),
        DType::Q3_K => for_each_block(dtype, bytes, out, k_quants::dequantize_block_q3_k),
        DType::Q4_K => for_each_block(dtype, bytes, out, k_quants::dequantize_block_q4_k),
        DType::Q5_K => for_each_block(dtype, bytes, out, k_quants::dequantize_block_q5_k),
        DType::Q6_K => for_each_block(dtype, bytes, out, k_quants::dequantize_block_q6_k),
        DType::IQ2_XXS => for_each_block(dtype, bytes, out, i_quants::dequantize_block_iq2_xxs),
        DType::IQ2_XS => for_each_block(dtype, bytes, out, i_quants::dequantize_block_iq2_xs),
        DType::IQ2_S => for_each_block(dtype, bytes, out, i_quants::dequantize_block_iq2_s),
        DType::IQ3_XXS => for_each_block(dtype, bytes, out, i_quants::dequantize_block_iq3_xxs),
        DType::IQ3_S => for_each_block(dtype, bytes, out, i_quants::dequantize_block_iq3_s),
        DType::IQ1_S => for_each_block(dtype, bytes, out, i_quants::dequantize_block_iq1_s),
        DType::IQ1_M => for_each_block(dtype, bytes, out, i_quants::dequantize_block_iq1_m),
        DType::IQ4_NL => for_each_block(dtype, bytes, out, i_quants::dequantize_block_iq4_nl),
        DType::IQ4_XS => for_each_block(dtype, bytes, out, i_quants::dequantize_block_iq4_xs),
        DType::TQ1_0 => for_each_block(dtype, bytes, out, i_quants::dequantize_block_tq1_0),
        DType::TQ2_0 => for_each_block(dtype, bytes, out, i_quants::dequantize_block_tq2_0),
    }
    Ok(())
}

/// Dequantize `n` elements of type `dtype` from `bytes` into a new vector.
pub fn dequantize_to_vec(dtype: DType, bytes: &[u8], n: usize) -> Result<Vec<f32>> {
    check_len(dtype, bytes.len(), n)?;
    let mut out = vec![0.0; n];
    dequantize(dtype, bytes, &mut out)?;
    Ok(out)
}

/// Dequantize row `row` of a row-major matrix whose rows hold `out.len()` elements,
/// given the bytes of the whole matrix (e.g. one token's embedding from a
/// quantized token table).
pub fn dequantize_row(dtype: DType, matrix: &[u8], row: usize, out: &mut [f32]) -> Result<()> {
    let row_bytes = dtype.bytes_for(out.len()).ok_or_else(|| {
        Error::InvalidArgument(format!(
            "dequantize_row {dtype:?}: a row of {} elements is not a whole number of {}-element blocks",
            out.len(),
            dtype.block_len()
        ))
    })?;
    let rows = matrix.len().checked_div(row_bytes).unwrap_or(0);
    if row >= rows || !matrix.len().is_multiple_of(row_bytes) {
        return Err(Error::InvalidArgument(format!(
            "dequantize_row {dtype:?}: row {row} of a {}-byte matrix with {row_bytes}-byte rows ({rows} rows)",
            matrix.len()
        )));
    }
    dequantize(dtype, &matrix[row * row_bytes..(row + 1) * row_bytes], out)
}

/// Check that `n_bytes` holds exactly `n` elements of `dtype`.
fn check_len(dtype: DType, n_bytes: usize, n: usize) -> Result<()> {
    match dtype.bytes_for(n) {
        Some(expected) if expected == n_bytes => Ok(()),
        Some(expected) => Err(Error::InvalidArgument(format!(
            "dequantize {dtype:?}: {n} elements need {expected} bytes, got {n_bytes}"
        ))),
        None => Err(Error::InvalidArgument(format!(
            "dequantize {dtype:?}: {n} elements is not a whole number of {}-element blocks",
            dtype.block_len()
        ))),
    }
}

/// Convert plain floats (one element per block) with `read`.
fn convert_elements(dtype: DType, bytes: &[u8], out: &mut [f32], read: impl Fn(&[u8]) -> f32) {
    for (x, b) in out.iter_mut().zip(bytes.chunks_exact(dtype.block_bytes())) {
        *x = read(b);
    }
}

/// Run `block_fn` on every (block bytes, block output) pair.
fn for_each_block(dtype: DType, bytes: &[u8], out: &mut [f32], block_fn: fn(&[u8], &mut [f32])) {
    let blocks = bytes.chunks_exact(dtype.block_bytes());
    for (block, y) in blocks.zip(out.chunks_exact_mut(dtype.block_len())) {
        block_fn(block, y);
    }
}

/// The little-endian f16 at `at`, as f32.
fn read_f16(bytes: &[u8], at: usize) -> f32 {
    f16::from_bits(read_u16(bytes, at)).to_f32()
}

/// The little-endian u16 at `at`.
fn read_u16(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

/// The little-endian u32 at `at`.
fn read_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// Values per Q8_0 block.
const QK8_0: usize = 32;

/// Quantizes `values` to GGML `Q8_0` blocks, as ggml's `quantize_row_q8_0_ref`
/// does: per block of 32, `d = max|x| / 127` (stored as f16) and
/// `q = round(x / d)` (computed with the f32 `d`, ties away from zero).
/// [`dequantize`] of the result is within `d/2` (plus f16 rounding of `d`) of
/// every value. Used by `--quantize q8_0` and to sample from a trained model
/// quickly (ch05's rollouts).
///
/// # Errors
/// If the length is not a multiple of 32.
pub fn quantize_q8_0(values: &[f32]) -> Result<Vec<u8>> {
    let mut out = vec![0; values.len() / QK8_0 * DType::Q8_0.block_bytes()];
    quantize_q8_0_into(values, &mut out)?;
    Ok(out)
}

/// [`quantize_q8_0`] into `out`, which must hold exactly the blocks of `values`
/// (34 bytes per 32 values): quantizing a matrix row by row without allocating.
///
/// # Errors
/// If the length is not a multiple of 32, or `out` has not the blocks' size.
pub fn quantize_q8_0_into(values: &[f32], out: &mut [u8]) -> Result<()> {
    if !values.len().is_multiple_of(QK8_0) {
        return Err(Error::InvalidArgument(format!(
            "Q8_0 quantizes blocks of {QK8_0} values; {} values do not fill whole blocks",
            values.len()
        )));
    }
    let block_bytes = DType::Q8_0.block_bytes();
    let expected = values.len() / QK8_0 * block_bytes;
    if out.len() != expected {
        return Err(Error::InvalidArgument(format!(
            "Q8_0: {} values need {expected} bytes of blocks, the output holds {}",
            values.len(),
            out.len()
        )));
    }
    for (block, y) in values
        .chunks_exact(QK8_0)
        .zip(out.chunks_exact_mut(block_bytes))
    {
        let amax = block.iter().fold(0.0f32, |m, &x| m.max(x.abs()));
        let d = amax / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        y[..2].copy_from_slice(&f16::from_f32(d).to_le_bytes());
        for (q, &x) in y[2..].iter_mut().zip(block) {
            *q = round_to_i8(x * id) as u8;
        }
    }
    Ok(())
}

/// `v.round() as i8` (C's `roundf`: halves away from zero, then saturated, NaN → 0),
/// in operations the compiler vectorizes: `roundf` is a library call per value on
/// baseline x86-64, and `as i32` a scalar conversion with range checks.
fn round_to_i8(v: f32) -> i8 {
    let v = if v.is_nan() {
        0.0
    } else {
        v.clamp(-128.0, 128.0)
    };
    // SAFETY: `v` is finite and within [-128, 128], so it converts to an i32.
    let t: i32 = unsafe { v.to_int_unchecked() }; // towards zero
    let frac = v - t as f32; // exact: the fractional part of a float is a float
    (t + i32::from(frac >= 0.5) - i32::from(frac <= -0.5)).clamp(-128, 127) as i8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q8_0_quantization_round_trips_its_own_blocks_and_bounds_the_error() {
        // A block dequantized from Q8_0 quantizes back to the same bytes.
        let mut block = f16::from_f32(0.0125).to_le_bytes().to_vec();
        block.extend((0..32).map(|i| ((i * 37 % 255) - 127) as i8 as u8));
        block[2] = 127u8; // one value at the scale's top
        let values = dequantize_to_vec(DType::Q8_0, &block, 32).unwrap();
        assert_eq!(quantize_q8_0(&values).unwrap(), block);
        // Arbitrary values come back within half a step.
        let values: Vec<f32> = (0..64)
            .map(|i| ((i * 7919) % 1000) as f32 / 333.0 - 1.5)
            .collect();
        let back = dequantize_to_vec(DType::Q8_0, &quantize_q8_0(&values).unwrap(), 64).unwrap();
        for (chunk, back) in values.chunks(32).zip(back.chunks(32)) {
            let step = chunk.iter().fold(0.0f32, |m, &x| m.max(x.abs())) / 127.0;
            for (x, y) in chunk.iter().zip(back) {
                assert!((x - y).abs() <= 0.5 * step * 1.002, "{x} vs {y}");
            }
        }
        assert_eq!(quantize_q8_0(&[0.0; 32]).unwrap()[2..], [0u8; 32]);
        assert!(quantize_q8_0(&[1.0; 31]).is_err());
        let mut short = [0u8; 33];
        let err = quantize_q8_0_into(&[1.0; 32], &mut short).unwrap_err();
        assert!(err.to_string().contains("34 bytes"), "{err}");
    }

    #[test]
    fn round_to_i8_equals_roundf_on_halves_their_neighbours_and_odd_values() {
        let mut values = vec![
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            0.0,
            -0.0,
            1e9,
            -1e9,
        ];
        for k in -135..135 {
            for base in [k as f32, k as f32 + 0.5] {
                let bits = base.to_bits();
                values.extend([
                    base,
                    f32::from_bits(bits + 1),
                    f32::from_bits(bits.max(1) - 1),
                ]);
            }
        }
        values.extend(
            (0..100_000).map(|i| ((i * 7919) % 100_003) as f32 / 100_003.0 * 300.0 - 150.0),
        );
        values.extend([0.49999997, -0.49999997, 127.49999, -127.5, -128.5, 128.4]);
        for v in values {
            assert_eq!(round_to_i8(v), v.round() as i8, "{v}");
        }
    }

    /// The little-endian bytes of `x` as f16 (for hand-built blocks).
    pub(super) fn f16_bytes(x: f32) -> [u8; 2] {
        f16::from_f32(x).to_bits().to_le_bytes()
    }

    #[test]
    fn q4_0_low_nibbles_are_the_first_half() {
        let mut block = f16_bytes(0.5).to_vec();
        block.extend((0..16u8).map(|j| j | ((15 - j) << 4)));
        let mut y = [0.0; 32];
        dequantize(DType::Q4_0, &block, &mut y).unwrap();
        for j in 0..16 {
            assert_eq!(y[j], 0.5 * (j as f32 - 8.0));
            assert_eq!(y[j + 16], 0.5 * (7.0 - j as f32));
        }
    }

    #[test]
    fn q4_1_adds_the_min() {
        let mut block = f16_bytes(2.0).to_vec();
        block.extend(f16_bytes(-1.0));
        block.extend([0x21u8; 16]);
        let mut y = [0.0; 32];
        dequantize(DType::Q4_1, &block, &mut y).unwrap();
        assert!(y[..16].iter().all(|&x| x == 1.0));
        assert!(y[16..].iter().all(|&x| x == 3.0));
    }

    #[test]
    fn wrong_byte_count_is_an_error() {
        let err = dequantize(DType::Q8_0, &[0; 33], &mut [0.0; 32]).unwrap_err();
        assert!(err.to_string().contains("need 34 bytes, got 33"), "{err}");
        let err = dequantize(DType::Q4_K, &[0; 144], &mut [0.0; 128]).unwrap_err();
        assert!(err.to_string().contains("whole number"), "{err}");
    }

    #[test]
    fn dequantize_row_picks_one_row() {
        let values: Vec<f32> = (0..6).map(|x| x as f32).collect();
        let bytes: Vec<u8> = values.iter().flat_map(|x| x.to_le_bytes()).collect();
        let mut row = [0.0; 3];
        dequantize_row(DType::F32, &bytes, 1, &mut row).unwrap();
        assert_eq!(row, [3.0, 4.0, 5.0]);
        assert!(dequantize_row(DType::F32, &bytes, 2, &mut row).is_err());
    }
}
