//! Opening a GPU: load the driver, pick the device, compile our kernels with
//! NVRTC for its architecture, and look every kernel up once.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, OnceLock};

use cudarc::driver::{CudaContext, CudaFunction, CudaModule, CudaStream};
use cudarc::nvrtc::{compile_ptx_with_opts, CompileOptions};

use crate::device::GpuDType;
use crate::{Error, Result};

/// The kernels' CUDA C source (compiled at run time).
pub const KERNELS_SOURCE: &str = include_str!("kernels.cu");

/// An opened GPU: its context, the stream every kernel runs on, and the kernels.
pub struct Gpu {
    ordinal: usize,
    name: String,
    pub(crate) stream: Arc<CudaStream>,
    pub(crate) kernels: Kernels,
}

/// The kernels that read weights, compiled once per weight type.
pub(crate) struct WeightKernels {
    pub embed_rows: CudaFunction,
    pub matmul_few_rows: CudaFunction,
    pub matmul_tiled: CudaFunction,
    pub dequant_q8_0: CudaFunction,
    pub dequant_q4_0: CudaFunction,
    pub dequant_q4_1: CudaFunction,
}

/// Every kernel of `kernels.cu`.
pub(crate) struct Kernels {
    pub f32: WeightKernels,
    pub bf16: WeightKernels,
    pub f16: WeightKernels,
    pub rms_norm_rows: CudaFunction,
    pub add_bias_rows: CudaFunction,
    pub add_inplace: CudaFunction,
    pub swiglu_inplace: CudaFunction,
    pub qk_norm_rope_store: CudaFunction,
    pub attention_rows: CudaFunction,
    pub log_softmax_rows: CudaFunction,
}

impl Kernels {
    /// The kernels for weights of type `dtype`.
    pub fn for_weights(&self, dtype: GpuDType) -> &WeightKernels {
        match dtype {
            GpuDType::F32 => &self.f32,
            GpuDType::BF16 => &self.bf16,
            GpuDType::F16 => &self.f16,
        }
    }
}

impl Gpu {
    /// The GPU `cuda:ordinal`, opened once per process and shared after that.
    pub fn open(ordinal: usize) -> Result<Arc<Gpu>> {
        static OPENED: OnceLock<Mutex<HashMap<usize, Arc<Gpu>>>> = OnceLock::new();
        let mut opened = OPENED
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(gpu) = opened.get(&ordinal) {
            return Ok(gpu.clone());
        }
        check_libraries()?;
        // cudarc panics on a missing driver symbol (a driver older than CUDA 13's
        // API): turn that into an error too.
        let gpu =
            catch_unwind(AssertUnwindSafe(|| Gpu::open_uncached(ordinal))).map_err(|panic| {
                let what = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                Error::Device(format!("cuda:{ordinal}: the CUDA driver failed: {what}"))
            })??;
        let gpu = Arc::new(gpu);
        opened.insert(ordinal, gpu.clone());
        Ok(gpu)
    }

    fn open_uncached(ordinal: usize) -> Result<Gpu> {
        let count = CudaContext::device_count().map_err(|e| driver_error("counting GPUs", e))?;
        if ordinal >= count.max(0) as usize {
            return Err(Error::Device(format!(
                "--device cuda:{ordinal}: this machine has {count} CUDA GPU(s); use cuda:0{}",
                if count > 1 {
                    format!("..cuda:{}", count - 1)
                } else {
                    String::new()
                }
            )));
        }
        let ctx = CudaContext::new(ordinal).map_err(|e| driver_error("opening the GPU", e))?;
        let name = ctx
            .name()
            .map_err(|e| driver_error("reading the GPU's name", e))?;
        let (major, minor) = ctx
            .compute_capability()
            .map_err(|e| driver_error("reading the compute capability", e))?;
        let module = compile_kernels(&ctx, major, minor)?;
        let kernels = Kernels::load(&module)?;
        Ok(Gpu {
            ordinal,
            name,
            stream: ctx.default_stream(),
            kernels,
        })
    }

    /// The device number (`N` of `cuda:N`).
    pub fn ordinal(&self) -> usize {
        self.ordinal
    }

    /// The GPU's name, e.g. "NVIDIA H200".
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Whether the driver (libcuda) and NVRTC can be loaded, with what to do if not.
fn check_libraries() -> Result<()> {
    // SAFETY: only tries to dlopen the libraries by name.
    if !unsafe { cudarc::driver::sys::is_culib_present() } {
        return Err(Error::Device(
            "--device cuda: no NVIDIA driver found (libcuda.so could not be loaded); \
             this machine has no usable GPU: run with --device cpu"
                .into(),
        ));
    }
    // SAFETY: as above.
    if !unsafe { cudarc::nvrtc::sys::is_culib_present() } {
        return Err(Error::Device(
            "--device cuda: NVRTC (libnvrtc.so), which compiles our kernels, could not be loaded; \
             put the CUDA toolkit's lib64 on the library path, e.g. \
             `export LD_LIBRARY_PATH=/usr/local/cuda/lib64`"
                .into(),
        ));
    }
    Ok(())
}

/// Compiles `kernels.cu` to PTX for compute capability `major.minor` and loads it.
fn compile_kernels(ctx: &Arc<CudaContext>, major: i32, minor: i32) -> Result<Arc<CudaModule>> {
    let opts = CompileOptions {
        options: vec![format!("--gpu-architecture=compute_{major}{minor}")],
        ..Default::default()
    };
    let ptx = compile_ptx_with_opts(KERNELS_SOURCE, opts)
        .map_err(|e| Error::Device(format!("compiling the CUDA kernels with NVRTC: {e}")))?;
    ctx.load_module(ptx).map_err(|e| {
        Error::Device(format!(
            "loading the compiled kernels: {e} (a CUDA_ERROR_UNSUPPORTED_PTX_VERSION means \
             NVRTC is newer than the driver: use the toolkit that matches the driver)"
        ))
    })
}

/// Compiles the kernels to PTX without a GPU (NVRTC only): a check that the
/// CUDA C source is valid, for `compute_XY` = `arch`.
pub fn compile_kernels_ptx(arch: &str) -> Result<String> {
    // SAFETY: only tries to dlopen the library by name.
    if !unsafe { cudarc::nvrtc::sys::is_culib_present() } {
        return Err(Error::Device("NVRTC (libnvrtc.so) not found".into()));
    }
    let opts = CompileOptions {
        options: vec![format!("--gpu-architecture={arch}")],
        ..Default::default()
    };
    compile_ptx_with_opts(KERNELS_SOURCE, opts)
        .map(|ptx| ptx.to_src())
        .map_err(|e| Error::Device(format!("compiling the CUDA kernels with NVRTC: {e}")))
}

impl Kernels {
    fn load(module: &Arc<CudaModule>) -> Result<Kernels> {
        let f = |name: &str| {
            module
                .load_function(name)
                .map_err(|e| driver_error(&format!("finding kernel {name}"), e))
        };
        let weights = |suffix: &str| -> Result<WeightKernels> {
            Ok(WeightKernels {
                embed_rows: f(&format!("embed_rows_{suffix}"))?,
                matmul_few_rows: f(&format!("matmul_few_rows_{suffix}"))?,
                matmul_tiled: f(&format!("matmul_tiled_{suffix}"))?,
                dequant_q8_0: f(&format!("dequant_q8_0_{suffix}"))?,
                dequant_q4_0: f(&format!("dequant_q4_0_{suffix}"))?,
                dequant_q4_1: f(&format!("dequant_q4_1_{suffix}"))?,
            })
        };
        Ok(Kernels {
            f32: weights("f32")?,
            bf16: weights("bf16")?,
            f16: weights("f16")?,
            rms_norm_rows: f("rms_norm_rows")?,
            add_bias_rows: f("add_bias_rows")?,
            add_inplace: f("add_inplace")?,
            swiglu_inplace: f("swiglu_inplace")?,
            qk_norm_rope_store: f("qk_norm_rope_store")?,
            attention_rows: f("attention_rows")?,
            log_softmax_rows: f("log_softmax_rows")?,
        })
    }
}

/// A driver error as an [`Error::Device`] saying what was being done.
pub(crate) fn driver_error(doing: &str, e: cudarc::driver::DriverError) -> Error {
    Error::Device(format!("CUDA error while {doing}: {e}"))
}
