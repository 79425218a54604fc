//! A small seeded random number generator with a pinned algorithm, so that a
//! seed reproduces the same numbers on every run and every machine (datasets in
//! chapter 3, sampling in chapter 4, rollouts in chapter 5).
//!
//! The algorithm is xoshiro256** (Blackman and Vigna), seeded through
//! splitmix64 as its authors recommend. Both are a few lines of integer
//! arithmetic: no platform or crate version can change the stream.
//!
//! [`Rng`] also implements `rand`'s [`RngCore`], so `ndarray-rand` draws whole arrays
//! from it (`Array::random_using`, e.g. LoRA's initial `A`). `rand`'s `StandardUniform`
//! `f64` takes the top 53 bits of [`Rng::next_u64`], exactly as [`Rng::next_f64`] does.
//! Sampling (chapters 4 and 5) and the datasets call the methods below directly.

use ndarray_rand::rand::RngCore;

/// xoshiro256** seeded from one `u64`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rng {
    state: [u64; 4],
}

impl Rng {
    /// A generator whose whole stream is fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        let mut sm = seed;
        let state = [
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
        ];
        Self { state }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.state;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// A uniform float in `[0, 1)` with 53 random bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A uniform integer in `0..n` without modulo bias (Lemire's method).
    /// `n == 0` gives 0.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        let threshold = n.wrapping_neg() % n;
        loop {
            let product = (self.next_u64() as u128) * (n as u128);
            if (product as u64) >= threshold {
                return (product >> 64) as u64;
            }
        }
    }

    /// A uniform integer in `lo..=hi` (`lo` when `hi < lo`).
    pub fn range_inclusive(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        match (hi - lo).checked_add(1) {
            Some(span) => lo + self.below(span),
            None => self.next_u64(),
        }
    }

    /// One element of a non-empty slice, uniformly (`None` when empty).
    pub fn choose<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        if items.is_empty() {
            return None;
        }
        items.get(self.below(items.len() as u64) as usize)
    }
}

/// `rand`'s interface to the same stream: `next_u64` is [`Rng::next_u64`], `next_u32`
/// its upper half (the better-mixed bits), `fill_bytes` successive `next_u64`s in
/// little-endian order (the last one cut to the bytes left).
impl RngCore for Rng {
    fn next_u32(&mut self) -> u32 {
        (Rng::next_u64(self) >> 32) as u32
    }

    fn next_u64(&mut self) -> u64 {
        Rng::next_u64(self)
    }

    fn fill_bytes(&mut self, dst: &mut [u8]) {
        for chunk in dst.chunks_mut(8) {
            let bytes = Rng::next_u64(self).to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

/// One step of splitmix64: advances `state` and returns a well-mixed output.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_matches_the_reference_stream() {
        // First outputs of the reference C splitmix64 seeded with 1234567.
        let mut s = 1234567u64;
        assert_eq!(splitmix64(&mut s), 6457827717110365317);
        assert_eq!(splitmix64(&mut s), 3203168211198807973);
        assert_eq!(splitmix64(&mut s), 9817491932198370423);
    }

    #[test]
    fn xoshiro256starstar_matches_the_reference_stream() {
        // The reference C implementation from state {1, 2, 3, 4}.
        let mut rng = Rng {
            state: [1, 2, 3, 4],
        };
        let got: Vec<u64> = (0..4).map(|_| rng.next_u64()).collect();
        assert_eq!(got, [11520, 0, 1509978240, 1215971899390074240]);
    }

    #[test]
    fn same_seed_same_stream_other_seed_other_stream() {
        let a: Vec<u64> = (0..8)
            .scan(Rng::new(7), |r, _| Some(r.next_u64()))
            .collect();
        let b: Vec<u64> = (0..8)
            .scan(Rng::new(7), |r, _| Some(r.next_u64()))
            .collect();
        let c: Vec<u64> = (0..8)
            .scan(Rng::new(8), |r, _| Some(r.next_u64()))
            .collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn floats_are_in_the_unit_interval_with_the_right_mean() {
        let mut rng = Rng::new(42);
        let n = 100_000;
        let mut sum = 0.0;
        for _ in 0..n {
            let x = rng.next_f64();
            assert!((0.0..1.0).contains(&x));
            sum += x;
        }
        let mean = sum / n as f64;
        // Standard error of the mean of U(0,1) over 1e5 draws is ~0.0009.
        assert!((mean - 0.5).abs() < 0.005, "mean {mean}");
    }

    #[test]
    fn ndarray_rand_draws_the_next_f64_stream_in_row_major_order() {
        use ndarray::Array2;
        use ndarray_rand::rand::distr::StandardUniform;
        use ndarray_rand::RandomExt;

        let drawn = Array2::<f64>::random_using((3, 4), StandardUniform, &mut Rng::new(5));
        let mut rng = Rng::new(5);
        let expected = Array2::from_shape_simple_fn((3, 4), || rng.next_f64());
        assert_eq!(drawn, expected);
        // `rand`'s narrower draws come from the same stream too.
        let (mut a, mut b) = (Rng::new(6), Rng::new(6));
        assert_eq!(RngCore::next_u32(&mut a), (b.next_u64() >> 32) as u32);
        let mut bytes = [0u8; 12];
        a.fill_bytes(&mut bytes);
        let (first, second) = (b.next_u64().to_le_bytes(), b.next_u64().to_le_bytes());
        assert_eq!(bytes[..8], first);
        assert_eq!(bytes[8..], second[..4]);
    }

    #[test]
    fn below_is_uniform_and_in_range() {
        let mut rng = Rng::new(3);
        let mut counts = [0u32; 6];
        for _ in 0..60_000 {
            let k = rng.below(6) as usize;
            counts[k] += 1;
        }
        for c in counts {
            // Expected 10000, standard deviation ~91.
            assert!((9_500..10_500).contains(&c), "{counts:?}");
        }
        assert_eq!(rng.below(0), 0);
        assert_eq!(rng.range_inclusive(5, 5), 5);
        assert_eq!(rng.range_inclusive(9, 2), 9);
        for _ in 0..100 {
            assert!((3..=7).contains(&rng.range_inclusive(3, 7)));
        }
    }
}
