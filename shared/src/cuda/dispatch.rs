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
use crate::model::Model;

/// Unwraps a GPU result mid-forward (see the module's note).
fn on_gpu<T>(r: crate::Result<T>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

impl Model {
    /// The GPU copy when the model was moved to one.
    pub(crate) fn gpu(&self) -> Option<&GpuModel> {
        self.gpu.as_deref()
    }

    /// An empty KV cache on the model's GPU.
    pub(crate) fn gpu_cache(&self, gpu: &GpuModel, capacity: usize) -> KvCache {
        let c = &self.config;
        let kv_dim = c.num_kv_heads * c.head_dim;
        let device = on_gpu(DeviceKv::new(&gpu.gpu, c.num_layers, kv_dim, capacity));
        KvCache::on_gpu(device, kv_dim, capacity)
    }

    /// Decoding buffers on the GPU for `rows` rows at a time, with their logits.
    pub(crate) fn gpu_scratch(&self, gpu: &GpuModel, rows: usize) -> GpuScratch {
        on_gpu(GpuScratch::new(&gpu.gpu, &self.config, rows, true))
    }

    /// One decoding step on the GPU: `tokens[i]` goes to `caches[seqs[i]]` at the
    /// position it has reached; the logits (one row per token) land in `logits`.
    pub(crate) fn gpu_decode_step(
        &self,
        gpu: &GpuModel,
        tokens: &[u32],
        seqs: &[usize],
        caches: &mut [KvCache],
        scratch: &mut GpuScratch,
        logits: &mut [f32],
    ) {
        let rows: Vec<RowInput> = tokens
            .iter()
            .zip(seqs)
            .map(|(&token, &seq)| RowInput {
                token,
                pos: caches[seq].len(),
                cache: device_of(&caches[seq]),
            })
            .collect();
        on_gpu(gpu.run_rows(&self.config, &rows, scratch));
        on_gpu(gpu.logits_into(scratch, rows.len(), logits));
        for &seq in seqs {
            let cache = &mut caches[seq];
            cache.set_len(cache.len() + 1);
        }
    }

    /// [`Model::forward_sequence`] on the GPU: the final-normed hidden states of
    /// `tokens` at positions `cache.len()..`, copied back to the host.
    pub(crate) fn gpu_forward_sequence(
        &self,
        gpu: &GpuModel,
        tokens: &[u32],
        cache: &mut KvCache,
    ) -> Array2<f32> {
        let start = cache.len();
        let mut scratch = on_gpu(GpuScratch::new(&gpu.gpu, &self.config, tokens.len(), false));
        let rows: Vec<RowInput> = tokens
            .iter()
            .enumerate()
            .map(|(i, &token)| RowInput {
                token,
                pos: start + i,
                cache: device_of(cache),
            })
            .collect();
        on_gpu(gpu.run_rows(&self.config, &rows, &mut scratch));
        let mut hidden = Array2::<f32>::zeros((tokens.len(), self.config.hidden_size));
        let out = hidden.as_slice_mut().expect("a fresh array is contiguous");
        on_gpu(gpu.hidden_into(&scratch, tokens.len(), out));
        cache.set_len(start + tokens.len());
        hidden
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
