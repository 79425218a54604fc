//! Readers for model files: GGUF (v2/v3) and safetensors (single file and sharded), and dequantization.

mod dtype;

pub use dtype::DType;
