//! Matrix–vector kernels: a plain scalar version beside each SIMD one.
//!
//! [`scalar`] is the reference; [`avx2`] (x86-64 with AVX2, FMA and F16C) computes the
//! same math with wider registers, and [`avx512`] (AVX-512F) the quantized products
//! with 16 lanes. The functions at this level pick one of them at run time: the CPU is
//! probed once and the answer cached ([`isa`]; `RFS_ISA` can ask for a lower level).
//! Other targets use [`scalar`].
//!
//! bf16 weights are widened to f32 exactly (`bits << 16`) as they are read, so a bf16
//! product is the f32 product with the widened weights up to summation order.
//!
//! Quantized weights are multiplied against f32 activations: each block is expanded to
//! f32 on the fly (in registers, never stored) and summed against `x`, so every kernel
//! computes dequantize(W)·x exactly up to float rounding, and SIMD and scalar results
//! differ only by the order of the float additions. (llama.cpp instead rounds `x` to
//! 8-bit blocks first, which moves a small model's logits by tenths.)

use std::sync::OnceLock;

use crate::io::DType;

#[cfg(target_arch = "x86_64")]
pub mod avx2;
#[cfg(target_arch = "x86_64")]
pub mod avx512;
pub mod blocks;
#[cfg(target_arch = "x86_64")]
mod prefetch;
pub mod scalar;

/// Elements per block of the 32-element formats (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL).
pub const QK: usize = 32;

/// Elements per super-block of the K-quants and IQ4_XS.
pub const QK_K: usize = 256;

/// The ggml block formats the kernels multiply from directly, without an f32 copy of
/// the weights. Each block holds [`QFormat::block_len`] elements in
/// [`QFormat::block_bytes`] bytes; see [`DType`] for the layouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum QFormat {
    /// f16 `d` + 32 × i8; element = d·q.
    Q8_0,
    /// f16 `d` + 16 bytes of nibbles; element = d·(nib − 8).
    Q4_0,
    /// f16 `d`, f16 `m` + 16 bytes of nibbles; element = d·nib + m.
    Q4_1,
    /// f16 `d`, 32 high bits, 16 bytes of nibbles; element = d·(q − 16).
    Q5_0,
    /// f16 `d`, f16 `m`, 32 high bits, 16 bytes of nibbles; element = d·q + m.
    Q5_1,
    /// 256 elements of 2 bits, a 4-bit scale and min per 16.
    Q2_K,
    /// 256 elements of 3 bits, a 6-bit signed scale per 16.
    Q3_K,
    /// 256 elements of 4 bits, a 6-bit scale and min per 32.
    Q4_K,
    /// 256 elements of 5 bits, a 6-bit scale and min per 32.
    Q5_K,
    /// 256 elements of 6 bits, an i8 scale per 16.
    Q6_K,
    /// f16 `d` + 16 bytes of 4-bit indices into 16 non-uniform levels.
    IQ4_NL,
    /// 256 elements of 4-bit level indices, a 6-bit scale per 32.
    IQ4_XS,
}

impl QFormat {
    /// Every format, in ggml's type-id order.
    pub const ALL: [QFormat; 12] = [
        QFormat::Q4_0,
        QFormat::Q4_1,
        QFormat::Q5_0,
        QFormat::Q5_1,
        QFormat::Q8_0,
        QFormat::Q2_K,
        QFormat::Q3_K,
        QFormat::Q4_K,
        QFormat::Q5_K,
        QFormat::Q6_K,
        QFormat::IQ4_NL,
        QFormat::IQ4_XS,
    ];

    /// The block format of `dtype`, or `None` when the kernels do not multiply from it.
    pub fn from_dtype(dtype: DType) -> Option<QFormat> {
        QFormat::ALL.into_iter().find(|f| f.dtype() == dtype)
    }

    /// The storage type this format is.
    pub fn dtype(self) -> DType {
        match self {
            QFormat::Q8_0 => DType::Q8_0,
            QFormat::Q4_0 => DType::Q4_0,
            QFormat::Q4_1 => DType::Q4_1,
            QFormat::Q5_0 => DType::Q5_0,
            QFormat::Q5_1 => DType::Q5_1,
            QFormat::Q2_K => DType::Q2_K,
            QFormat::Q3_K => DType::Q3_K,
            QFormat::Q4_K => DType::Q4_K,
            QFormat::Q5_K => DType::Q5_K,
            QFormat::Q6_K => DType::Q6_K,
            QFormat::IQ4_NL => DType::IQ4_NL,
            QFormat::IQ4_XS => DType::IQ4_XS,
        }
    }

    /// Elements per block: [`QK`] or [`QK_K`].
    pub fn block_len(self) -> usize {
        self.dtype().block_len()
    }

    /// Bytes per block.
    pub fn block_bytes(self) -> usize {
        self.dtype().block_bytes()
    }

    /// Bytes of one row of `cols` elements (`cols` a multiple of [`QFormat::block_len`]).
    pub fn row_bytes(self, cols: usize) -> usize {
        cols / self.block_len() * self.block_bytes()
    }
}

/// The instruction set the dispatching kernels use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Isa {
    /// Plain loops ([`scalar`]).
    Scalar,
    /// AVX2 + FMA + F16C (`avx2`).
    Avx2,
    /// AVX-512F on top of [`Isa::Avx2`]: the quantized products use `avx512`, the
    /// f32 and bf16 ones stay on `avx2`.
    Avx512,
}

impl Isa {
    /// The name `RFS_ISA` accepts for this level.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
        }
    }
}

/// The instruction set the kernels use, chosen on first use and cached: the best this
/// CPU has, or a lower one named by the `RFS_ISA` environment variable (`scalar`,
/// `avx2`, `avx512`), e.g. to compare their speeds or to test a path this CPU would
/// not take. A level the CPU lacks is never used: the best available below it is.
pub fn isa() -> Isa {
    static ISA: OnceLock<Isa> = OnceLock::new();
    *ISA.get_or_init(|| {
        let best = detect();
        let asked = std::env::var("RFS_ISA").ok();
        match asked.as_deref().and_then(parse_isa) {
            Some(asked) => asked.min(best),
            None => best,
        }
    })
}

/// The level named `name` (`scalar`, `avx2`, `avx512`), if any.
fn parse_isa(name: &str) -> Option<Isa> {
    [Isa::Scalar, Isa::Avx2, Isa::Avx512]
        .into_iter()
        .find(|isa| isa.name().eq_ignore_ascii_case(name.trim()))
}

/// The best level this CPU supports.
#[cfg(target_arch = "x86_64")]
pub fn detect() -> Isa {
    let avx2 = is_x86_feature_detected!("avx2")
        && is_x86_feature_detected!("fma")
        && is_x86_feature_detected!("f16c");
    if !avx2 {
        Isa::Scalar
    } else if is_x86_feature_detected!("avx512f") {
        Isa::Avx512
    } else {
        Isa::Avx2
    }
}

/// The best level this CPU supports.
#[cfg(not(target_arch = "x86_64"))]
pub fn detect() -> Isa {
    Isa::Scalar
}

/// Σ a·b of two f32 vectors of the same length (attention scores): the AVX2
/// kernel where the CPU has it, else the scalar one.
pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "dot_f32: lengths differ");
    match isa() {
        // SAFETY: `isa()` returns Avx2 or above only after detecting avx2, fma and f16c.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 | Isa::Avx512 => unsafe { avx2::dot_f32(a, b) },
        _ => scalar::dot_f32(a, b),
    }
}

/// `y[r] = w[r] · x` for consecutive f32 rows of `x.len()` elements (`w.len() = x.len()·y.len()`).
pub fn dot_rows_f32(w: &[f32], x: &[f32], y: &mut [f32]) {
    assert_eq!(w.len(), x.len() * y.len(), "dot_rows_f32: shape mismatch");
    match isa() {
        // SAFETY: `isa()` returns Avx2 or above only after detecting avx2, fma and f16c.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 | Isa::Avx512 => unsafe { avx2::dot_rows_f32(w, x, y) },
        _ => scalar::dot_rows_f32(w, x, y),
    }
}

/// `y[r] = w[r] · x` for consecutive bf16 rows (raw bits) of `x.len()` elements
/// (`w.len() = x.len()·y.len()`). Each row's result does not depend on which rows
/// are computed beside it.
pub fn dot_rows_bf16(w: &[u16], x: &[f32], y: &mut [f32]) {
    assert_eq!(w.len(), x.len() * y.len(), "dot_rows_bf16: shape mismatch");
    match isa() {
        // SAFETY: `isa()` returns Avx2 or above only after detecting avx2, fma and
        // f16c; the lengths were checked above.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 | Isa::Avx512 => unsafe { avx2::dot_rows_bf16(w, x, y) },
        _ => scalar::dot_rows_bf16(w, x, y),
    }
}

/// `y[r] = w[r] · x` for consecutive rows of `fmt` blocks, `x.len() / block_len` blocks
/// per row (`x.len()` a multiple of [`QFormat::block_len`],
/// `w.len() = fmt.row_bytes(x.len()) · y.len()`).
pub fn dot_rows_q(fmt: QFormat, w: &[u8], x: &[f32], y: &mut [f32]) {
    assert_eq!(
        x.len() % fmt.block_len(),
        0,
        "dot_rows_q: {fmt:?} rows need a multiple of {} inputs",
        fmt.block_len()
    );
    assert_eq!(
        w.len(),
        fmt.row_bytes(x.len()) * y.len(),
        "dot_rows_q: shape mismatch"
    );
    match isa() {
        // SAFETY: `isa()` returned Avx2 only after detecting avx2, fma and f16c;
        // the lengths were checked above.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => unsafe { avx2::dot_rows_q(fmt, w, x, y) },
        // SAFETY: `isa()` returned Avx512 only after detecting avx512f, avx2, fma and
        // f16c; the lengths were checked above.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => unsafe { avx512::dot_rows_q(fmt, w, x, y) },
        _ => scalar::dot_rows_q(fmt, w, x, y),
    }
}

/// `y[i·rows + r] = w[r] · x_i` for `n` inputs of `cols` values held back to back in `x`
/// and consecutive rows of `fmt` blocks (`y` is `n × rows`). Each weight block is
/// expanded once for several inputs; every output is bit-identical to
/// [`dot_rows_q`] of its input.
pub fn dot_rows_q_multi(fmt: QFormat, w: &[u8], cols: usize, x: &[f32], y: &mut [f32]) {
    assert_eq!(
        cols % fmt.block_len(),
        0,
        "dot_rows_q_multi: {fmt:?} rows need a multiple of {} columns",
        fmt.block_len()
    );
    let n = x.len().checked_div(cols).unwrap_or(0);
    assert_eq!(x.len(), n * cols, "dot_rows_q_multi: x is not n × cols");
    let rows = y.len().checked_div(n).unwrap_or(0);
    assert_eq!(y.len(), rows * n, "dot_rows_q_multi: y is not n × rows");
    assert_eq!(
        w.len(),
        fmt.row_bytes(cols) * rows,
        "dot_rows_q_multi: shape mismatch"
    );
    match isa() {
        // SAFETY: `isa()` returned Avx2 only after detecting avx2, fma and f16c;
        // the lengths were checked above.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => unsafe { avx2::dot_rows_q_multi(fmt, w, cols, x, y) },
        // SAFETY: `isa()` returned Avx512 only after detecting avx512f, avx2, fma and
        // f16c; the lengths were checked above.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => unsafe { avx512::dot_rows_q_multi(fmt, w, cols, x, y) },
        _ => scalar::dot_rows_q_multi(fmt, w, cols, x, y),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfs_isa_names_parse_in_any_case() {
        assert_eq!(parse_isa("avx2"), Some(Isa::Avx2));
        assert_eq!(parse_isa(" AVX512 "), Some(Isa::Avx512));
        assert_eq!(parse_isa("Scalar"), Some(Isa::Scalar));
        assert_eq!(parse_isa("sse"), None);
        assert!(Isa::Scalar < Isa::Avx2 && Isa::Avx2 < Isa::Avx512);
    }
}
