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
