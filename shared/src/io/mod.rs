//! Readers for model files: GGUF (v2/v3) and safetensors (single file and sharded), and dequantization.
//!
//! - [`safetensors`] — [`SafeTensors`] (one file) and [`SafetensorsModel`] (a Hugging Face model folder)
//! - [`gguf`] — [`GgufFile`] (metadata, tensor infos, memory-mapped data)
//! - [`quant`] — [`dequantize`] any [`DType`] to f32 (the reference for the fast kernels)

mod dtype;
pub mod gguf;
mod mapped;
pub mod quant;
pub mod safetensors;

pub use dtype::DType;
pub use gguf::{GgufFile, GgufTensorInfo, GgufValue};
pub use quant::{dequantize, dequantize_row, dequantize_to_vec};
pub use safetensors::{SafeTensorInfo, SafeTensors, SafetensorsModel};

/// Writes `bytes` to `path` without ever leaving a partial file there: to
/// `<path>.part` first, then renamed over `path`.
pub fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> crate::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".part");
    let tmp = std::path::PathBuf::from(tmp);
    std::fs::write(&tmp, bytes).map_err(|e| crate::Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| crate::Error::io(path, e))
}
