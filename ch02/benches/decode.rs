//! Decode speed with the KV cache on the default model: 128 new tokens after
//! the speed anchors' prompt (`../shared/bench`), greedy, EOS ignored.
//! `cargo bench -p ch02` prints the throughput as elements/s = tokens/s.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use shared::generate::generate_text_basic_cache;
use shared::loader::load_model;
use shared::models::DEFAULT_MODEL;

const PROMPT: &str = "Question: What is 12 times 7?\nAnswer:";
const NEW_TOKENS: usize = 128;

fn decode(c: &mut Criterion) {
    let loaded = load_model(DEFAULT_MODEL)
        .expect("the default model loads (run `cargo run -p ch02` once to fetch it)");
    let prompt = loaded.encode_prompt(PROMPT, false).expect("prompt encodes");
    let mut group = c.benchmark_group("decode");
    group.sample_size(10);
    group.throughput(Throughput::Elements(NEW_TOKENS as u64));
    group.bench_function("smollm2-135m kv-cache 128 tokens", |b| {
        b.iter(|| {
            let g = generate_text_basic_cache(&loaded.model, &prompt, NEW_TOKENS, &[], &mut |_| {})
                .unwrap();
            assert_eq!(g.ids.len(), NEW_TOKENS);
        })
    });
    group.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
