//! The f32 building blocks of a transformer (book ch. 2 and appendix C): softmax,
//! log-softmax, RMSNorm, SiLU, rotary position embeddings (RoPE) and argmax.
//!
//! Each works on plain slices so it can be used on one row of an `ndarray`
//! (`row.as_slice()`) or on a preallocated buffer without allocating.

/// Softmax in place: `x[i] ← exp(x[i] − max) / Σ exp(x[j] − max)`.
///
/// Subtracting the maximum first keeps `exp` from overflowing; the result is
/// the same distribution.
pub fn softmax_inplace(x: &mut [f32]) {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for v in x.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    for v in x.iter_mut() {
        *v /= sum;
    }
}

/// Softmax of a slice into a new vector (see [`softmax_inplace`]).
pub fn softmax(x: &[f32]) -> Vec<f32> {
    let mut out = x.to_vec();
    softmax_inplace(&mut out);
    out
}

/// Log-softmax: `x[i] − max − ln Σ exp(x[j] − max)`, the log-probabilities
/// of a vector of logits, computed without forming the probabilities.
pub fn log_softmax(x: &[f32]) -> Vec<f32> {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let log_sum = x.iter().map(|v| (v - max).exp()).sum::<f32>().ln();
    x.iter().map(|v| v - max - log_sum).collect()
}

/// RMSNorm: `out[i] = x[i] / sqrt(mean(x²) + eps) · weight[i]`.
///
/// The mean of squares is accumulated in f64, as a careful f32 reference
/// (PyTorch upcasts to f32; f64 keeps our sum order from mattering).
pub fn rms_norm(x: &[f32], weight: &[f32], eps: f32, out: &mut [f32]) {
    debug_assert_eq!(x.len(), weight.len());
    debug_assert_eq!(x.len(), out.len());
    let mean_sq = x.iter().map(|&v| (v as f64) * (v as f64)).sum::<f64>() / x.len() as f64;
    let scale = 1.0 / (mean_sq as f32 + eps).sqrt();
    for ((o, &v), &w) in out.iter_mut().zip(x).zip(weight) {
        *o = v * scale * w;
    }
}

/// RMSNorm in place (see [`rms_norm`]); used for Qwen3's per-head QK-norm.
pub fn rms_norm_inplace(x: &mut [f32], weight: &[f32], eps: f32) {
    let mean_sq = x.iter().map(|&v| (v as f64) * (v as f64)).sum::<f64>() / x.len() as f64;
    let scale = 1.0 / (mean_sq as f32 + eps).sqrt();
    for (v, &w) in x.iter_mut().zip(weight) {
        *v = *v * scale * w;
    }
}

/// SiLU (swish): `x · sigmoid(x)`, the gate activation of the SwiGLU MLP.
pub fn silu(x: f32) -> f32 {
    x / (1.0 + (-x).exp())
}

/// Index of the largest value (the first one on ties), as greedy decoding picks it.
pub fn argmax(x: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in x.iter().enumerate() {
        if v > x[best] {
            best = i;
        }
    }
    best
}

/// Precomputed rotary position embedding angles (RoPE, book appendix C).
///
/// Hugging Face checkpoints rotate the two halves of each head: element `i`
/// pairs with element `i + head_dim/2`, both turned by the angle
/// `pos · theta^(−2i/head_dim)`.
///
/// Only the first [`ROPE_TABLE_POSITIONS`] positions are tabulated: models claim contexts
/// of 128k positions and more, most of which a run never reaches, so later angles are
/// computed when used, with the same f32 arithmetic (bit for bit the table's values).
#[derive(Debug, Clone)]
pub struct RopeTable {
    head_dim: usize,
    /// `theta^(−2i/head_dim)` for `i < head_dim / 2`, rounded to f32 as PyTorch does.
    inv_freq: Vec<f32>,
    /// Positions the model accepts (the angles of later ones are never asked for).
    max_positions: usize,
    /// `cos[pos * half + i]` for the tabulated positions.
    cos: Vec<f32>,
    /// `sin[pos * half + i]` for the tabulated positions.
    sin: Vec<f32>,
}

/// How many positions a [`RopeTable`] tabulates (4 MiB of angles for 128-wide heads).
pub const ROPE_TABLE_POSITIONS: usize = 8192;

impl RopeTable {
    /// Angles for positions `0..max_positions` of heads of size `head_dim`.
    pub fn new(head_dim: usize, theta: f32, max_positions: usize) -> Self {
        let half = head_dim / 2;
        let inv_freq: Vec<f32> = (0..half)
            .map(|i| (1.0 / (theta as f64).powf(2.0 * i as f64 / head_dim as f64)) as f32)
            .collect();
        let mut table = RopeTable {
            head_dim,
            inv_freq,
            max_positions,
            cos: Vec::new(),
            sin: Vec::new(),
        };
        let (cos, sin) = table.angles(max_positions.min(ROPE_TABLE_POSITIONS));
        (table.cos, table.sin) = (cos, sin);
        table
    }

    /// `cos` and `sin` of every angle of positions `0..positions`, `[position][head_dim / 2]`.
    fn angles(&self, positions: usize) -> (Vec<f32>, Vec<f32>) {
        let half = self.head_dim / 2;
        let mut cos = Vec::with_capacity(positions * half);
        let mut sin = Vec::with_capacity(positions * half);
        for pos in 0..positions {
            for &f in &self.inv_freq {
                // PyTorch computes the angle in f32; do the same for parity.
                let angle = pos as f32 * f;
                cos.push(angle.cos());
                sin.push(angle.sin());
            }
        }
        (cos, sin)
    }

    /// The `cos` and `sin` tables of every position the model accepts,
    /// `[position][head_dim / 2]` each (uploaded to a GPU).
    #[cfg(feature = "cuda")]
    pub(crate) fn tables(&self) -> (Vec<f32>, Vec<f32>) {
        self.angles(self.max_positions)
    }

    /// Rotates one head vector (`head_dim` values) in place for position `pos`.
    pub fn apply(&self, head: &mut [f32], pos: usize) {
        self.rotate(head, pos, 1.0);
    }

    /// Rotates one head vector back by the angles of position `pos`: the
    /// transpose (and inverse) of [`RopeTable::apply`]. A rotation's gradient
    /// is the opposite rotation, so this is RoPE's backward pass (ch05).
    pub fn apply_inverse(&self, head: &mut [f32], pos: usize) {
        self.rotate(head, pos, -1.0);
    }

    /// Rotates each pair `(head[i], head[i + half])` by the angle of position
    /// `pos`, forwards (`direction` 1) or backwards (−1: `sin` negated).
    fn rotate(&self, head: &mut [f32], pos: usize, direction: f32) {
        debug_assert!(pos < self.max_positions, "position {pos} past the context");
        let half = self.head_dim / 2;
        let (first, second) = head.split_at_mut(half);
        let mut turn = |i: usize, cos: f32, sin: f32| {
            let (a, b) = (first[i], second[i]);
            let sin = direction * sin;
            first[i] = a * cos - b * sin;
            second[i] = b * cos + a * sin;
        };
        if (pos + 1) * half <= self.cos.len() {
            let cos = &self.cos[pos * half..(pos + 1) * half];
            let sin = &self.sin[pos * half..(pos + 1) * half];
            for i in 0..half {
                turn(i, cos[i], sin[i]);
            }
        } else {
            for (i, &f) in self.inv_freq.iter().enumerate() {
                let angle = pos as f32 * f;
                turn(i, angle.cos(), angle.sin());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_sums_to_one_and_keeps_order() {
        let p = softmax(&[1.0, 2.0, 3.0]);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(p[0] < p[1] && p[1] < p[2]);
        // exp(1)/(exp(1)+exp(2)+exp(3))
        assert!((p[0] - 0.090_030_57).abs() < 1e-6);
    }

    #[test]
    fn softmax_survives_huge_logits() {
        let p = softmax(&[1000.0, 1000.0]);
        assert_eq!(p, vec![0.5, 0.5]);
    }

    #[test]
    fn log_softmax_matches_log_of_softmax() {
        let x = [0.5, -1.0, 2.0, 0.0];
        let p = softmax(&x);
        for (l, p) in log_softmax(&x).iter().zip(p) {
            assert!((l - p.ln()).abs() < 1e-6);
        }
    }

    #[test]
    fn rms_norm_of_constant_vector_is_weight() {
        let mut out = [0.0; 4];
        rms_norm(&[3.0; 4], &[1.0, 2.0, 3.0, 4.0], 0.0, &mut out);
        assert_eq!(out, [1.0, 2.0, 3.0, 4.0]);
    }

    #[test]
    fn silu_values() {
        assert_eq!(silu(0.0), 0.0);
        assert!((silu(1.0) - 0.731_058_6).abs() < 1e-6);
    }

    #[test]
    fn argmax_takes_first_of_ties() {
        assert_eq!(argmax(&[1.0, 3.0, 3.0, 2.0]), 1);
    }

    #[test]
    fn rope_at_position_zero_is_identity_and_keeps_norm() {
        let rope = RopeTable::new(8, 10000.0, 16);
        let mut v: Vec<f32> = (0..8).map(|i| i as f32 - 3.5).collect();
        let orig = v.clone();
        rope.apply(&mut v, 0);
        assert_eq!(v, orig);
        rope.apply(&mut v, 7);
        let n0: f32 = orig.iter().map(|x| x * x).sum();
        let n1: f32 = v.iter().map(|x| x * x).sum();
        assert!((n0 - n1).abs() < 1e-4);
    }

    #[test]
    fn rope_past_the_table_computes_the_same_angles_without_storing_them() {
        let rope = RopeTable::new(8, 10000.0, 1 << 24);
        assert_eq!(
            rope.cos.len(),
            ROPE_TABLE_POSITIONS * 4,
            "a claimed context costs nothing"
        );
        let pos = ROPE_TABLE_POSITIONS + 1234;
        let (cos, sin) = rope.angles(pos + 1);
        let orig: Vec<f32> = (0..8).map(|i| 0.7 * i as f32 - 2.0).collect();
        let mut v = orig.clone();
        rope.apply(&mut v, pos);
        for i in 0..4 {
            let (c, s) = (cos[pos * 4 + i], sin[pos * 4 + i]);
            assert_eq!(v[i], orig[i] * c - orig[i + 4] * s);
            assert_eq!(v[i + 4], orig[i + 4] * c + orig[i] * s);
        }
    }

    #[test]
    fn rope_inverse_undoes_apply() {
        let rope = RopeTable::new(8, 10000.0, 16);
        let orig: Vec<f32> = (0..8).map(|i| 0.3 * i as f32 - 1.0).collect();
        let mut v = orig.clone();
        rope.apply(&mut v, 11);
        assert!(v.iter().zip(&orig).any(|(a, b)| (a - b).abs() > 1e-3));
        rope.apply_inverse(&mut v, 11);
        for (a, b) in v.iter().zip(&orig) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
    }

    #[test]
    fn rope_rotates_first_pair_by_position() {
        // i = 0 has inverse frequency 1: the pair (x0, x_half) turns by `pos` radians.
        let rope = RopeTable::new(4, 10000.0, 4);
        let mut v = [1.0, 0.0, 0.0, 0.0];
        rope.apply(&mut v, 2);
        assert!((v[0] - 2f32.cos()).abs() < 1e-6);
        assert!((v[2] - 2f32.sin()).abs() < 1e-6);
    }
}
