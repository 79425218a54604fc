//! Element types of stored tensors: plain floats and GGML block quantizations.
//!
//! The block layouts are ggml's (`ggml-common.h`); each variant's comment lists its
//! fields in storage order. `d`, `dmin` and `m` are f16 unless said otherwise, and
//! "K-quant" blocks hold 256 elements (ggml's `QK_K`).

/// The storage type of a tensor, as GGUF (ggml) and safetensors name them.
///
/// Quantized types store blocks: `block_len()` elements in `block_bytes()` bytes.
/// The variants are named as ggml names the types ([`DType::name`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(non_camel_case_types)]
pub enum DType {
    /// 32-bit IEEE float.
    F32,
    /// 16-bit IEEE float.
    F16,
    /// bfloat16: the top 16 bits of an f32.
    BF16,
    /// 32 elements: `d`, 32 × i8; x = d·q.
    Q8_0,
    /// 32 elements: `d`, 16 bytes of nibbles; x = d·(q − 8).
    Q4_0,
    /// 32 elements: `d`, `m`, 16 bytes of nibbles; x = d·q + m.
    Q4_1,
    /// 32 elements: `d`, a u32 of fifth bits, 16 bytes of nibbles; x = d·(q − 16) (22 bytes).
    Q5_0,
    /// 32 elements: `d`, `m`, a u32 of fifth bits, 16 bytes of nibbles; x = d·q + m (24 bytes).
    Q5_1,
    /// K-quant: 16 bytes of 4-bit scales and mins (one pair per 16 elements), 64 bytes
    /// of 2-bit values, `d`, `dmin`; x = d·scale·q − dmin·min (84 bytes).
    Q2_K,
    /// K-quant: 32 bytes of high-bit masks, 64 bytes of low 2 bits, 12 bytes of packed
    /// 6-bit scales (one per 16 elements), `d`; x = d·(scale − 32)·(q − 4·!high) (110 bytes).
    Q3_K,
    /// K-quant: `d`, `dmin`, 12 bytes of packed 6-bit scales and mins (one pair per 32
    /// elements), 128 bytes of nibbles; x = d·scale·q − dmin·min (144 bytes).
    Q4_K,
    /// K-quant: `d`, `dmin`, 12 bytes of scales and mins as Q4_K, 32 bytes of fifth bits,
    /// 128 bytes of nibbles; x = d·scale·q − dmin·min (176 bytes).
    Q5_K,
    /// K-quant: 128 bytes of low nibbles, 64 bytes of high 2 bits, 16 × i8 scales (one
    /// per 16 elements), `d`; x = d·scale·(q − 32) (210 bytes).
    Q6_K,
    /// K-sized: `d`, then per 32 elements 8 bytes: four 8-element grid indices and a u32
    /// of four 7-bit sign patterns plus a 4-bit scale (66 bytes).
    IQ2_XXS,
    /// K-sized: `d`, 32 × u16 (9-bit grid index + 7-bit sign pattern per 8 elements),
    /// 8 bytes of 4-bit scales (one per 16 elements) (74 bytes).
    IQ2_XS,
    /// K-sized: `d`, 32 bytes of grid index low bits, 32 bytes of signs (one bit per
    /// element), 8 bytes of index high bits, 8 bytes of 4-bit scales (82 bytes).
    IQ2_S,
    /// K-sized: `d`, 64 bytes of 4-element grid indices, then per 32 elements a u32 of
    /// four 7-bit sign patterns plus a 4-bit scale (98 bytes).
    IQ3_XXS,
    /// K-sized: `d`, 64 bytes of grid index low bits, 8 bytes of index high bits, 32
    /// bytes of signs, 4 bytes of 4-bit scales (one per 32 elements) (110 bytes).
    IQ3_S,
    /// K-sized: `d`, 32 bytes of grid index low bits, 8 × u16 (per 32 elements: four
    /// 3-bit index high parts, a 3-bit scale, the sign of the shift) (50 bytes).
    IQ1_S,
    /// K-sized: 32 bytes of grid index low bits, 16 bytes of nibbles (3 index high bits
    /// and the shift's sign per 8 elements), 4 × u16 of 3-bit scales whose top nibbles
    /// hold the f16 `d` (56 bytes).
    IQ1_M,
    /// 32 elements: `d`, 16 bytes of nibbles indexing a 16-value non-linear table (18 bytes).
    IQ4_NL,
    /// K-sized: `d`, u16 of scale high bits, 4 bytes of scale low nibbles (a 6-bit scale
    /// per 32 elements), 128 bytes of nibbles indexing IQ4_NL's table (136 bytes).
    IQ4_XS,
    /// K-sized ternary: 48 bytes holding 5 base-3 digits each and 4 bytes holding 4
    /// (a base-3 number scaled by 256/243 to fill the byte), `d`; x = d·(t − 1), t in 0..3
    /// (54 bytes).
    TQ1_0,
    /// K-sized ternary: 64 bytes of 2-bit values, `d`; x = d·(q − 1) (66 bytes).
    TQ2_0,
    /// 32 elements (OCP microscaling FP4): a u8 E8M0 exponent `e`, 16 bytes of E2M1
    /// nibbles; x = 2^(e − 127)·fp4 (17 bytes).
    MXFP4,
}

impl DType {
    /// Every type, in ggml id order.
    pub const ALL: [DType; 25] = [
        DType::F32,
        DType::F16,
        DType::Q4_0,
        DType::Q4_1,
        DType::Q5_0,
        DType::Q5_1,
        DType::Q8_0,
        DType::Q2_K,
        DType::Q3_K,
        DType::Q4_K,
        DType::Q5_K,
        DType::Q6_K,
        DType::IQ2_XXS,
        DType::IQ2_XS,
        DType::IQ3_XXS,
        DType::IQ1_S,
        DType::IQ4_NL,
        DType::IQ3_S,
        DType::IQ2_S,
        DType::IQ4_XS,
        DType::IQ1_M,
        DType::BF16,
        DType::TQ1_0,
        DType::TQ2_0,
        DType::MXFP4,
    ];

    /// ggml's facts about the type: (type id, name, elements per block, bytes per block),
    /// from `ggml.h` and `ggml-common.h`.
    fn ggml_traits(self) -> (u32, &'static str, usize, usize) {
        match self {
            DType::F32 => (0, "F32", 1, 4),
            DType::F16 => (1, "F16", 1, 2),
            DType::Q4_0 => (2, "Q4_0", 32, 18),
            DType::Q4_1 => (3, "Q4_1", 32, 20),
            DType::Q5_0 => (6, "Q5_0", 32, 22),
            DType::Q5_1 => (7, "Q5_1", 32, 24),
            DType::Q8_0 => (8, "Q8_0", 32, 34),
            DType::Q2_K => (10, "Q2_K", 256, 84),
            DType::Q3_K => (11, "Q3_K", 256, 110),
            DType::Q4_K => (12, "Q4_K", 256, 144),
            DType::Q5_K => (13, "Q5_K", 256, 176),
            DType::Q6_K => (14, "Q6_K", 256, 210),
            DType::IQ2_XXS => (16, "IQ2_XXS", 256, 66),
            DType::IQ2_XS => (17, "IQ2_XS", 256, 74),
            DType::IQ3_XXS => (18, "IQ3_XXS", 256, 98),
            DType::IQ1_S => (19, "IQ1_S", 256, 50),
            DType::IQ4_NL => (20, "IQ4_NL", 32, 18),
            DType::IQ3_S => (21, "IQ3_S", 256, 110),
            DType::IQ2_S => (22, "IQ2_S", 256, 82),
            DType::IQ4_XS => (23, "IQ4_XS", 256, 136),
            DType::IQ1_M => (29, "IQ1_M", 256, 56),
            DType::BF16 => (30, "BF16", 1, 2),
            DType::TQ1_0 => (34, "TQ1_0", 256, 54),
            DType::TQ2_0 => (35, "TQ2_0", 256, 66),
            DType::MXFP4 => (39, "MXFP4", 32, 17),
        }
    }

    /// The type with ggml type id `id` (as in GGUF tensor infos), or `None` for an id we
    /// do not support.
    pub fn from_ggml_id(id: u32) -> Option<DType> {
        DType::ALL.into_iter().find(|t| t.ggml_id() == id)
    }

    /// The ggml type id (the inverse of [`DType::from_ggml_id`]).
    pub fn ggml_id(self) -> u32 {
        self.ggml_traits().0
    }

    /// ggml's name for the type: `"Q5_0"`, `"IQ4_XS"`, `"BF16"`, …
    pub fn name(self) -> &'static str {
        self.ggml_traits().1
    }

    /// Elements per block (1 for plain floats).
    pub fn block_len(self) -> usize {
        self.ggml_traits().2
    }

    /// Bytes per block.
    pub fn block_bytes(self) -> usize {
        self.ggml_traits().3
    }

    /// Bytes needed for `n` elements, or `None` when `n` is not a whole number
    /// of blocks or the size overflows.
    pub fn bytes_for(self, n: usize) -> Option<usize> {
        if !n.is_multiple_of(self.block_len()) {
            return None;
        }
        (n / self.block_len()).checked_mul(self.block_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::DType;

    #[test]
    fn ids_and_names_round_trip() {
        for dtype in DType::ALL {
            assert_eq!(DType::from_ggml_id(dtype.ggml_id()), Some(dtype));
            assert_eq!(dtype.name(), format!("{dtype:?}"));
        }
        assert!(DType::ALL
            .windows(2)
            .all(|w| w[0].ggml_id() < w[1].ggml_id()));
        // Q8_1, Q8_K and the integer types are not tensor storage we read.
        for id in [4, 5, 9, 15, 24, 28, 31, 40, 1000] {
            assert_eq!(DType::from_ggml_id(id), None, "{id}");
        }
    }

    #[test]
    fn block_sizes() {
        assert_eq!(DType::Q5_0.bytes_for(64), Some(44));
        assert_eq!(DType::IQ1_M.bytes_for(512), Some(112));
        assert_eq!(DType::MXFP4.bytes_for(48), None);
        assert_eq!(DType::BF16.bytes_for(3), Some(6));
    }
}
