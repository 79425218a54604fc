//! The CUDA backend (`--features cuda`, `--device cuda[:N]`): the decoder's
//! forward pass on an NVIDIA GPU with kernels of our own.
//!
//! - `kernels.cu`: CUDA C for every step of [`crate::model::Model`]'s forward
//!   pass (embedding lookup, RMSNorm, QK-norm + RoPE + KV-cache store,
//!   attention over the cache with an online softmax, SiLU·mul, residual add,
//!   log-softmax, matrix products for f32/f16/bf16 weights, GGML dequantization),
//!   compiled at run time by NVRTC for the GPU at hand.
//! - [`context`]: opening a GPU (cudarc loads libcuda and NVRTC dynamically,
//!   so building needs no CUDA toolkit) and a clear error when there is none.
//! - [`weights`]: the model's weights uploaded once.
//! - [`forward`]: KV caches on the GPU and the batched forward pass; only
//!   logits (or final hidden states) travel back to the host, where the
//!   chapters pick tokens exactly as on the CPU.
//!
//! [`crate::model::Model::into_device`] is the way in: the chapters' code stays
//! the same, the model's `forward_*` methods and [`crate::attention::KvCache`]
//! run where the model lives.

pub mod context;
mod dispatch;
pub mod forward;
pub mod weights;

pub use context::{compile_kernels_ptx, Gpu, KERNELS_SOURCE};
pub use forward::{DeviceKv, GpuScratch};
pub use weights::GpuModel;
