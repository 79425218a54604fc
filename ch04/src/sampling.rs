//! Choosing the next token by sampling (book ch. 4.4–4.5): temperature
//! scaling, top-k and top-p filtering, and drawing from the filtered
//! distribution with a seeded generator, so a seed reproduces a sample on
//! every run and machine.

use shared::rng::Rng;
use shared::tensor::{argmax, softmax_inplace};
use shared::{Error, Result};

/// Divides the logits by `temperature` (book ch. 4.4.2): below 1 sharpens the
/// distribution, above 1 flattens it. Temperature must be positive.
pub fn scale_logits_by_temperature(logits: &mut [f32], temperature: f32) -> Result<()> {
    check_temperature(temperature)?;
    let inv = 1.0 / temperature;
    logits.iter_mut().for_each(|l| *l *= inv);
    Ok(())
}

fn check_temperature(temperature: f32) -> Result<()> {
    if temperature.is_finite() && temperature > 0.0 {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!(
            "temperature must be a positive number, got {temperature} (use greedy decoding for 0)"
        )))
    }
}

/// Keeps the `k` most probable tokens and renormalizes (ties at the cut are
/// broken by the lower token id). `k == 0` or `k >= len` keeps everything.
/// `order` is scratch space, reused between calls.
pub fn top_k_filter(probs: &mut [f32], k: usize, order: &mut Vec<u32>) {
    if k == 0 || k >= probs.len() {
        return;
    }
    fill_order(order, probs.len());
    order.select_nth_unstable_by(k - 1, |&a, &b| by_prob_desc(probs, a, b));
    for &i in &order[k..] {
        probs[i as usize] = 0.0;
    }
    renormalize(probs);
}

/// The book's top-p ("nucleus") filter (ch. 4.5.1): sort by probability, keep a
/// token while the mass of the tokens before it is below `top_p`, always keep
/// the most probable token, zero the rest and renormalize. `top_p >= 1` keeps
/// everything. `order` is scratch space, reused between calls.
pub fn top_p_filter(probs: &mut [f32], top_p: f32, order: &mut Vec<u32>) {
    if top_p >= 1.0 || probs.is_empty() {
        return;
    }
    sort_candidates(probs, top_p, order);
    let mut before = 0.0f64;
    let mut kept = 0;
    for (rank, &i) in order.iter().enumerate() {
        if rank > 0 && before >= top_p as f64 {
            break;
        }
        before += probs[i as usize] as f64;
        kept = rank + 1;
    }
    zero_past_cut(probs, &order[..kept]);
    renormalize(probs);
}

/// Sorts into `order`, most probable first, every token that can matter for a
/// top-p cut: when the tokens of probability ≥ 1e-6 already hold `top_p` of the
/// mass, every smaller one lies past the cut, so only those are sorted.
fn sort_candidates(probs: &[f32], top_p: f32, order: &mut Vec<u32>) {
    const SMALL: f32 = 1e-6;
    order.clear();
    let mut mass = 0.0f64;
    for (i, &p) in probs.iter().enumerate() {
        if p >= SMALL {
            order.push(i as u32);
            mass += p as f64;
        }
    }
    if mass < top_p as f64 || order.is_empty() {
        fill_order(order, probs.len());
    }
    order.sort_unstable_by(|&a, &b| by_prob_desc(probs, a, b));
}

/// Zeroes every probability not in `kept` (sorted most probable first, ties
/// by lower id) without allocating: everything below the smallest kept
/// probability goes, and of the tokens tied with it only as many as were kept,
/// lowest ids first.
fn zero_past_cut(probs: &mut [f32], kept: &[u32]) {
    let Some(&last) = kept.last() else {
        return;
    };
    let floor = probs[last as usize];
    let mut ties_left = kept.iter().filter(|&&i| probs[i as usize] == floor).count();
    for p in probs.iter_mut() {
        if *p < floor {
            *p = 0.0;
        } else if *p == floor {
            if ties_left > 0 {
                ties_left -= 1;
            } else {
                *p = 0.0;
            }
        }
    }
}

/// Draws an index from `probs` (which need not sum exactly to 1) by the
/// inverse of the cumulative distribution at `u` in `[0, 1)`: the book's
/// `torch.multinomial(probas, 1)` with our own pinned random numbers.
pub fn sample_from_probs(probs: &[f32], u: f64) -> u32 {
    let total: f64 = probs.iter().map(|&p| p as f64).sum();
    let target = u * total;
    let mut cumulative = 0.0f64;
    let mut last_nonzero = 0;
    for (i, &p) in probs.iter().enumerate() {
        if p > 0.0 {
            cumulative += p as f64;
            last_nonzero = i;
            if cumulative > target {
                return i as u32;
            }
        }
    }
    last_nonzero as u32
}

/// How to choose each next token: temperature 0 is greedy (argmax).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SamplingConfig {
    /// Softmax temperature; 0 means greedy.
    pub temperature: f32,
    /// Keep only the `k` most probable tokens (0: no top-k).
    pub top_k: usize,
    /// Keep the smallest set of tokens holding this much mass (1: no top-p).
    pub top_p: f32,
}

impl SamplingConfig {
    /// Greedy decoding: always the most probable token.
    pub const GREEDY: SamplingConfig = SamplingConfig {
        temperature: 0.0,
        top_k: 0,
        top_p: 1.0,
    };

    /// Checks the values: temperature ≥ 0 and finite, top-p in (0, 1].
    pub fn validate(&self) -> Result<()> {
        if self.temperature != 0.0 {
            check_temperature(self.temperature)?;
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(Error::InvalidArgument(format!(
                "top-p must be in (0, 1], got {}",
                self.top_p
            )));
        }
        Ok(())
    }
}

/// A seeded sampler with its scratch buffers: after the first token, choosing
/// a token allocates nothing. Plug [`Sampler::select`] into
/// `shared::generate::generate` as its `select` hook.
#[derive(Debug, Clone)]
pub struct Sampler {
    config: SamplingConfig,
    rng: Rng,
    probs: Vec<f32>,
    order: Vec<u32>,
}

impl Sampler {
    /// A sampler for `config` whose draws are fixed by `seed`.
    pub fn new(config: SamplingConfig, seed: u64) -> Result<Self> {
        config.validate()?;
        Ok(Self {
            config,
            rng: Rng::new(seed),
            probs: Vec::new(),
            order: Vec::new(),
        })
    }

    /// The distribution the next token is drawn from: softmax of the logits at
    /// the temperature, then top-k and top-p (book ch. 4.4.4 and 4.5.2).
    /// Greedy puts all mass on the argmax.
    pub fn next_token_distribution(&mut self, logits: &[f32]) -> &[f32] {
        self.probs.clear();
        self.probs.extend_from_slice(logits);
        if self.config.temperature == 0.0 {
            let best = argmax(logits);
            self.probs.iter_mut().for_each(|p| *p = 0.0);
            if let Some(p) = self.probs.get_mut(best) {
                *p = 1.0;
            }
            return &self.probs;
        }
        scale_logits_by_temperature(&mut self.probs, self.config.temperature)
            .expect("the temperature was checked when the sampler was made");
        softmax_inplace(&mut self.probs);
        top_k_filter(&mut self.probs, self.config.top_k, &mut self.order);
        top_p_filter(&mut self.probs, self.config.top_p, &mut self.order);
        &self.probs
    }

    /// The next token id for these logits.
    pub fn select(&mut self, logits: &[f32]) -> u32 {
        if self.config.temperature == 0.0 {
            return argmax(logits) as u32;
        }
        self.next_token_distribution(logits);
        let u = self.rng.next_f64();
        sample_from_probs(&self.probs, u)
    }
}

fn fill_order(order: &mut Vec<u32>, n: usize) {
    order.clear();
    order.extend(0..n as u32);
}

fn by_prob_desc(probs: &[f32], a: u32, b: u32) -> std::cmp::Ordering {
    probs[b as usize]
        .total_cmp(&probs[a as usize])
        .then(a.cmp(&b))
}

fn renormalize(probs: &mut [f32]) {
    let sum: f64 = probs.iter().map(|&p| p as f64).sum();
    if sum > 0.0 {
        let inv = (1.0 / sum) as f32;
        probs.iter_mut().for_each(|p| *p *= inv);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The book's top-p, written plainly: sort everything, walk the prefix mass.
    fn top_p_reference(probs: &[f32], top_p: f32) -> Vec<f32> {
        let mut idx: Vec<usize> = (0..probs.len()).collect();
        idx.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]).then(a.cmp(&b)));
        let mut out = vec![0.0f32; probs.len()];
        let mut before = 0.0f64;
        for (rank, &i) in idx.iter().enumerate() {
            if rank == 0 || before < top_p as f64 {
                out[i] = probs[i];
            }
            before += probs[i] as f64;
        }
        let sum: f32 = out.iter().sum();
        out.iter().map(|p| p / sum).collect()
    }

    fn random_distribution(rng: &mut Rng, n: usize, sharpness: f64) -> Vec<f32> {
        let mut logits: Vec<f32> = (0..n)
            .map(|_| ((rng.next_f64() - 0.5) * sharpness) as f32)
            .collect();
        softmax_inplace(&mut logits);
        logits
    }

    #[test]
    fn temperature_must_be_positive() {
        let mut logits = vec![1.0, 2.0];
        scale_logits_by_temperature(&mut logits, 2.0).unwrap();
        assert_eq!(logits, [0.5, 1.0]);
        for bad in [0.0, -1.0, f32::NAN, f32::INFINITY] {
            assert!(scale_logits_by_temperature(&mut logits, bad).is_err());
        }
    }

    #[test]
    fn top_p_keeps_the_books_example() {
        // The book's comment: [0.5, 0.41, 0.09] with top_p = 0.9 keeps the first two.
        let mut probs = vec![0.41, 0.09, 0.5];
        top_p_filter(&mut probs, 0.9, &mut Vec::new());
        assert!((probs[0] - 0.41 / 0.91).abs() < 1e-6);
        assert_eq!(probs[1], 0.0);
        assert!((probs[2] - 0.5 / 0.91).abs() < 1e-6);
        // A tiny top-p still keeps the most probable token.
        let mut probs = vec![0.2, 0.7, 0.1];
        top_p_filter(&mut probs, 1e-9, &mut Vec::new());
        assert_eq!(probs, [0.0, 1.0, 0.0]);
    }

    #[test]
    fn top_p_matches_the_plain_reference() {
        let mut rng = Rng::new(11);
        let mut order = Vec::new();
        for (n, sharpness) in [(5, 3.0), (300, 8.0), (49_152, 30.0), (49_152, 2.0)] {
            for top_p in [0.1, 0.5, 0.9, 0.999] {
                let probs = random_distribution(&mut rng, n, sharpness);
                let mut fast = probs.clone();
                top_p_filter(&mut fast, top_p, &mut order);
                let slow = top_p_reference(&probs, top_p);
                for (a, b) in fast.iter().zip(&slow) {
                    assert!((a - b).abs() < 1e-6, "n {n} p {top_p}: {a} vs {b}");
                }
            }
        }
    }

    #[test]
    fn top_p_cuts_ties_by_lower_id() {
        let mut probs = vec![0.25; 4];
        top_p_filter(&mut probs, 0.5, &mut Vec::new());
        assert_eq!(probs, [0.5, 0.5, 0.0, 0.0]);
    }

    #[test]
    fn top_k_keeps_the_k_largest() {
        let mut probs = vec![0.1, 0.4, 0.2, 0.3];
        top_k_filter(&mut probs, 2, &mut Vec::new());
        assert!((probs[1] - 0.4 / 0.7).abs() < 1e-6 && (probs[3] - 0.3 / 0.7).abs() < 1e-6);
        assert_eq!((probs[0], probs[2]), (0.0, 0.0));
        let mut all = vec![0.5, 0.5];
        top_k_filter(&mut all, 0, &mut Vec::new());
        assert_eq!(all, [0.5, 0.5]);
    }

    #[test]
    fn sampled_frequencies_follow_the_filtered_distribution() {
        // Chi-square goodness of fit over 60,000 draws.
        let logits = [2.0f32, 1.0, 0.5, 0.0, -1.0, -3.0];
        let config = SamplingConfig {
            temperature: 0.8,
            top_k: 0,
            top_p: 0.9,
        };
        let mut sampler = Sampler::new(config, 1234).unwrap();
        let expected: Vec<f32> = sampler.next_token_distribution(&logits).to_vec();
        let draws = 60_000;
        let mut counts = vec![0u32; logits.len()];
        for _ in 0..draws {
            counts[sampler.select(&logits) as usize] += 1;
        }
        let mut chi2 = 0.0;
        let mut dof = 0;
        for (c, p) in counts.iter().zip(&expected) {
            if *p == 0.0 {
                assert_eq!(*c, 0, "a filtered-out token was drawn");
                continue;
            }
            let e = *p as f64 * draws as f64;
            chi2 += (*c as f64 - e).powi(2) / e;
            dof += 1;
        }
        // dof - 1 degrees of freedom; 20 is far beyond the 0.999 quantile for 4.
        assert!(
            dof >= 3 && chi2 < 20.0,
            "chi2 {chi2}, counts {counts:?}, expected {expected:?}"
        );
    }

    #[test]
    fn a_seed_reproduces_the_samples() {
        let logits: Vec<f32> = (0..100).map(|i| (i as f32 * 0.37).sin()).collect();
        let config = SamplingConfig {
            temperature: 1.0,
            top_k: 50,
            top_p: 0.95,
        };
        let draw = |seed| {
            let mut s = Sampler::new(config, seed).unwrap();
            (0..50).map(|_| s.select(&logits)).collect::<Vec<u32>>()
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
        let mut greedy = Sampler::new(SamplingConfig::GREEDY, 0).unwrap();
        assert_eq!(greedy.select(&logits) as usize, argmax(&logits));
    }

    #[test]
    fn bad_configs_are_refused() {
        for (t, p) in [(-1.0, 0.9), (f32::NAN, 0.9), (1.0, 0.0), (1.0, 1.5)] {
            let config = SamplingConfig {
                temperature: t,
                top_k: 0,
                top_p: p,
            };
            assert!(Sampler::new(config, 0).is_err(), "{t} {p}");
        }
    }

    /// The sampler runs the book's named steps, so a reader who edits one of them
    /// (e.g. `scale_logits_by_temperature`) changes what every chapter samples.
    #[test]
    fn the_samplers_distribution_is_the_books_steps_in_order() {
        let logits: Vec<f32> = (0..50)
            .map(|i| ((i * 37) % 11) as f32 * 0.7 - 2.0)
            .collect();
        let config = SamplingConfig {
            temperature: 0.7,
            top_k: 20,
            top_p: 0.8,
        };
        let mut steps = logits.clone();
        scale_logits_by_temperature(&mut steps, config.temperature).unwrap();
        softmax_inplace(&mut steps);
        let mut order = Vec::new();
        top_k_filter(&mut steps, config.top_k, &mut order);
        top_p_filter(&mut steps, config.top_p, &mut order);
        let mut sampler = Sampler::new(config, 0).unwrap();
        assert_eq!(sampler.next_token_distribution(&logits), steps.as_slice());
    }
}
