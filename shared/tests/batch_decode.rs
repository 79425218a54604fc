//! Batched decoding equals decoding each sequence alone: the tiny models of
//! every family (f32 and bf16 weights) and the default model (Q4_1).

use shared::batch::BatchDecodeState;
use shared::fixtures::{default_model, fixture};
use shared::loader::{load_hf_model, load_model_files};
use shared::model::Model;

/// Three continuations of one prompt, one token each step, different tokens per sequence.
fn continuations(vocab: u32) -> Vec<Vec<u32>> {
    (0..3u32)
        .map(|s| (0..5u32).map(|t| (7 + 31 * s + 13 * t) % vocab).collect())
        .collect()
}

/// Logits of each continuation decoded alone with `forward_step`, step by step.
fn alone(model: &Model, prompt: &[u32], seqs: &[Vec<u32>]) -> Vec<Vec<Vec<f32>>> {
    seqs.iter()
        .map(|tokens| {
            let mut state = model.new_decode_state(prompt.len() + tokens.len());
            for &t in prompt {
                model.forward_step(t, &mut state);
            }
            tokens
                .iter()
                .map(|&t| model.forward_step(t, &mut state).to_vec())
                .collect()
        })
        .collect()
}

/// The same continuations decoded together after one shared prefill; the
/// middle sequence stops after two steps (as a finished sample does).
fn together(model: &Model, prompt: &[u32], seqs: &[Vec<u32>]) -> Vec<Vec<Vec<f32>>> {
    let capacity = prompt.len() + seqs[0].len();
    let c = &model.config;
    let mut prefill =
        shared::attention::KvCache::new(c.num_layers, c.num_kv_heads, c.head_dim, capacity);
    model.forward_sequence(prompt, &mut prefill);
    let mut state: BatchDecodeState = model.new_batch_state(seqs.len(), capacity);
    for cache in &mut state.caches {
        cache.copy_prefix_from(&prefill);
    }
    let mut out = vec![Vec::new(); seqs.len()];
    for step in 0..seqs[0].len() {
        let active: Vec<usize> = (0..seqs.len()).filter(|&s| s != 1 || step < 2).collect();
        let tokens: Vec<u32> = active.iter().map(|&s| seqs[s][step]).collect();
        let logits = model.forward_batch_step(&tokens, &active, &mut state);
        for (row, &s) in active.iter().enumerate() {
            out[s].push(logits.row(row).to_vec());
        }
    }
    out
}

fn max_diff(a: &[Vec<Vec<f32>>], b: &[Vec<Vec<f32>>]) -> f32 {
    let mut worst = 0.0f32;
    for (sa, sb) in a.iter().zip(b) {
        for (ra, rb) in sa.iter().zip(sb) {
            for (x, y) in ra.iter().zip(rb) {
                worst = worst.max((x - y).abs());
            }
        }
    }
    worst
}

/// Batched vs alone for one model; the sequence that stopped early has two rows.
fn check(model: &Model, prompt: &[u32], tolerance: f32, name: &str) {
    let seqs = continuations(model.config.vocab_size as u32);
    let (a, b) = (alone(model, prompt, &seqs), together(model, prompt, &seqs));
    assert_eq!(
        b[1].len(),
        2,
        "{name}: the stopped sequence decoded too long"
    );
    let d = max_diff(&a, &b);
    assert!(d <= tolerance, "{name}: batched logits differ by {d}");
}

#[test]
fn batched_equals_alone_on_the_tiny_models() {
    for family in [
        "qwen3-tiny",
        "qwen3-tiny-untied",
        "qwen2-tiny",
        "llama-tiny",
    ] {
        let Some(dir) = fixture(&format!("tiny/{family}")) else {
            return;
        };
        let prompt = [3, 1, 4, 1, 5, 9, 2, 6];
        // f32 matrix products may sum in another order than the vector kernel.
        check(&load_hf_model(&dir).unwrap(), &prompt, 1e-4, family);
        // bf16 rows of a batched product are bit-identical to the single-row kernel.
        check(
            &load_hf_model(&dir.join("bf16")).unwrap(),
            &prompt,
            0.0,
            &format!("{family}/bf16"),
        );
    }
}

#[test]
fn batched_equals_alone_on_the_default_model() {
    let Some(files) = default_model() else {
        return;
    };
    let loaded = load_model_files(&files).unwrap();
    let prompt = loaded.encode_prompt("What is 7 times 6?", true).unwrap();
    // Q4_1 rows of a batched product are bit-identical to the single-row kernel.
    check(&loaded.model, &prompt, 0.0, "smollm2 Q4_1");
}

/// A prefill of no tokens is a no-op: no hidden states, the cache as it was.
#[test]
fn an_empty_prefill_changes_nothing() {
    let Some(dir) = fixture("tiny/qwen3-tiny") else {
        return;
    };
    let model = load_hf_model(&dir).unwrap();
    let mut cache = model.new_cache(8);
    model.forward_sequence(&[1, 2], &mut cache);
    let hidden = model.forward_sequence(&[], &mut cache);
    assert_eq!(hidden.nrows(), 0);
    assert_eq!(cache.len(), 2);
}
