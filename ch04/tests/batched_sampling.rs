//! Batched sampling draws exactly the samples that sampling one by one draws.

use ch04::batched::{sample_batched, sample_sequential, SampleOptions};
use ch04::sampling::SamplingConfig;
use shared::fixtures::{default_model, fixture};
use shared::loader::{load_hf_model, load_model_files};
use shared::model::Model;

fn options(stop_ids: Vec<u32>, max_new_tokens: usize) -> SampleOptions {
    SampleOptions {
        max_new_tokens,
        stop_ids,
        sampling: SamplingConfig {
            temperature: 1.0,
            top_k: 0,
            top_p: 0.95,
        },
        seed: 42,
    }
}

fn check(model: &Model, prompt: &[u32], opts: &SampleOptions, n: usize) {
    let one_by_one = sample_sequential(model, prompt, n, opts).unwrap();
    let batched = sample_batched(model, prompt, n, opts).unwrap();
    assert_eq!((one_by_one.len(), batched.len()), (n, n));
    for (i, (a, b)) in one_by_one.iter().zip(&batched).enumerate() {
        assert_eq!(a.generation.ids, b.generation.ids, "sample {i}");
        assert_eq!(a.generation.stop, b.generation.stop, "sample {i}");
        assert_eq!(
            a.avg_logprob.to_bits(),
            b.avg_logprob.to_bits(),
            "sample {i}"
        );
        // The log-probability gathered while sampling is the book's avg_logprob_answer: the
        // same numbers (measured difference 0 on both models), within 1e-6 so that only a
        // change of summation order could pass, not a different formula.
        if !b.generation.ids.is_empty() {
            let book = ch04::scoring::avg_logprob_answer(model, prompt, &b.generation.ids).unwrap();
            assert!(
                (book - b.avg_logprob).abs() <= 1e-6,
                "sample {i}: {book} vs {}",
                b.avg_logprob
            );
        }
    }
    let distinct: std::collections::HashSet<_> =
        batched.iter().map(|s| &s.generation.ids).collect();
    assert!(distinct.len() > 1, "the samples should differ");
}

#[test]
fn batched_samples_equal_one_by_one_on_a_tiny_bf16_model() {
    let Some(dir) = fixture("tiny/qwen3-tiny/bf16") else {
        return;
    };
    let model = load_hf_model(&dir).unwrap();
    // Stop ids make samples end at different steps, so the batch shrinks.
    check(&model, &[5, 17, 3], &options(vec![2, 7, 11], 20), 6);
}

#[test]
fn batched_samples_equal_one_by_one_on_the_default_model() {
    let Some(files) = default_model() else {
        return;
    };
    let loaded = load_model_files(&files).unwrap();
    let prompt = loaded.encode_prompt("Name a fruit.", true).unwrap();
    check(&loaded.model, &prompt, &options(loaded.stop_ids(), 24), 4);
}

#[test]
fn zero_tokens_and_an_empty_prompt() {
    let Some(dir) = fixture("tiny/llama-tiny") else {
        return;
    };
    let model = load_hf_model(&dir).unwrap();
    let out = sample_batched(&model, &[1, 2], 3, &options(vec![], 0)).unwrap();
    assert!(out
        .iter()
        .all(|s| s.generation.ids.is_empty() && s.avg_logprob.is_nan()));
    assert!(sample_batched(&model, &[], 3, &options(vec![], 4)).is_err());
}

#[test]
fn avg_logprob_answer_matches_a_full_forward_pass() {
    let Some(dir) = fixture("tiny/qwen2-tiny") else {
        return;
    };
    let model = load_hf_model(&dir).unwrap();
    let (prompt, answer) = ([3u32, 8, 1], [4u32, 4, 9, 2]);
    let ids: Vec<u32> = prompt.iter().chain(&answer).copied().collect();
    let logits = model.forward(&ids).unwrap();
    let expected: f64 = answer
        .iter()
        .enumerate()
        .map(|(k, &t)| {
            let row = logits.row(prompt.len() - 1 + k);
            ch04::scoring::token_logprob(row.as_slice().unwrap(), t)
        })
        .sum::<f64>()
        / answer.len() as f64;
    let got = ch04::scoring::avg_logprob_answer(&model, &prompt, &answer).unwrap();
    assert!((got - expected).abs() < 1e-5, "{got} vs {expected}");
    assert!(got < 0.0);
}
