//! Model files: readers for GGUF (v2/v3) and safetensors (single file and sharded), dequantization,
//! and a safetensors writer.
//!
//! - [`safetensors`] — [`SafeTensors`] (one file), [`SafetensorsModel`] (a Hugging Face model folder)
//!   and [`write_safetensors_f32`]
//! - [`gguf`] — [`GgufFile`] (metadata, tensor infos, memory-mapped data)
//! - [`quant`] — [`dequantize`] any [`DType`] to f32 (the reference for the fast kernels), and
//!   [`quantize_q8_0`] (ggml's reference rounding)
//! - [`write_atomically`] — writing a file so that a crash never leaves a partial one
//! - [`open_lines`] — reading JSON-lines and CSV files a bounded line at a time

mod atomic;
mod dtype;
pub mod gguf;
mod lines;
mod mapped;
pub mod quant;
pub mod safetensors;

pub use atomic::{check_regular_file, write_atomically, write_atomically_with};
pub use dtype::DType;
pub use gguf::{GgufFile, GgufTensorInfo, GgufValue};
pub use lines::{open_lines, BoundedLines, Line, MAX_LINE_BYTES};
pub use quant::{dequantize, dequantize_row, dequantize_to_vec, quantize_q8_0, quantize_q8_0_into};
pub use safetensors::{write_safetensors_f32, SafeTensorInfo, SafeTensors, SafetensorsModel};
