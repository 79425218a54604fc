//! GPU tokens/s (`--features cuda`): prefill and greedy decoding with the KV
//! cache, batch 1, 256 new tokens, for SmolLM2-135M (the real GGUF when it is
//! cached, else random weights of its shape) and for random weights of
//! Qwen3-0.6B's exact shape (the same work as the real model). Prints the GPU's
//! name with every figure; compare with `../shared/bench/anchor_torch.py` run on
//! the same GPU.
//!
//! `cargo bench -p shared --features cuda --bench gpu_decode` (add `-- f32` to
//! include f32 weights; bf16 only by default).

use std::time::Instant;

use shared::config::{Family, ModelConfig};
use shared::device::{Device, GpuDType};
use shared::generate::generate_text_basic_cache;
use shared::linear::WeightMatrix;
use shared::model::{Attention, FeedForward, Model, TransformerBlock};

const NEW_TOKENS: usize = 256;
const PREFILL_TOKENS: usize = 512;

/// A xorshift generator: random weights, the same every run.
struct Rng(u64);

impl Rng {
    fn uniform(&mut self, scale: f32) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
    }

    fn matrix(&mut self, rows: usize, cols: usize) -> WeightMatrix {
        let scale = 1.0 / (cols as f32).sqrt();
        let bits = (0..rows * cols)
            .map(|_| half::bf16::from_f32(self.uniform(scale)).to_bits())
            .collect();
        WeightMatrix::from_bf16(rows, cols, bits).expect("shape")
    }
}

/// Qwen3-0.6B's shape: 28 layers, dim 1024, 16 heads, 8 KV heads
/// of 128, ffn 3072, vocabulary 151936, tied embeddings, QK-norm.
fn qwen3_0_6b() -> ModelConfig {
    ModelConfig {
        family: Family::Qwen3,
        vocab_size: 151_936,
        hidden_size: 1024,
        intermediate_size: 3072,
        num_layers: 28,
        num_heads: 16,
        num_kv_heads: 8,
        head_dim: 128,
        rope_theta: 1_000_000.0,
        rms_norm_eps: 1e-6,
        max_position_embeddings: 40_960,
        tie_word_embeddings: true,
        qkv_bias: false,
        qk_norm: true,
        eos_token_ids: vec![],
    }
}

/// SmolLM2-135M's shape: 30 layers, dim 576, 9 heads, 3 KV heads, ffn 1536.
fn smollm2_135m() -> ModelConfig {
    ModelConfig {
        family: Family::Llama,
        vocab_size: 49_152,
        hidden_size: 576,
        intermediate_size: 1536,
        num_layers: 30,
        num_heads: 9,
        num_kv_heads: 3,
        head_dim: 64,
        rope_theta: 100_000.0,
        rms_norm_eps: 1e-5,
        max_position_embeddings: 8192,
        tie_word_embeddings: true,
        qkv_bias: false,
        qk_norm: false,
        eos_token_ids: vec![],
    }
}

/// A model of `config`'s shape with random bf16 weights.
fn random_model(config: ModelConfig) -> Model {
    let mut rng = Rng(0x5EED_CAFE);
    let c = config.clone();
    let (q, kv) = (c.num_heads * c.head_dim, c.num_kv_heads * c.head_dim);
    let ones = |n: usize| vec![1.0f32; n];
    let blocks = (0..c.num_layers)
        .map(|_| TransformerBlock {
            input_norm: ones(c.hidden_size),
            attention: Attention {
                q_proj: rng.matrix(q, c.hidden_size),
                k_proj: rng.matrix(kv, c.hidden_size),
                v_proj: rng.matrix(kv, c.hidden_size),
                o_proj: rng.matrix(c.hidden_size, q),
                q_bias: None,
                k_bias: None,
                v_bias: None,
                q_norm: c.qk_norm.then(|| ones(c.head_dim)),
                k_norm: c.qk_norm.then(|| ones(c.head_dim)),
            },
            post_attention_norm: ones(c.hidden_size),
            mlp: FeedForward {
                gate_proj: rng.matrix(c.intermediate_size, c.hidden_size),
                up_proj: rng.matrix(c.intermediate_size, c.hidden_size),
                down_proj: rng.matrix(c.hidden_size, c.intermediate_size),
            },
        })
        .collect();
    let embed = rng.matrix(c.vocab_size, c.hidden_size);
    Model::new(config, embed, blocks, ones(c.hidden_size), None)
}

/// Prefill tokens/s and decoding tokens/s of `model` on cuda:0.
fn measure(name: &str, model: &Model, dtype: GpuDType) {
    let gpu = match model.clone().into_device(Device::Cuda(0), dtype) {
        Ok(gpu) => gpu,
        Err(e) => {
            eprintln!("skipped {name}: {e}");
            return;
        }
    };
    let prompt: Vec<u32> = (0..PREFILL_TOKENS as u32)
        .map(|i| (i * 7919) % 1000 + 10)
        .collect();
    // Warm-up: the first launches pay for module loading and allocation.
    generate_text_basic_cache(&gpu, &prompt[..16], 8, &[], &mut |_| {}).unwrap();
    let mut cache = gpu.new_cache(PREFILL_TOKENS);
    let start = Instant::now();
    let hidden = gpu.forward_sequence(&prompt, &mut cache);
    let _ = gpu.last_logits(&hidden);
    let prefill_s = start.elapsed().as_secs_f64();
    let g = generate_text_basic_cache(&gpu, &prompt[..16], NEW_TOKENS, &[], &mut |_| {}).unwrap();
    let s = &g.stats;
    let decode_only = (s.new_tokens - 1) as f64 / (s.total_s - s.ttft_s);
    println!(
        "{} | {name} | {dtype} | prefill {PREFILL_TOKENS} tokens: {:.0} tok/s | decode {} tokens (batch 1, greedy, KV cache): {:.1} tok/s with the prefill, {:.1} tok/s decoding only",
        gpu.device_description(),
        PREFILL_TOKENS as f64 / prefill_s,
        s.new_tokens,
        s.tok_per_s(),
        decode_only
    );
}

fn main() {
    let with_f32 = std::env::args().any(|a| a == "f32");
    let dtypes: &[GpuDType] = if with_f32 {
        &[GpuDType::BF16, GpuDType::F32]
    } else {
        &[GpuDType::BF16]
    };
    let smollm2 = match shared::fixtures::default_model() {
        Some(files) => {
            let gguf = shared::io::GgufFile::open(files.path()).unwrap();
            (
                "SmolLM2-135M (GGUF)",
                shared::loader::load_gguf_model(&gguf).unwrap(),
            )
        }
        None => ("SmolLM2-135M shape, random", random_model(smollm2_135m())),
    };
    for &dtype in dtypes {
        measure(smollm2.0, &smollm2.1, dtype);
    }
    drop(smollm2);
    let qwen = random_model(qwen3_0_6b());
    for &dtype in dtypes {
        measure("Qwen3-0.6B shape, random", &qwen, dtype);
    }
}
