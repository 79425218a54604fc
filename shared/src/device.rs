//! Where the model runs: `--device cpu|cuda[:N]` and, on a GPU, the weights'
//! type (`--gpu-dtype f32|f16|bf16`).
//!
//! The CPU is always there. `cuda` needs the crate's `cuda` feature (off by
//! default) and an NVIDIA driver at run time; without either, moving a model to
//! the GPU is an error that says which is missing, never a panic.

use std::fmt;
use std::str::FromStr;

use ndarray::Array2;

use crate::attention::KvCache;
use crate::linear::on_worker;
use crate::model::Model;
use crate::rows::{RowBuffers, RowOutput};
use crate::{Error, Result};

/// A compute device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Device {
    /// The CPU kernels of [`crate::kernels`] (the default).
    #[default]
    Cpu,
    /// The CUDA GPU with this ordinal (`cuda` is `cuda:0`).
    Cuda(usize),
}

impl FromStr for Device {
    type Err = Error;

    fn from_str(s: &str) -> Result<Device> {
        let bad = || {
            Error::InvalidArgument(format!(
                "--device `{s}`: expected cpu, cuda or cuda:N (N a GPU number, e.g. cuda:0)"
            ))
        };
        match s.trim().to_ascii_lowercase().as_str() {
            "cpu" => Ok(Device::Cpu),
            "cuda" | "gpu" => Ok(Device::Cuda(0)),
            other => match other.strip_prefix("cuda:") {
                Some(n) => n.parse().map(Device::Cuda).map_err(|_| bad()),
                None => Err(bad()),
            },
        }
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cpu => write!(f, "cpu"),
            Device::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

/// The type the weights are stored in on a GPU (activations are always f32).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GpuDType {
    /// Full precision: logits match the CPU within 1e-3.
    F32,
    /// IEEE half precision: half the memory of f32, 10 mantissa bits.
    F16,
    /// bfloat16: half the memory traffic of f32, so decoding is about twice as
    /// fast; logits match within a few hundredths.
    #[default]
    BF16,
}

impl FromStr for GpuDType {
    type Err = Error;

    fn from_str(s: &str) -> Result<GpuDType> {
        match s.trim().to_ascii_lowercase().as_str() {
            "f32" | "float32" => Ok(GpuDType::F32),
            "f16" | "float16" | "half" => Ok(GpuDType::F16),
            "bf16" | "bfloat16" => Ok(GpuDType::BF16),
            _ => Err(Error::InvalidArgument(format!(
                "--gpu-dtype `{s}`: expected f32, f16 or bf16"
            ))),
        }
    }
}

impl fmt::Display for GpuDType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GpuDType::F32 => write!(f, "f32"),
            GpuDType::F16 => write!(f, "f16"),
            GpuDType::BF16 => write!(f, "bf16"),
        }
    }
}

/// Whether this build has the CUDA backend (`--features cuda`).
pub const CUDA_BUILT: bool = cfg!(feature = "cuda");

/// Where a model's forward passes run: the one place the CPU and GPU paths part.
#[derive(Debug, Clone)]
pub(crate) enum Backend {
    /// The CPU block loop of [`crate::model`].
    Cpu,
    /// The weights uploaded to a GPU.
    #[cfg(feature = "cuda")]
    Cuda(std::sync::Arc<crate::cuda::GpuModel>),
}

/// A forward pass's buffers on the device that runs it, beside the host's.
#[derive(Debug, Clone)]
pub(crate) enum DeviceScratch {
    /// The pass runs on the CPU, in the host buffers.
    None,
    /// The pass runs on a GPU, in these buffers.
    #[cfg(feature = "cuda")]
    Cuda(Box<crate::cuda::GpuScratch>),
}

impl Model {
    /// The model moved to `device`: on `cuda:N` every weight is uploaded once
    /// (as `dtype`) and [`Model::forward_step`], [`Model::forward_sequence`],
    /// [`Model::forward_batch_step`] and [`Model::logits`] run there; the host
    /// copy stays for the CPU paths (training, `KvCache`s made by hand).
    /// On `cpu` the model is returned as it is.
    pub fn into_device(self, device: Device, dtype: GpuDType) -> Result<Model> {
        match device {
            Device::Cpu => Ok(self),
            Device::Cuda(ordinal) => self.upload_to_cuda(ordinal, dtype),
        }
    }

    /// Where this model's forward passes run.
    pub fn device(&self) -> Device {
        match &self.backend {
            Backend::Cpu => Device::Cpu,
            #[cfg(feature = "cuda")]
            Backend::Cuda(gpu) => Device::Cuda(gpu.ordinal()),
        }
    }

    /// A one-line description of the device: `cpu`, or the GPU's name, number
    /// and weight type.
    pub fn device_description(&self) -> String {
        match &self.backend {
            Backend::Cpu => "cpu".to_string(),
            #[cfg(feature = "cuda")]
            Backend::Cuda(gpu) => gpu.description(),
        }
    }

    /// An empty KV cache for `capacity` positions, on the model's device: pass it
    /// to [`Model::forward_sequence`] (a cache made with [`KvCache::new`] always
    /// runs on the CPU).
    pub fn new_cache(&self, capacity: usize) -> KvCache {
        match &self.backend {
            Backend::Cpu => {
                let c = &self.config;
                KvCache::new(c.num_layers, c.num_kv_heads, c.head_dim, capacity)
            }
            #[cfg(feature = "cuda")]
            Backend::Cuda(gpu) => self.gpu_cache(gpu, capacity),
        }
    }

    /// Buffers for passes of up to `rows` rows over caches of `capacity` positions, on
    /// the model's device.
    pub(crate) fn row_buffers(
        &self,
        rows: usize,
        capacity: usize,
        output: RowOutput,
    ) -> RowBuffers {
        match &self.backend {
            Backend::Cpu => RowBuffers::new(&self.config, rows, capacity, output),
            #[cfg(feature = "cuda")]
            Backend::Cuda(gpu) => {
                let scratch = self.gpu_scratch(gpu, rows, output == RowOutput::Logits);
                RowBuffers::for_device(
                    &self.config,
                    rows,
                    output,
                    DeviceScratch::Cuda(Box::new(scratch)),
                )
            }
        }
    }

    /// Buffers for one pass of `rows` rows into `cache`, on the device the cache lives
    /// on (a cache made by hand with [`KvCache::new`] is on the CPU, whatever the model).
    pub(crate) fn row_buffers_for(
        &self,
        cache: &KvCache,
        rows: usize,
        output: RowOutput,
    ) -> RowBuffers {
        if cache.is_on_gpu() {
            self.row_buffers(rows, cache.capacity(), output)
        } else {
            RowBuffers::new(&self.config, rows, cache.capacity(), output)
        }
    }

    /// The forward pass over rows (`Model::forward_rows_cpu`) where `buffers` live:
    /// the one place a pass is handed to the GPU. On the CPU it runs from inside the
    /// thread pool, so its ~200 small products per token split without waking threads.
    /// No rows: nothing to do.
    pub(crate) fn forward_rows(
        &self,
        tokens: &[u32],
        seqs: &[usize],
        caches: &mut [KvCache],
        buffers: &mut RowBuffers,
        output: RowOutput,
    ) {
        if tokens.is_empty() {
            return;
        }
        match buffers.device {
            DeviceScratch::None => {
                on_worker(|| self.forward_rows_cpu(tokens, seqs, caches, buffers, output))
            }
            #[cfg(feature = "cuda")]
            DeviceScratch::Cuda(_) => self.forward_rows_gpu(tokens, seqs, caches, buffers, output),
        }
    }

    /// [`Model::logits`] (or, with `log_probs`, [`Model::log_probs`]) on the model's device.
    pub(crate) fn output_rows(&self, hidden: &Array2<f32>, log_probs: bool) -> Array2<f32> {
        match &self.backend {
            Backend::Cpu => self.output_rows_cpu(hidden, log_probs),
            #[cfg(feature = "cuda")]
            Backend::Cuda(gpu) => self.gpu_logits(gpu, hidden, log_probs),
        }
    }

    #[cfg(not(feature = "cuda"))]
    fn upload_to_cuda(self, ordinal: usize, _dtype: GpuDType) -> Result<Model> {
        Err(Error::Unsupported(format!(
            "--device cuda:{ordinal}: this build has no CUDA backend; rebuild with \
             `cargo build --release --features shared/cuda` (needs an NVIDIA driver at run time)"
        )))
    }

    #[cfg(feature = "cuda")]
    fn upload_to_cuda(mut self, ordinal: usize, dtype: GpuDType) -> Result<Model> {
        let gpu = crate::cuda::GpuModel::upload(&self, ordinal, dtype)?;
        self.backend = Backend::Cuda(std::sync::Arc::new(gpu));
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_parse_and_print() {
        assert_eq!("cpu".parse::<Device>().unwrap(), Device::Cpu);
        assert_eq!("cuda".parse::<Device>().unwrap(), Device::Cuda(0));
        assert_eq!("CUDA:1".parse::<Device>().unwrap(), Device::Cuda(1));
        assert_eq!(Device::Cuda(2).to_string(), "cuda:2");
        for bad in ["tpu", "cuda:", "cuda:x", "cuda:-1"] {
            let err = bad.parse::<Device>().unwrap_err().to_string();
            assert!(err.contains(&format!("`{bad}`")), "{err}");
        }
        assert_eq!("bf16".parse::<GpuDType>().unwrap(), GpuDType::BF16);
        assert_eq!("F32".parse::<GpuDType>().unwrap(), GpuDType::F32);
        assert_eq!("f16".parse::<GpuDType>().unwrap(), GpuDType::F16);
        assert!("int8".parse::<GpuDType>().is_err());
    }
}
