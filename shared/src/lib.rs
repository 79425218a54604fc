//! `shared`: the from-scratch core of the reasoning-from-scratch workbook.
//!
//! Every chapter builds on these modules:
//! - [`tensor`]: f32 building blocks (softmax, RMSNorm, SiLU, RoPE, …) on `ndarray`
//! - [`linear`] and [`kernels`]: the one place that decides how a linear layer multiplies
//!   (f32 or quantized weights, scalar reference and SIMD kernels)
//! - [`attention`]: grouped-query causal attention with a preallocated KV cache
//! - [`config`] and [`model`]: one decoder for Qwen3, Qwen2 and Llama/SmolLM2
//! - [`io`]: GGUF and safetensors readers, dequantization
//! - [`tokenizer`]: byte-level BPE and chat templates
//! - [`models`]: resolving a model name or path to files (cache, download, checksums)
//! - [`generate`]: greedy generation with and without the KV cache, streaming, statistics

pub mod cli;
pub mod error;
pub mod fixtures;
pub mod io;
pub mod kernels;
pub mod linear;
pub mod models;
pub mod tokenizer;

pub use error::{Error, Result};
pub mod attention;
pub mod config;
pub mod generate;
pub mod loader;
pub mod model;
pub mod tensor;
pub mod weights;
