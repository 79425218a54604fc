//! The model's weights on the GPU: every matrix uploaded once as f32, f16 or
//! bf16 (GGML blocks are uploaded as they are and dequantized by our kernels),
//! norms and biases as f32, and RoPE's cos/sin tables.

use std::sync::Arc;

use cudarc::driver::{CudaSlice, LaunchConfig, PushKernelArg};
use half::{bf16, f16};
use rayon::prelude::*;

use super::context::{driver_error, Gpu};
use crate::device::GpuDType;
use crate::kernels::QFormat;
use crate::linear::{RawWeights, WeightMatrix};
use crate::model::{Model, TransformerBlock};
use crate::{Error, Result};

/// A matrix's values on the GPU, in its weight type.
pub(crate) enum GpuWeights {
    F32(CudaSlice<f32>),
    /// bf16 bits.
    BF16(CudaSlice<u16>),
    /// f16 bits.
    F16(CudaSlice<u16>),
}

/// A weight matrix on the GPU: `rows` outputs × `cols` inputs, row-major.
pub(crate) struct GpuMatrix {
    pub rows: usize,
    pub cols: usize,
    pub weights: GpuWeights,
}

impl GpuMatrix {
    /// The weight type (which kernels read it).
    pub fn dtype(&self) -> GpuDType {
        match self.weights {
            GpuWeights::F32(_) => GpuDType::F32,
            GpuWeights::BF16(_) => GpuDType::BF16,
            GpuWeights::F16(_) => GpuDType::F16,
        }
    }
}

/// One transformer block on the GPU (see [`TransformerBlock`]).
pub(crate) struct GpuBlock {
    pub input_norm: CudaSlice<f32>,
    pub post_attention_norm: CudaSlice<f32>,
    pub q_proj: GpuMatrix,
    pub k_proj: GpuMatrix,
    pub v_proj: GpuMatrix,
    pub o_proj: GpuMatrix,
    pub q_bias: Option<CudaSlice<f32>>,
    pub k_bias: Option<CudaSlice<f32>>,
    pub v_bias: Option<CudaSlice<f32>>,
    /// Qwen3's QK-norm weights (both or neither).
    pub qk_norm: Option<(CudaSlice<f32>, CudaSlice<f32>)>,
    pub gate_proj: GpuMatrix,
    pub up_proj: GpuMatrix,
    pub down_proj: GpuMatrix,
}

/// A whole model's weights on one GPU.
pub struct GpuModel {
    pub(crate) gpu: Arc<Gpu>,
    pub(crate) dtype: GpuDType,
    pub(crate) embed_tokens: GpuMatrix,
    pub(crate) lm_head: Option<GpuMatrix>,
    pub(crate) blocks: Vec<GpuBlock>,
    pub(crate) final_norm: CudaSlice<f32>,
    pub(crate) rope_cos: CudaSlice<f32>,
    pub(crate) rope_sin: CudaSlice<f32>,
}

/// The largest head the kernels handle (`qk_norm_rope_store` stages a head in
/// shared memory; `attention_rows` keeps 8 values per lane).
const MAX_HEAD_DIM: usize = 256;

impl GpuModel {
    /// Uploads every weight of `model` to `cuda:ordinal`, matrices as `dtype`.
    pub fn upload(model: &Model, ordinal: usize, dtype: GpuDType) -> Result<GpuModel> {
        let c = &model.config;
        if c.head_dim > MAX_HEAD_DIM || !c.head_dim.is_multiple_of(2) {
            return Err(Error::Unsupported(format!(
                "head_dim {} on the GPU: our kernels take even head sizes up to {MAX_HEAD_DIM}",
                c.head_dim
            )));
        }
        let gpu = Gpu::open(ordinal)?;
        let up = Uploader { gpu: &gpu, dtype };
        let blocks = model
            .blocks
            .iter()
            .map(|b| up.block(b))
            .collect::<Result<Vec<_>>>()?;
        let (cos, sin) = model.rope.tables();
        Ok(GpuModel {
            embed_tokens: up.matrix(&model.embed_tokens)?,
            lm_head: model.lm_head.as_ref().map(|m| up.matrix(m)).transpose()?,
            blocks,
            final_norm: up.vector(&model.final_norm)?,
            rope_cos: up.vector(&cos)?,
            rope_sin: up.vector(&sin)?,
            dtype,
            gpu: gpu.clone(),
        })
    }

    /// The device number.
    pub fn ordinal(&self) -> usize {
        self.gpu.ordinal()
    }

    /// "NVIDIA H200 (cuda:0), bf16 weights".
    pub fn description(&self) -> String {
        format!(
            "{} (cuda:{}), {} weights",
            self.gpu.name(),
            self.gpu.ordinal(),
            self.dtype
        )
    }

    /// The output layer: `lm_head`, or the embedding when tied.
    pub(crate) fn output_layer(&self) -> &GpuMatrix {
        self.lm_head.as_ref().unwrap_or(&self.embed_tokens)
    }
}

impl std::fmt::Debug for GpuModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GpuModel({})", self.description())
    }
}

/// Uploads host values to one GPU, weights as one type.
struct Uploader<'a> {
    gpu: &'a Arc<Gpu>,
    dtype: GpuDType,
}

impl Uploader<'_> {
    fn block(&self, b: &TransformerBlock) -> Result<GpuBlock> {
        let a = &b.attention;
        let opt = |v: &Option<Vec<f32>>| v.as_deref().map(|v| self.vector(v)).transpose();
        let qk_norm = match (&a.q_norm, &a.k_norm) {
            (Some(q), Some(k)) => Some((self.vector(q)?, self.vector(k)?)),
            (None, None) => None,
            _ => {
                return Err(Error::Unsupported(
                    "a QK-norm on queries or keys only (the GPU path expects both or neither)"
                        .into(),
                ))
            }
        };
        Ok(GpuBlock {
            input_norm: self.vector(&b.input_norm)?,
            post_attention_norm: self.vector(&b.post_attention_norm)?,
            q_proj: self.matrix(&a.q_proj)?,
            k_proj: self.matrix(&a.k_proj)?,
            v_proj: self.matrix(&a.v_proj)?,
            o_proj: self.matrix(&a.o_proj)?,
            q_bias: opt(&a.q_bias)?,
            k_bias: opt(&a.k_bias)?,
            v_bias: opt(&a.v_bias)?,
            qk_norm,
            gate_proj: self.matrix(&b.mlp.gate_proj)?,
            up_proj: self.matrix(&b.mlp.up_proj)?,
            down_proj: self.matrix(&b.mlp.down_proj)?,
        })
    }

    /// An f32 vector (norm weights, biases, RoPE tables).
    fn vector(&self, v: &[f32]) -> Result<CudaSlice<f32>> {
        self.gpu
            .stream
            .clone_htod(v)
            .map_err(|e| driver_error("uploading weights", e))
    }

    /// A matrix as `self.dtype`: converted on the host from f32/bf16, or
    /// dequantized on the GPU from Q8_0/Q4_0/Q4_1 blocks (other block formats are
    /// expanded on the host first).
    fn matrix(&self, m: &WeightMatrix) -> Result<GpuMatrix> {
        let weights = match m.raw() {
            RawWeights::F32(w) => self.convert_f32(w)?,
            RawWeights::BF16(w) if self.dtype == GpuDType::BF16 => GpuWeights::BF16(self.htod(w)?),
            RawWeights::BF16(w) => {
                let as_f32: Vec<f32> = w.par_iter().map(|&b| bf16::from_bits(b).to_f32()).collect();
                self.convert_f32(&as_f32)?
            }
            RawWeights::Blocks(fmt @ (QFormat::Q8_0 | QFormat::Q4_0 | QFormat::Q4_1), bytes) => {
                self.dequantize(fmt, bytes, m.rows() * m.cols())?
            }
            // Formats without a GPU dequantizer are expanded on the host first.
            RawWeights::Blocks(..) => {
                self.convert_f32(m.to_f32().as_slice().expect("standard layout"))?
            }
        };
        Ok(GpuMatrix {
            rows: m.rows(),
            cols: m.cols(),
            weights,
        })
    }

    fn convert_f32(&self, w: &[f32]) -> Result<GpuWeights> {
        Ok(match self.dtype {
            GpuDType::F32 => GpuWeights::F32(self.htod(w)?),
            GpuDType::BF16 => {
                let bits: Vec<u16> = w.par_iter().map(|&x| bf16::from_f32(x).to_bits()).collect();
                GpuWeights::BF16(self.htod(&bits)?)
            }
            GpuDType::F16 => {
                let bits: Vec<u16> = w.par_iter().map(|&x| f16::from_f32(x).to_bits()).collect();
                GpuWeights::F16(self.htod(&bits)?)
            }
        })
    }

    /// Uploads GGML blocks and expands them with `dequant_<format>_<dtype>`.
    fn dequantize(&self, fmt: QFormat, bytes: &[u8], n: usize) -> Result<GpuWeights> {
        let stream = &self.gpu.stream;
        let blocks = self.htod(bytes)?;
        let kernels = self.gpu.kernels.for_weights(self.dtype);
        let kernel = match fmt {
            QFormat::Q8_0 => &kernels.dequant_q8_0,
            QFormat::Q4_0 => &kernels.dequant_q4_0,
            QFormat::Q4_1 => &kernels.dequant_q4_1,
            other => unreachable!("{other:?} is expanded on the host (see `matrix`)"),
        };
        let count = n as i64;
        let cfg = LaunchConfig {
            grid_dim: (n.div_ceil(256) as u32, 1, 1),
            block_dim: (256, 1, 1),
            shared_mem_bytes: 0,
        };
        let launch_err = |e| driver_error("dequantizing weights", e);
        let weights = match self.dtype {
            GpuDType::F32 => {
                let mut out = stream.alloc_zeros::<f32>(n).map_err(launch_err)?;
                let mut b = stream.launch_builder(kernel);
                b.arg(&blocks).arg(&mut out).arg(&count);
                // SAFETY: the kernel reads n/32 blocks and writes n values.
                unsafe { b.launch(cfg) }.map_err(launch_err)?;
                GpuWeights::F32(out)
            }
            GpuDType::BF16 | GpuDType::F16 => {
                let mut out = stream.alloc_zeros::<u16>(n).map_err(launch_err)?;
                let mut b = stream.launch_builder(kernel);
                b.arg(&blocks).arg(&mut out).arg(&count);
                // SAFETY: as above, 16-bit outputs.
                unsafe { b.launch(cfg) }.map_err(launch_err)?;
                if self.dtype == GpuDType::BF16 {
                    GpuWeights::BF16(out)
                } else {
                    GpuWeights::F16(out)
                }
            }
        };
        Ok(weights)
    }

    fn htod<T: cudarc::driver::DeviceRepr>(&self, v: &[T]) -> Result<CudaSlice<T>> {
        self.gpu
            .stream
            .clone_htod(v)
            .map_err(|e| driver_error("uploading weights", e))
    }
}
