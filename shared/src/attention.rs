//! Grouped-query causal attention with a preallocated KV cache (book ch. 2,
//! appendix C).
//!
//! Each query head `h` reads the keys and values of key/value head
//! `h / group_size`: several query heads share one cached head, which is what
//! makes grouped-query attention's cache small.

use ndarray::{Array2, ArrayView2};

use crate::kernels::dot_f32;
use crate::tensor::softmax_inplace;

/// Keys and values of every layer for positions `0..len`, stored in buffers
/// allocated once for `capacity` positions (no allocation while decoding).
///
/// Layout per layer: `[position][kv_head][head_dim]`.
///
/// With the `cuda` feature a cache can live on a GPU instead
/// ([`crate::model::Model::new_cache`] of a model moved there); the host
/// buffers are then empty.
#[derive(Debug, Clone)]
pub struct KvCache {
    keys: Vec<Vec<f32>>,
    values: Vec<Vec<f32>>,
    row: usize,
    capacity: usize,
    len: usize,
    /// The GPU copy, for a cache that lives on a GPU.
    #[cfg(feature = "cuda")]
    pub(crate) device: Option<crate::cuda::DeviceKv>,
}

impl KvCache {
    /// An empty cache for `num_layers` layers of `num_kv_heads × head_dim`
    /// keys/values, with room for `capacity` positions.
    pub fn new(num_layers: usize, num_kv_heads: usize, head_dim: usize, capacity: usize) -> Self {
        let row = num_kv_heads * head_dim;
        KvCache {
            keys: vec![vec![0.0; capacity * row]; num_layers],
            values: vec![vec![0.0; capacity * row]; num_layers],
            row,
            capacity,
            len: 0,
            #[cfg(feature = "cuda")]
            device: None,
        }
    }

    /// An empty cache whose keys and values live on a GPU.
    #[cfg(feature = "cuda")]
    pub(crate) fn on_gpu(device: crate::cuda::DeviceKv, row: usize, capacity: usize) -> Self {
        KvCache {
            keys: Vec::new(),
            values: Vec::new(),
            row,
            capacity,
            len: 0,
            device: Some(device),
        }
    }

    /// Whether this cache lives on a GPU (so the forward pass that fills it runs there).
    pub fn is_on_gpu(&self) -> bool {
        #[cfg(feature = "cuda")]
        return self.device.is_some();
        #[cfg(not(feature = "cuda"))]
        false
    }

    /// Positions cached so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is cached yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The most positions this cache can hold.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Forgets every cached position (keeps the buffers).
    pub fn reset(&mut self) {
        self.len = 0;
    }

    /// Keeps the first `len` positions and forgets the rest (`len` ≤ current length).
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    /// Makes this cache hold exactly `other`'s positions (the prompt's keys and
    /// values shared by several samples), copying only the filled part.
    ///
    /// # Panics
    /// If the caches differ in shape or `other` holds more than this capacity.
    pub fn copy_prefix_from(&mut self, other: &KvCache) {
        assert!(
            self.row == other.row && self.keys.len() == other.keys.len(),
            "KV caches of different shapes"
        );
        assert!(
            other.len <= self.capacity,
            "KV cache overflow: {} > {}",
            other.len,
            self.capacity
        );
        #[cfg(feature = "cuda")]
        if let Some(device) = &mut self.device {
            let other_device = other
                .device
                .as_ref()
                .expect("copy_prefix_from: a GPU cache from a CPU cache");
            device
                .copy_prefix_from(other_device, other.len)
                .unwrap_or_else(|e| panic!("{e}"));
            self.len = other.len;
            return;
        }
        assert!(
            !other.is_on_gpu(),
            "copy_prefix_from: a CPU cache from a GPU cache"
        );
        let filled = other.len * self.row;
        for (dst, src) in self.keys.iter_mut().zip(&other.keys) {
            dst[..filled].copy_from_slice(&src[..filled]);
        }
        for (dst, src) in self.values.iter_mut().zip(&other.values) {
            dst[..filled].copy_from_slice(&src[..filled]);
        }
        self.len = other.len;
    }

    /// Writes the key and value rows (`num_kv_heads × head_dim` each) of `layer` at `pos`.
    pub fn store(&mut self, layer: usize, pos: usize, key: &[f32], value: &[f32]) {
        let at = pos * self.row..(pos + 1) * self.row;
        self.keys[layer][at.clone()].copy_from_slice(key);
        self.values[layer][at].copy_from_slice(value);
    }

    /// Marks positions up to `len` as filled (after every layer stored them).
    pub fn set_len(&mut self, len: usize) {
        assert!(
            len <= self.capacity,
            "KV cache overflow: {len} > {}",
            self.capacity
        );
        self.len = len;
    }

    /// The key buffer of one layer (`[position][kv_head][head_dim]`).
    pub fn layer_keys(&self, layer: usize) -> &[f32] {
        &self.keys[layer]
    }

    /// The value buffer of one layer (`[position][kv_head][head_dim]`).
    pub fn layer_values(&self, layer: usize) -> &[f32] {
        &self.values[layer]
    }
}

/// The shape of multi-head attention: how many query and key/value heads, and their size.
#[derive(Debug, Clone, Copy)]
pub struct HeadLayout {
    /// Query heads.
    pub num_heads: usize,
    /// Key/value heads (each shared by `num_heads / num_kv_heads` query heads).
    pub num_kv_heads: usize,
    /// Values per head.
    pub head_dim: usize,
}

/// Attention of one query position over cached positions `0..n_positions`.
///
/// `query` holds every query head (`num_heads × head_dim`, already normed and
/// rotated); `keys`/`values` are one layer's cache buffers. Causality comes from
/// `n_positions`: a query at position `p` sees positions `0..=p` only.
/// `scores` is scratch of at least `n_positions`; the result goes to `out`
/// (`num_heads × head_dim`).
pub fn attend(
    query: &[f32],
    keys: &[f32],
    values: &[f32],
    n_positions: usize,
    heads: HeadLayout,
    scores: &mut [f32],
    out: &mut [f32],
) {
    let hd = heads.head_dim;
    let row = heads.num_kv_heads * hd;
    let group = heads.num_heads / heads.num_kv_heads;
    let scale = 1.0 / (hd as f32).sqrt();
    let scores = &mut scores[..n_positions];
    for h in 0..heads.num_heads {
        let q = &query[h * hd..(h + 1) * hd];
        let kv_offset = (h / group) * hd;
        for (t, s) in scores.iter_mut().enumerate() {
            let k = &keys[t * row + kv_offset..t * row + kv_offset + hd];
            *s = dot_f32(q, k) * scale;
        }
        softmax_inplace(scores);
        let o = &mut out[h * hd..(h + 1) * hd];
        o.fill(0.0);
        for (t, &w) in scores.iter().enumerate() {
            let v = &values[t * row + kv_offset..t * row + kv_offset + hd];
            for (o, &v) in o.iter_mut().zip(v) {
                *o += w * v;
            }
        }
    }
}

/// Causal attention weights of one head, the matrix the book draws:
/// `softmax(Q Kᵀ / sqrt(d))` with every entry above the diagonal masked out
/// (a token may not look at tokens after it). `q` and `k` are `tokens × d`.
pub fn causal_attention_weights(q: ArrayView2<f32>, k: ArrayView2<f32>) -> Array2<f32> {
    let scale = 1.0 / (q.ncols() as f32).sqrt();
    let mut weights = q.dot(&k.t()) * scale;
    for (i, mut row) in weights.rows_mut().into_iter().enumerate() {
        let row = row.as_slice_mut().expect("a fresh matrix is contiguous");
        for masked in &mut row[i + 1..] {
            *masked = f32::NEG_INFINITY;
        }
        softmax_inplace(row);
    }
    weights
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn causal_weights_are_lower_triangular_rows_summing_to_one() {
        let x = array![[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]];
        let w = causal_attention_weights(x.view(), x.view());
        for i in 0..3 {
            assert!((w.row(i).sum() - 1.0).abs() < 1e-6);
            for j in i + 1..3 {
                assert_eq!(w[[i, j]], 0.0);
            }
        }
        assert_eq!(w[[0, 0]], 1.0);
    }

    #[test]
    fn attend_matches_causal_weights_for_one_head() {
        let q = array![[0.3, -1.0], [0.5, 0.2], [1.0, 1.0]];
        let k = array![[1.0, 0.5], [-0.4, 0.2], [0.1, 0.9]];
        let v = array![[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]];
        let w = causal_attention_weights(q.view(), k.view());
        let heads = HeadLayout {
            num_heads: 1,
            num_kv_heads: 1,
            head_dim: 2,
        };
        let mut scores = [0.0; 3];
        for i in 0..3 {
            let mut out = [0.0; 2];
            let (keys, values) = (k.as_slice().unwrap(), v.as_slice().unwrap());
            attend(
                q.row(i).as_slice().unwrap(),
                keys,
                values,
                i + 1,
                heads,
                &mut scores,
                &mut out,
            );
            let expected = w.row(i).dot(&v);
            assert!((out[0] - expected[0]).abs() < 1e-6 && (out[1] - expected[1]).abs() < 1e-6);
        }
    }

    #[test]
    fn grouped_query_heads_share_their_kv_head() {
        // Two query heads, one kv head: identical queries give identical outputs.
        let heads = HeadLayout {
            num_heads: 2,
            num_kv_heads: 1,
            head_dim: 2,
        };
        let keys = [1.0, 0.0, 0.0, 1.0];
        let values = [1.0, 2.0, 3.0, 4.0];
        let mut out = [0.0; 4];
        attend(
            &[0.5, 0.5, 0.5, 0.5],
            &keys,
            &values,
            2,
            heads,
            &mut [0.0; 2],
            &mut out,
        );
        assert_eq!(out[0..2], out[2..4]);
    }
}
