//! ch. 6–7's advantages against the book's own Python function
//! (`fixtures/book/functions.json`, section `ch07.compute_advantage_stats`: float32,
//! unbiased std, 1e-4 added to the std; 1e-5 relative, 1e-6 absolute near 0).

use ch05::grpo::compute_advantages;
use shared::fixtures::{assert_all_checked, fixture_json, json_floats};

/// Mean and unbiased (N − 1) standard deviation, as `torch.mean` / `torch.std`.
fn mean_and_std(values: &[f32]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let var = values
        .iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        / (n - 1.0);
    (mean, var.sqrt())
}

fn close(got: f64, want: f64) -> bool {
    (got - want).abs() <= (1e-5 * want.abs()).max(1e-6)
}

#[test]
fn compute_advantages_matches_the_books_compute_advantage_stats() {
    let Some(book) = fixture_json("book/functions.json") else {
        return;
    };
    let cases = book["ch07.compute_advantage_stats"]
        .as_array()
        .expect("the section ch07.compute_advantage_stats");
    let mut checked = 0;
    for (i, case) in cases.iter().enumerate() {
        let rewards = json_floats(&case["inputs"]["rewards_list"]);
        let got = compute_advantages(&rewards);
        let want = json_floats(&case["expected"]["advantages"]);
        assert_eq!(got.len(), want.len(), "case {i}");
        for (j, (&g, &w)) in got.iter().zip(&want).enumerate() {
            assert!(
                close(f64::from(g), f64::from(w)),
                "case {i} {rewards:?}: advantage {j} is {g}, the book's {w}"
            );
        }
        let (avg, std) = mean_and_std(&got);
        let expected = &case["expected"];
        // The mean is 0 up to rounding: the book's float32 mean of the rewards is off by up
        // to half an ulp, which shifts every advantage alike (1.4e-6 for [1.1, 1.0, 1.1];
        // ours, in f64, is 0). Each advantage agrees within 1e-5 relative, so their mean
        // agrees within 1e-5 of the largest.
        let largest = want.iter().fold(0.0f64, |m, &w| m.max(f64::from(w).abs()));
        let book_avg = expected["adv_avg"].as_f64().unwrap();
        assert!(
            (avg - book_avg).abs() <= (1e-5 * largest).max(1e-6),
            "case {i}: mean {avg}, the book's {book_avg}"
        );
        assert!(
            close(std, expected["adv_std"].as_f64().unwrap()),
            "case {i}: std {std}"
        );
        checked += 1;
    }
    assert_all_checked(checked, cases.len(), "ch07.compute_advantage_stats");
}
