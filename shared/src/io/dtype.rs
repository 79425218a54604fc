//! Element types of stored tensors: plain floats and GGML block quantizations.

/// The storage type of a tensor, as GGUF (ggml) and safetensors name them.
///
/// Quantized types store blocks: `block_len()` elements in `block_bytes()` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(non_camel_case_types)]
pub enum DType {
    /// 32-bit IEEE float.
    F32,
    /// 16-bit IEEE float.
    F16,
    /// bfloat16: the top 16 bits of an f32.
    BF16,
    /// 32 elements: f16 scale `d`, 32 × i8; x = d·q.
    Q8_0,
    /// 32 elements: f16 scale `d`, 16 bytes of nibbles; x = d·(q − 8).
    Q4_0,
    /// 32 elements: f16 `d`, f16 `m`, 16 bytes of nibbles; x = d·q + m.
    Q4_1,
    /// 256 elements in 8 sub-blocks with 6-bit scales and mins (144 bytes).
    Q4_K,
    /// 256 elements in 16 sub-blocks of 6-bit values with i8 scales (210 bytes).
    Q6_K,
}

impl DType {
    /// The ggml type id used in GGUF tensor infos, or `None` for an id we do not support.
    pub fn from_ggml_id(id: u32) -> Option<DType> {
        Some(match id {
            0 => DType::F32,
            1 => DType::F16,
            2 => DType::Q4_0,
            3 => DType::Q4_1,
            8 => DType::Q8_0,
            12 => DType::Q4_K,
            14 => DType::Q6_K,
            30 => DType::BF16,
            _ => return None,
        })
    }

    /// Elements per block (1 for plain floats).
    pub fn block_len(self) -> usize {
        match self {
            DType::F32 | DType::F16 | DType::BF16 => 1,
            DType::Q8_0 | DType::Q4_0 | DType::Q4_1 => 32,
            DType::Q4_K | DType::Q6_K => 256,
        }
    }

    /// Bytes per block.
    pub fn block_bytes(self) -> usize {
        match self {
            DType::F32 => 4,
            DType::F16 | DType::BF16 => 2,
            DType::Q8_0 => 34,
            DType::Q4_0 => 18,
            DType::Q4_1 => 20,
            DType::Q4_K => 144,
            DType::Q6_K => 210,
        }
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
