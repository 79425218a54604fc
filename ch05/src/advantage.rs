//! GRPO's advantages (book ch. 6, 7): how good each response of a group is
//! compared with the others. For a group of `G` responses with rewards `rᵢ`, the
//! advantage of response `i` is `Aᵢ = (rᵢ − mean r) / (std r + 1e-4)`; chapter 7 adds
//! Dr. GRPO's (no division) and GDPO's (each reward normalized on its own).

/// The group-normalized advantages `(r − mean) / (std + 1e-4)`, with the
/// sample standard deviation (divisor `G − 1`, as `torch.std`). A group of
/// one, or a group whose rewards are all equal, has all-zero advantages.
pub fn compute_advantages(rewards: &[f32]) -> Vec<f32> {
    let n = rewards.len();
    if n < 2 {
        return vec![0.0; n];
    }
    let mean = rewards.iter().map(|&r| f64::from(r)).sum::<f64>() / n as f64;
    let var = rewards
        .iter()
        .map(|&r| (f64::from(r) - mean).powi(2))
        .sum::<f64>()
        / (n - 1) as f64;
    let std = var.sqrt();
    rewards
        .iter()
        .map(|&r| ((f64::from(r) - mean) / (std + 1e-4)) as f32)
        .collect()
}

/// The book's GDPO advantages (`7_7_improvements/gdpo.py`): the correctness and format
/// rewards normalized within the group separately ([`compute_advantages`]), summed with
/// the format term weighted by `format_coeff`, and that sum normalized again; so a
/// format bonus cannot drown the correctness signal.
pub fn gdpo_advantages(correct: &[f32], format: &[f32], format_coeff: f32) -> Vec<f32> {
    let (a_correct, a_format) = (compute_advantages(correct), compute_advantages(format));
    let sum: Vec<f32> = a_correct
        .iter()
        .zip(&a_format)
        .map(|(&c, &f)| c + format_coeff * f)
        .collect();
    compute_advantages(&sum)
}

/// Dr. GRPO's advantages (the book's `olmo3_style.py`): `r − mean r`, not divided by
/// the standard deviation, so groups whose rewards barely differ get small advantages.
pub fn dr_grpo_advantages(rewards: &[f32]) -> Vec<f32> {
    if rewards.is_empty() {
        return Vec::new();
    }
    let mean = rewards.iter().map(|&r| f64::from(r)).sum::<f64>() / rewards.len() as f64;
    rewards
        .iter()
        .map(|&r| (f64::from(r) - mean) as f32)
        .collect()
}

/// How a group's rewards become advantages.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AdvantageRule {
    /// [`compute_advantages`]: `(r − mean) / (std + 1e-4)` (book ch. 6, and every
    /// chapter-7 script but two).
    GroupNormalized,
    /// [`dr_grpo_advantages`]: `r − mean` (the book's Olmo-3 style).
    DrGrpo,
    /// [`gdpo_advantages`]: correctness and format normalized apart, then together
    /// (the book's GDPO), the format weighted by `format_coeff`.
    Gdpo {
        /// The format term's weight (the book's 0.1).
        format_coeff: f32,
    },
}

impl AdvantageRule {
    /// The advantages of a group whose responses earned `totals`, made of `correct`
    /// and `format` rewards (0 or 1 each).
    pub fn advantages(self, totals: &[f32], correct: &[f32], format: &[f32]) -> Vec<f32> {
        match self {
            AdvantageRule::GroupNormalized => compute_advantages(totals),
            AdvantageRule::DrGrpo => dr_grpo_advantages(totals),
            AdvantageRule::Gdpo { format_coeff } => gdpo_advantages(correct, format, format_coeff),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6 * (1.0 + b.abs())
    }

    #[test]
    fn advantages_are_group_normalized_with_the_sample_std() {
        // mean 0.5, sample std √(1/3) ≈ 0.57735.
        let a = compute_advantages(&[1.0, 0.0, 0.0, 1.0]);
        let want = 0.5 / ((1.0f64 / 3.0).sqrt() + 1e-4);
        assert!(close(a[0] as f64, want), "{a:?}");
        assert!(close(a[1] as f64, -want), "{a:?}");
        assert_eq!(compute_advantages(&[1.0, 1.0, 1.0]), vec![0.0; 3]);
        assert_eq!(compute_advantages(&[1.0]), vec![0.0]);
        assert!(compute_advantages(&[]).is_empty());
    }
}
