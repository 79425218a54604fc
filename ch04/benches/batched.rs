//! Sampling throughput on the default model: one sequence alone vs N = 8
//! samples of the same prompt batched (shared prefill, one matrix product per
//! layer and step). 64 new tokens each, temperature 0.8, top-p 0.9, stop
//! tokens ignored so every sample has the same length.
//! `cargo bench -p ch04` prints elements/s = generated tokens/s (all samples).

use ch04::batched::{sample_batched, sample_sequential, SampleOptions};
use ch04::sampling::SamplingConfig;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use shared::loader::load_model;
use shared::models::DEFAULT_MODEL;

const PROMPT: &str = "Question: What is 12 times 7?\nAnswer:";
const NEW_TOKENS: usize = 64;
const SAMPLES: usize = 8;

fn sampling(c: &mut Criterion) {
    let loaded = load_model(DEFAULT_MODEL)
        .expect("the default model loads (run `cargo run -p ch02` once to fetch it)");
    let prompt = loaded.encode_prompt(PROMPT, false).expect("prompt encodes");
    let opts = SampleOptions {
        max_new_tokens: NEW_TOKENS,
        stop_ids: Vec::new(),
        sampling: SamplingConfig {
            temperature: 0.8,
            top_k: 0,
            top_p: 0.9,
        },
        seed: 0,
    };
    let mut group = c.benchmark_group("sampling");
    group.sample_size(10);
    group.throughput(Throughput::Elements(NEW_TOKENS as u64));
    group.bench_function("1 sequence, 64 tokens", |b| {
        b.iter(|| sample_sequential(&loaded.model, &prompt, 1, &opts).unwrap())
    });
    group.throughput(Throughput::Elements((SAMPLES * NEW_TOKENS) as u64));
    group.bench_function("8 samples batched, 64 tokens each", |b| {
        b.iter(|| sample_batched(&loaded.model, &prompt, SAMPLES, &opts).unwrap())
    });
    group.finish();
}

criterion_group!(benches, sampling);
criterion_main!(benches);
