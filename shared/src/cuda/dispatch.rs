//! Where [`Model`]'s forward methods hand over to the GPU: the same
//! signatures as the CPU paths, on caches and buffers that live on the GPU.
//!
//! A CUDA failure in the middle of decoding (the driver lost the device, an
//! out-of-memory while allocating a cache) panics with the driver's message:
//! these methods return plain values on the CPU, and such a failure leaves
//! nothing to recover.

use ndarray::Array2;

use super::forward::{DeviceKv, GpuScratch, RowInput};
use super::weights::GpuModel;
use crate::attention::KvCache;
use crate::device::{Backend, DeviceScratch};
use crate::model::Model;
use crate::rows::{advance_caches, rows_of_mut, RowBuffers, RowOutput};

/// Unwraps a GPU result mid-forward (see the module's note).
fn on_gpu<T>(r: crate::Result<T>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

impl Model {
    /// An empty KV cache on the model's GPU.
    pub(crate) fn gpu_cache(&self, gpu: &GpuModel, capacity: usize) -> KvCache {
        let c = &self.config;
        let kv_dim = c.num_kv_heads * c.head_dim;
        let device = on_gpu(DeviceKv::new(&gpu.gpu, c.num_layers, kv_dim, capacity));
        KvCache::on_gpu(device, kv_dim, capacity)
    }

    /// Buffers on the GPU for `rows` rows at a time, with their logits when `with_logits`.
    pub(crate) fn gpu_scratch(&self, gpu: &GpuModel, rows: usize, with_logits: bool) -> GpuScratch {
        on_gpu(GpuScratch::new(&gpu.gpu, &self.config, rows, with_logits))
    }

    /// The forward pass over rows on the GPU (the CPU's is `Model::forward_rows_cpu`):
    /// `tokens[i]` goes to `caches[seqs[i]]` at its next position; the logits or the
    /// final-normed hidden states come back into the host buffers.
    pub(crate) fn forward_rows_gpu(
        &self,
        tokens: &[u32],
        seqs: &[usize],
        caches: &mut [KvCache],
        b: &mut RowBuffers,
        output: RowOutput,
    ) {
        let Backend::Cuda(gpu) = &self.backend else {
            panic!("buffers on a GPU given to a model on the CPU");
        };
        let n = tokens.len();
        b.place_rows(seqs, caches);
        let DeviceScratch::Cuda(scratch) = &mut b.device else {
            panic!("forward_rows_gpu: host buffers");
        };
        let rows: Vec<RowInput> = tokens
            .iter()
            .zip(seqs)
            .zip(&b.positions)
            .map(|((&token, &seq), &pos)| RowInput {
                token,
                pos,
                cache: device_of(&caches[seq]),
            })
            .collect();
        on_gpu(gpu.run_rows(&self.config, &rows, scratch));
        match output {
            RowOutput::Logits => on_gpu(gpu.logits_into(scratch, n, rows_of_mut(&mut b.logits, n))),
            RowOutput::Hidden => on_gpu(gpu.hidden_into(scratch, n, rows_of_mut(&mut b.normed, n))),
        }
        drop(rows);
        advance_caches(seqs, &b.positions[..n], caches);
    }

    /// [`Model::logits`] (or, with `log_probs`, [`Model::log_probs`]) on the GPU.
    pub(crate) fn gpu_logits(
        &self,
        gpu: &GpuModel,
        hidden: &Array2<f32>,
        log_probs: bool,
    ) -> Array2<f32> {
        let n = hidden.nrows();
        let mut logits = Array2::<f32>::zeros((n, self.config.vocab_size));
        let hidden = hidden.as_standard_layout();
        on_gpu(gpu.logits_of_hidden(
            hidden.as_slice().expect("standard layout"),
            n,
            log_probs,
            logits.as_slice_mut().expect("a fresh array is contiguous"),
        ));
        logits
    }
}

/// The GPU buffers of a cache the model's GPU path was given.
fn device_of(cache: &KvCache) -> &DeviceKv {
    cache.device.as_ref().expect(
        "a KV cache on the CPU given to a model on a GPU: make caches with Model::new_cache",
    )
}
