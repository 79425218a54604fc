//! Decode speed with the KV cache: 128 new tokens after the speed anchors' prompt
//! (`../shared/bench`), greedy, EOS ignored, on the default model (SmolLM2-135M, Q4_1),
//! the reasoning model (Qwen2.5-Coder-0.5B, Q4_K_M; when it is in the cache) and a folder
//! with Qwen3-0.6B's shape (`$RFS_QWEN3_SHAPE`, made by `../shared/bench/qwen3_06b_random.py`;
//! bf16 as stored). `cargo bench -p ch02` prints the throughput as elements/s = tokens/s;
//! `ch02/benches/anchors.sh` runs the Python anchors beside ours in one run.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use shared::generate::generate_text_basic_cache;
use shared::loader::{load_model, LoadedModel};
use shared::models::{DEFAULT_MODEL, REASONING_MODEL};

const PROMPT: &str = "Question: What is 12 times 7?\nAnswer:";
const NEW_TOKENS: usize = 128;
/// A prompt inside the Qwen3 tokenizer's ids (the random weights' greedy continuation
/// stays there too).
const QWEN3_IDS: [u32; 9] = [3838, 374, 220, 16, 17, 3039, 220, 22, 30];

/// One criterion benchmark: `NEW_TOKENS` greedy tokens after `prompt`.
fn bench_decode(c: &mut Criterion, name: &str, loaded: &LoadedModel, prompt: &[u32]) {
    let mut group = c.benchmark_group("decode");
    group.sample_size(10);
    group.throughput(Throughput::Elements(NEW_TOKENS as u64));
    group.bench_function(name, |b| {
        b.iter(|| {
            let g = generate_text_basic_cache(&loaded.model, prompt, NEW_TOKENS, &[], &mut |_| {})
                .unwrap();
            assert_eq!(g.ids.len(), NEW_TOKENS);
        })
    });
    group.finish();
}

/// A model when it loads, else `None` after saying why the benchmark is skipped.
fn try_load(what: &str, name_or_path: &str) -> Option<LoadedModel> {
    match load_model(name_or_path) {
        Ok(loaded) => Some(loaded),
        Err(e) => {
            eprintln!("skipping the {what} benchmark: {e}");
            None
        }
    }
}

fn decode(c: &mut Criterion) {
    let loaded = load_model(DEFAULT_MODEL)
        .expect("the default model loads (run `cargo run -p ch02` once to fetch it)");
    let prompt = loaded.encode_prompt(PROMPT, false).expect("prompt encodes");
    bench_decode(c, "smollm2-135m q4_1 kv-cache 128 tokens", &loaded, &prompt);
    drop(loaded);
    if let Some(loaded) = try_load("Qwen2.5", REASONING_MODEL) {
        let prompt = loaded.encode_prompt(PROMPT, false).expect("prompt encodes");
        bench_decode(
            c,
            "qwen2.5-coder-0.5b q4_k_m kv-cache 128 tokens",
            &loaded,
            &prompt,
        );
    }
    match std::env::var("RFS_QWEN3_SHAPE") {
        Ok(dir) => {
            if let Some(loaded) = try_load("Qwen3-0.6B shape", &dir) {
                bench_decode(
                    c,
                    "qwen3-0.6b-shape bf16 kv-cache 128 tokens",
                    &loaded,
                    &QWEN3_IDS,
                );
            }
        }
        Err(_) => eprintln!("skipping the Qwen3-0.6B shape benchmark: set RFS_QWEN3_SHAPE"),
    }
}

criterion_group!(benches, decode);
criterion_main!(benches);
