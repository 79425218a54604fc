//! `shared`: the from-scratch core of the reasoning-from-scratch workbook.
//!
//! Every chapter builds on these modules:
//! - [`tensor`]: f32 building blocks (softmax, RMSNorm, SiLU, RoPE, …)
//! - [`linear`] and [`kernels`]: the one place that decides how a linear layer multiplies
//!   (f32 or quantized weights, a scalar reference beside each SIMD kernel)
//! - [`attention`]: grouped-query causal attention with a preallocated KV cache
//! - [`config`] and [`model`]: one decoder for Qwen3, Qwen2 and Llama/SmolLM2
//! - [`io`]: GGUF and safetensors readers, dequantization
//! - [`weights`] and [`loader`]: tensors by Hugging Face name, shape-checked, into a model
//! - [`tokenizer`]: byte-level BPE and chat templates
//! - [`models`]: resolving a model name or path to files (cache, download, checksums)
//! - [`quantize`]: `--quantize q8_0`, a loaded model's f32/bf16 matrices to Q8_0, matrix by matrix
//! - [`device`]: `--device cpu|cuda[:N]`; with the `cuda` feature, `cuda` holds the GPU backend
//!   (NVRTC kernels of our own, cudarc for the driver)
//! - `rows`: the activations of one forward pass over rows (decode, prefill and batches alike)
//! - [`rng`]: a seeded random number generator with a pinned algorithm
//! - [`batch`]: decoding several sequences per step (batched sampling, chapter 4)
//! - [`generate`]: greedy generation with and without the KV cache, streaming, statistics
//! - [`train`]: parameters as plain arrays, the training forward pass, a hand-written backward pass, the loss
//! - [`fixtures`] and [`cli`]: helpers for tests and the chapters' command lines

pub mod attention;
pub mod batch;
pub mod cli;
pub mod config;
#[cfg(feature = "cuda")]
pub mod cuda;
pub mod device;
pub mod error;
pub mod fixtures;
pub mod generate;
pub mod io;
pub mod kernels;
pub mod linear;
pub mod loader;
pub mod model;
pub mod models;
pub mod quantize;
pub mod rng;
mod rows;
pub mod tensor;
pub mod tokenizer;
pub mod train;
pub mod weights;

pub use error::{Error, Result};
