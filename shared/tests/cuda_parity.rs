//! The CUDA backend against the CPU decoder and the PyTorch fixtures: logits
//! within 1e-3 with f32 weights on the GPU and 5e-2 with bf16/f16, the same
//! greedy ids, the same batched decoding and log-probabilities.
//!
//! Runs with `--features cuda` on a machine with an NVIDIA GPU, or on the emulated one
//! (`shared/tests/fake_cuda/run.sh`, which `.ci/run` runs); elsewhere each test prints a
//! `NOT RUN` line saying why. `RFS_REQUIRE_GPU=1` turns a skip into a failure
//! (the GPU machine's check script sets it, so a skip cannot pass for a pass).

#![cfg(feature = "cuda")]

use half::f16;
use ndarray::Array2;
use serde_json::Value;
use shared::device::{Device, GpuDType};
use shared::fixtures::{default_model, fixture, fixture_json, json_ids};
use shared::generate::generate_text_basic_cache;
use shared::io::{DType, GgufFile};
use shared::linear::WeightMatrix;
use shared::loader::{load_gguf_model, load_hf_model};
use shared::model::Model;
use shared::quantize::{quantize_model, QuantizeMode};
use shared::Error;

const FAMILIES: [&str; 4] = [
    "qwen3-tiny",
    "qwen3-tiny-untied",
    "qwen2-tiny",
    "llama-tiny",
];

/// `model` moved to cuda:0 as `dtype`, or `None` (saying why) without a GPU.
fn on_gpu(model: &Model, dtype: GpuDType) -> Option<Model> {
    match model.clone().into_device(Device::Cuda(0), dtype) {
        Ok(m) => Some(m),
        Err(Error::Device(msg)) if std::env::var("RFS_REQUIRE_GPU").as_deref() != Ok("1") => {
            shared::fixtures::report_not_run(&format!("no GPU: {msg}"));
            None
        }
        Err(e) => panic!("moving the model to cuda:0: {e}"),
    }
}

fn max_abs_diff(a: &Array2<f32>, b: &Array2<f32>) -> f32 {
    assert_eq!(a.dim(), b.dim());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn reference(family: &str) -> Option<Value> {
    fixture_json(&format!("tiny/{family}/reference.json"))
}

/// `gpu`'s logits at every position of `input` within `tol` of `cpu`'s, and its first
/// `greedy` greedy tokens the same.
fn assert_matches_cpu(
    cpu: &Model,
    gpu: &Model,
    input: &[u32],
    tol: f32,
    greedy: usize,
    what: &str,
) {
    let diff = max_abs_diff(&gpu.forward(input).unwrap(), &cpu.forward(input).unwrap());
    assert!(diff <= tol, "{what}, {input:?}: logits differ by {diff}");
    let want = generate_text_basic_cache(cpu, input, greedy, &[], &mut |_| {}).unwrap();
    let got = generate_text_basic_cache(gpu, input, greedy, &[], &mut |_| {}).unwrap();
    assert_eq!(got.ids, want.ids, "{what}, {input:?}: greedy ids");
}

/// Every position's logits and 12 greedy tokens on the GPU against the CPU.
fn check_tiny(family: &str, weights_dir: &str, dtype: GpuDType, tol: f32) {
    let Some(reference) = reference(family) else {
        return;
    };
    let cpu = load_hf_model(&fixture(&format!("tiny/{family}/{weights_dir}")).unwrap()).unwrap();
    let Some(gpu) = on_gpu(&cpu, dtype) else {
        return;
    };
    let cases = reference["cases"].as_array().unwrap();
    assert!(!cases.is_empty(), "{family}: the fixture holds no cases");
    for case in cases {
        let what = format!("{family}/{weights_dir} on the GPU as {dtype}");
        assert_matches_cpu(&cpu, &gpu, &json_ids(&case["input_ids"]), tol, 12, &what);
    }
}

#[test]
fn tiny_models_f32_within_1e3_of_the_cpu() {
    for family in FAMILIES {
        check_tiny(family, "", GpuDType::F32, 1e-3);
    }
}

#[test]
fn tiny_models_bf16_and_f16_within_5e2_of_the_cpu() {
    for family in FAMILIES {
        // bf16 checkpoints: the GPU keeps the very same weights.
        check_tiny(family, "bf16", GpuDType::BF16, 1e-3);
        // f32 checkpoints rounded to 16 bits on upload.
        check_tiny(family, "", GpuDType::BF16, 5e-2);
        check_tiny(family, "", GpuDType::F16, 5e-2);
    }
}

/// A `rows × cols` matrix of `dtype` blocks (Q4_0, Q4_1 or Q8_0) with small scales
/// and varied quants, as a GGUF would hold it.
fn block_matrix(dtype: DType, rows: usize, cols: usize) -> WeightMatrix {
    let (block_bytes, header) = match dtype {
        DType::Q4_0 => (18, f16::from_f32(0.02).to_le_bytes().to_vec()),
        DType::Q4_1 => (
            20,
            [
                f16::from_f32(0.02).to_le_bytes(),
                f16::from_f32(-0.1).to_le_bytes(),
            ]
            .concat(),
        ),
        DType::Q8_0 => (34, f16::from_f32(0.002).to_le_bytes().to_vec()),
        other => panic!("{other:?} is not a block type the GPU dequantizes"),
    };
    let mut bytes = Vec::with_capacity(rows * cols / 32 * block_bytes);
    for b in 0..rows * cols / 32 {
        bytes.extend(&header);
        bytes.extend((header.len()..block_bytes).map(|i| ((b * 37 + i * 11) % 256) as u8));
    }
    WeightMatrix::from_blocks(dtype, rows, cols, bytes).unwrap()
}

/// The GPU's dequantization kernels (`dequant_q8_0`, `_q4_0`, `_q4_1`: how a GGUF's
/// blocks are uploaded) on the tiny Qwen3 model with block weights: Q8_0 everywhere
/// (`--quantize q8_0`), then Q4_0 and Q4_1 MLP projections in block 0. Logits and 4
/// greedy tokens as the CPU's kernels give them from the same blocks.
#[test]
fn block_weights_dequantized_on_the_gpu_match_the_cpu() {
    let Some(dir) = fixture("tiny/qwen3-tiny") else {
        return;
    };
    let mut cpu = load_hf_model(&dir).unwrap();
    quantize_model(&mut cpu, QuantizeMode::Q8_0).unwrap();
    let mlp = &mut cpu.blocks[0].mlp;
    mlp.up_proj = block_matrix(DType::Q4_0, mlp.up_proj.rows(), mlp.up_proj.cols());
    mlp.gate_proj = block_matrix(DType::Q4_1, mlp.gate_proj.rows(), mlp.gate_proj.cols());
    let input: Vec<u32> = vec![3, 1, 4, 1, 5, 9];
    for (dtype, tol) in [(GpuDType::F32, 1e-3), (GpuDType::BF16, 5e-2)] {
        let Some(gpu) = on_gpu(&cpu, dtype) else {
            return;
        };
        assert_matches_cpu(
            &cpu,
            &gpu,
            &input,
            tol,
            4,
            &format!("block weights as {dtype}"),
        );
    }
}

/// Prefill once, copy the prompt's cache to three sequences, then decode them
/// as a batch (ch04's sampler): every step's logits as on the CPU.
#[test]
fn batched_decoding_and_log_probs_match_the_cpu() {
    let Some(dir) = fixture("tiny/qwen3-tiny") else {
        return;
    };
    let cpu = load_hf_model(&dir).unwrap();
    let Some(gpu) = on_gpu(&cpu, GpuDType::F32) else {
        return;
    };
    let prompt: Vec<u32> = (1..12).collect();
    let steps = [[5u32, 9, 13], [2, 4, 6], [7, 7, 7]];
    let run = |model: &Model| -> Vec<Array2<f32>> {
        let capacity = prompt.len() + steps.len() + 1;
        let mut prefill = model.new_cache(capacity);
        let hidden = model.forward_sequence(&prompt, &mut prefill);
        let mut out = vec![model.log_probs(&hidden)];
        let mut state = model.new_batch_state(3, capacity);
        for cache in &mut state.caches {
            cache.copy_prefix_from(&prefill);
        }
        for tokens in &steps {
            out.push(
                model
                    .forward_batch_step(tokens, &[0, 1, 2], &mut state)
                    .to_owned(),
            );
        }
        // A partial batch: sequences 0 and 2 only.
        out.push(
            model
                .forward_batch_step(&[3, 8], &[0, 2], &mut state)
                .to_owned(),
        );
        out
    };
    for (i, (got, want)) in run(&gpu).iter().zip(run(&cpu)).enumerate() {
        let diff = max_abs_diff(got, &want);
        assert!(diff <= 1e-3, "step {i}: differs by {diff}");
    }
}

/// The default model (Q4_1 GGUF, dequantized on the GPU) against the CPU and
/// the transformers reference: the fixture's greedy 32 tokens, every case.
#[test]
fn smollm2_matches_the_cpu_and_the_reference() {
    let Some(reference) = fixture_json("smollm2-135m/reference.json") else {
        return;
    };
    if shared::cuda::Gpu::open(0).is_ok_and(|gpu| gpu.name().contains("CPU emulation")) {
        // tests/fake_cuda runs each GPU thread as an OS thread: SmolLM2's
        // 135M weights and 49152-row output layer would take hours.
        shared::fixtures::report_not_run(
            "SmolLM2 under the CPU emulation of a GPU (too slow; the block-weights test runs \
             the same dequantization kernels)",
        );
        return;
    }
    let Some(files) = default_model() else { return };
    let cpu = load_gguf_model(&GgufFile::open(files.path()).unwrap()).unwrap();
    for (dtype, tol) in [(GpuDType::F32, 1e-3), (GpuDType::BF16, 5e-2)] {
        let Some(gpu) = on_gpu(&cpu, dtype) else {
            return;
        };
        let cases = reference["cases"].as_array().unwrap();
        assert!(
            !cases.is_empty(),
            "smollm2-135m/reference.json holds no cases"
        );
        for case in cases {
            let input = json_ids(&case["input_ids"]);
            let want = cpu.forward(&input).unwrap();
            let got = gpu.forward(&input).unwrap();
            let diff = max_abs_diff(&got, &want);
            assert!(diff <= tol, "SmolLM2 as {dtype}: logits differ by {diff}");
            let greedy = generate_text_basic_cache(&gpu, &input, 32, &[2], &mut |_| {}).unwrap();
            let mut got = greedy.ids;
            if got.len() < 32 {
                got.push(2);
            }
            assert_eq!(
                got,
                json_ids(&case["greedy_32_ids"]),
                "SmolLM2 as {dtype}: greedy"
            );
        }
    }
}
