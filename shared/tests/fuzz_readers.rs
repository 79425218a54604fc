//! The readers fuzzed on every CI run: GGUF, safetensors, config.json and tokenizer.json,
//! each with a fixed seed and a case budget that keeps the whole file under a minute.
//! No case may panic, hold more memory than its input warrants, or run slowly (see
//! `fuzz_support`). The longer campaign: `cargo run --release -p shared --example fuzz --
//! --target gguf --minutes 10`.

mod fuzz_support;

use fuzz_support::{fuzz, CountingAlloc, Target, LIMITS};

#[global_allocator]
static ALLOCATOR: CountingAlloc = CountingAlloc;

/// Cases per target on each CI run.
const CASES: u32 = 10_000;

fn run(target: Target) {
    let stats = fuzz(target, CASES, 2026, LIMITS).unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "{}: {} cases, largest peak {} KiB, slowest {:?}",
        target.name(),
        stats.cases,
        stats.max_peak >> 10,
        stats.max_time
    );
}

#[test]
fn fuzz_gguf() {
    run(Target::Gguf);
}

#[test]
fn fuzz_safetensors() {
    run(Target::Safetensors);
}

#[test]
fn fuzz_config_json() {
    run(Target::Config);
}

#[test]
fn fuzz_tokenizer_json() {
    run(Target::Tokenizer);
}
