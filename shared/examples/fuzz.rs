//! The readers' fuzzer as a long campaign: batches of mutated inputs with a new seed each
//! until the time is up, stopping at the first failure with the seed that reproduces it.
//!
//! ```sh
//! cargo run --release -p shared --example fuzz -- --target gguf --minutes 10
//! ```
//! `--target` is gguf, safetensors, config, tokenizer or all; CI runs the same fuzzers
//! with a fixed seed and budget (`cargo test -p shared --test fuzz_readers`).

#[path = "../tests/fuzz_support/mod.rs"]
mod fuzz_support;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use fuzz_support::{fuzz, CountingAlloc, Target, LIMITS};

#[global_allocator]
static ALLOCATOR: CountingAlloc = CountingAlloc;

/// Fuzz the model-file and tokenizer readers for a while.
#[derive(Parser)]
struct Args {
    /// What to fuzz: gguf, safetensors, config, tokenizer or all.
    #[arg(long, default_value = "all")]
    target: String,
    /// How long to run, all targets together.
    #[arg(long, default_value_t = 10.0)]
    minutes: f64,
    /// The first batch's seed (each later batch adds one).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Cases per batch.
    #[arg(long, default_value_t = 5000)]
    batch: u32,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let targets: Vec<Target> = match args.target.as_str() {
        "all" => Target::ALL.to_vec(),
        name => {
            match Target::ALL.into_iter().find(|t| t.name() == name) {
                Some(t) => vec![t],
                None => {
                    eprintln!("error: --target {name}: expected gguf, safetensors, config, tokenizer or all");
                    return ExitCode::FAILURE;
                }
            }
        }
    };
    if !(args.minutes.is_finite() && args.minutes > 0.0) {
        eprintln!("error: --minutes {}: give a positive number", args.minutes);
        return ExitCode::FAILURE;
    }
    let end = Instant::now() + Duration::from_secs_f64(args.minutes * 60.0);
    let mut seed = args.seed;
    let mut total = 0u64;
    while Instant::now() < end {
        for &target in &targets {
            match fuzz(target, args.batch, seed, LIMITS) {
                Ok(stats) => {
                    total += u64::from(stats.cases);
                    eprintln!(
                        "{:<12} seed {seed}: {} cases, largest peak {} KiB, slowest {:?}",
                        target.name(),
                        stats.cases,
                        stats.max_peak >> 10,
                        stats.max_time
                    );
                }
                Err(failure) => {
                    eprintln!("FAILED: {failure}");
                    return ExitCode::FAILURE;
                }
            }
        }
        seed += 1;
    }
    eprintln!("{total} cases, no failure");
    ExitCode::SUCCESS
}
