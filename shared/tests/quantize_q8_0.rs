//! `--quantize q8_0` ([`shared::quantize::quantize_model`]): the tiny models of all
//! four families still give the reference's logits, more loosely (Q8_0 rounds every
//! weight: within 3% of the largest logit, the top 5 the same up to near-ties), a small random model in Qwen3's layout quantizes every matrix, matrices
//! in GGUF block formats and matrices whose columns do not fill 32-value blocks stay
//! as they are, and (ignored, 1.2 GB) Qwen3-0.6B's exact shape halves its memory.
//!
//! The ignored test needs a folder made by `../shared/bench/qwen3_06b_random.py`:
//!
//! ```text
//! python ../shared/bench/qwen3_06b_random.py /tmp/qwen3-0.6b-random shared/tests/fixtures/tokenizers/qwen3
//! RFS_QWEN3_06B_RANDOM=/tmp/qwen3-0.6b-random cargo test --release -p shared --test quantize_q8_0 -- --ignored
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use shared::fixtures::{fixture, json_floats, json_ids};
use shared::io::{write_safetensors_f32, DType};
use shared::linear::WeightMatrix;
use shared::loader::load_hf_model;
use shared::model::Model;
use shared::quantize::{quantize_model, QuantizeMode, QuantizeReport};
use shared::rng::Rng;

const FAMILIES: [&str; 4] = [
    "qwen3-tiny",
    "qwen3-tiny-untied",
    "qwen2-tiny",
    "llama-tiny",
];

/// Every logit within this fraction of the largest |logit|.
const REL_TOL: f32 = 0.03;

/// The ids of the `k` largest values, as a sorted set.
fn top_k(logits: &[f32], k: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..logits.len()).collect();
    order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]));
    let mut top = order[..k].to_vec();
    top.sort_unstable();
    top
}

/// Logits closer than this fraction of the largest |logit| are a tie at Q8_0's precision.
const TIE: f32 = 0.01;

/// The ids in the top 5 of `got` that are not in the top 5 of `want`.
fn top5_swaps(got: &[f32], want: &[f32]) -> Vec<usize> {
    let want_top = top_k(want, 5);
    top_k(got, 5)
        .into_iter()
        .filter(|id| !want_top.contains(id))
        .collect()
}

/// The id of the 5th largest value.
fn fifth(logits: &[f32]) -> usize {
    let top = top_k(logits, 5);
    *top.iter()
        .min_by(|&&a, &&b| logits[a].total_cmp(&logits[b]))
        .unwrap()
}

/// The largest |value|.
fn max_abs(values: &[f32]) -> f32 {
    values.iter().fold(0.0f32, |m, x| m.max(x.abs()))
}

/// The largest |a - b| divided by the largest |b|.
fn relative_error(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    let scale = max_abs(b);
    let diff = a
        .iter()
        .zip(b)
        .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()));
    diff / scale
}

/// The last position's logits of `ids`.
fn last_logits(model: &Model, ids: &[u32]) -> Vec<f32> {
    let logits = model.forward(ids).unwrap();
    logits.row(logits.nrows() - 1).to_vec()
}

/// Every weight matrix of `model`.
fn matrices(model: &Model) -> Vec<&WeightMatrix> {
    let mut out = vec![&model.embed_tokens];
    out.extend(model.blocks.iter().flat_map(|b| b.projections()));
    out.extend(model.lm_head.as_ref());
    out
}

/// Weight matrices a model of `layers` blocks has: the embedding, 7 per block and
/// an untied lm_head.
fn matrix_count(layers: usize, tied: bool) -> usize {
    1 + 7 * layers + usize::from(!tied)
}

#[test]
fn tiny_families_with_q8_0_weights_keep_the_reference_top5_up_to_ties_and_logits_within_3_percent()
{
    let (mut checked, mut expected, mut swaps) = (0, 0, 0);
    for family in FAMILIES {
        let Some(dir) = fixture(&format!("tiny/{family}")) else {
            return;
        };
        let reference: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("reference.json")).unwrap())
                .unwrap();
        let mut model = load_hf_model(&dir).unwrap();
        let report = quantize_model(&mut model, QuantizeMode::Q8_0).unwrap();
        // Every tiny matrix has 64, 96 or 160 columns: all of them are quantized.
        let c = &model.config;
        assert_eq!(
            report.quantized,
            matrix_count(c.num_layers, c.tie_word_embeddings),
            "{family}: {report:?}"
        );
        assert!(report.kept_shape.is_empty() && report.kept_blocks.is_empty());
        assert!(matrices(&model).iter().all(|w| w.dtype() == DType::Q8_0));
        for case in reference["cases"].as_array().unwrap() {
            expected += 1;
            let input = json_ids(&case["input_ids"]);
            let want = json_floats(&case["last_logits"]);
            let got = last_logits(&model, &input);
            let err = relative_error(&got, &want);
            assert!(
                err <= REL_TOL,
                "{family} {input:?}: logits off by {:.2}% of the largest",
                err * 100.0
            );
            let swapped = top5_swaps(&got, &want);
            swaps += swapped.len();
            for id in swapped {
                let gap = want[fifth(&want)] - want[id];
                assert!(
                    gap <= TIE * max_abs(&want),
                    "{family} {input:?}: top-5 ids {:?}, the reference's {:?} ({id} is {gap} below its 5th)",
                    top_k(&got, 5),
                    top_k(&want, 5)
                );
            }
            checked += 1;
        }
    }
    assert_eq!(checked, expected);
    assert_eq!(checked, 12, "4 families × 3 cases");
    // Two of the 12 reference top-5s end in a near-tie (6th within 0.3% and 0.4% of the
    // largest logit of the 5th) that Q8_0's rounding swaps.
    assert!(swaps <= 2, "{swaps} top-5 ids swapped");
}

#[test]
fn matrices_already_in_gguf_blocks_stay_as_they_are() {
    let Some(dir) = fixture("tiny/llama-tiny") else {
        return;
    };
    let mut model = load_hf_model(&dir).unwrap();
    let (rows, cols) = (model.blocks[0].mlp.up_proj.rows(), 64);
    // Q4_0 blocks: an f16 scale of 0.01, then 16 bytes of 4-bit values.
    let block: Vec<u8> = [0x1f, 0x21].into_iter().chain(0x10..0x20).collect();
    let bytes = block.repeat(rows * cols / 32);
    model.blocks[0].mlp.up_proj =
        WeightMatrix::from_blocks(DType::Q4_0, rows, cols, bytes).unwrap();
    let report = quantize_model(&mut model, QuantizeMode::Q8_0).unwrap();
    assert_eq!(
        report.kept_blocks,
        [("model.layers.0.mlp.up_proj.weight".to_string(), DType::Q4_0)]
    );
    assert_eq!(model.blocks[0].mlp.up_proj.dtype(), DType::Q4_0);
    assert_eq!(report.quantized, matrix_count(2, true) - 1);
    let lines = report.lines(QuantizeMode::Q8_0);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[1].contains("1 matrices are already GGUF blocks (Q4_0)"));
}

/// A small model in Qwen3's layout (QK-norm, no biases), random f32 weights.
struct RandomQwen3 {
    vocab: usize,
    hidden: usize,
    intermediate: usize,
    layers: usize,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
    tied: bool,
}

impl RandomQwen3 {
    /// Writes config.json and model.safetensors into a fresh temp folder named for `tag`.
    fn write(&self, tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("rfs-quantize-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        self.write_config(&dir);
        let mut rng = Rng::new(7);
        let tensors: Vec<(String, Vec<usize>, Vec<f32>)> = self
            .shapes()
            .into_iter()
            .map(|(name, shape)| {
                let n = shape.iter().product();
                let values = if shape.len() == 1 {
                    vec![1.0; n]
                } else {
                    (0..n)
                        .map(|_| (rng.next_f64() as f32 - 0.5) * 0.2)
                        .collect()
                };
                (name, shape, values)
            })
            .collect();
        let views: Vec<(&str, &[usize], &[f32])> = tensors
            .iter()
            .map(|(n, s, v)| (n.as_str(), s.as_slice(), v.as_slice()))
            .collect();
        write_safetensors_f32(&dir.join("model.safetensors"), &views, &BTreeMap::new()).unwrap();
        dir
    }

    fn write_config(&self, dir: &Path) {
        let config = json!({
            "architectures": ["Qwen3ForCausalLM"],
            "model_type": "qwen3",
            "vocab_size": self.vocab,
            "hidden_size": self.hidden,
            "intermediate_size": self.intermediate,
            "num_hidden_layers": self.layers,
            "num_attention_heads": self.heads,
            "num_key_value_heads": self.kv_heads,
            "head_dim": self.head_dim,
            "rope_theta": 1_000_000.0,
            "max_position_embeddings": 256,
            "rms_norm_eps": 1e-6,
            "tie_word_embeddings": self.tied,
            "hidden_act": "silu",
        });
        std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    }

    /// Every tensor's Hugging Face name and shape.
    fn shapes(&self) -> Vec<(String, Vec<usize>)> {
        let (h, q, kv) = (
            self.hidden,
            self.heads * self.head_dim,
            self.kv_heads * self.head_dim,
        );
        let mut out = vec![("model.embed_tokens.weight".into(), vec![self.vocab, h])];
        for i in 0..self.layers {
            let p = format!("model.layers.{i}");
            out.extend([
                (format!("{p}.input_layernorm.weight"), vec![h]),
                (format!("{p}.self_attn.q_proj.weight"), vec![q, h]),
                (format!("{p}.self_attn.k_proj.weight"), vec![kv, h]),
                (format!("{p}.self_attn.v_proj.weight"), vec![kv, h]),
                (format!("{p}.self_attn.o_proj.weight"), vec![h, q]),
                (format!("{p}.self_attn.q_norm.weight"), vec![self.head_dim]),
                (format!("{p}.self_attn.k_norm.weight"), vec![self.head_dim]),
                (format!("{p}.post_attention_layernorm.weight"), vec![h]),
                (
                    format!("{p}.mlp.gate_proj.weight"),
                    vec![self.intermediate, h],
                ),
                (
                    format!("{p}.mlp.up_proj.weight"),
                    vec![self.intermediate, h],
                ),
                (
                    format!("{p}.mlp.down_proj.weight"),
                    vec![h, self.intermediate],
                ),
            ]);
        }
        out.push(("model.norm.weight".into(), vec![h]));
        if !self.tied {
            out.push(("lm_head.weight".into(), vec![self.vocab, h]));
        }
        out
    }

    /// Bytes of its weight matrices as f32.
    fn matrix_bytes_f32(&self) -> u64 {
        self.shapes()
            .iter()
            .filter(|(_, s)| s.len() == 2)
            .map(|(_, s)| 4 * (s[0] * s[1]) as u64)
            .sum()
    }
}

/// Quantized against unquantized logits on a few prompts: within `tol` of the largest
/// |logit|, and the quantized model's choice scores within `tol` of the best.
fn assert_close_to_unquantized(before: &Model, after: &Model, vocab: u32, tol: f32) {
    for prompt in [vec![1u32, 2, 3], vec![7, 100 % vocab, 42, 9, 9, 0], vec![5]] {
        let want = last_logits(before, &prompt);
        let got = last_logits(after, &prompt);
        let err = relative_error(&got, &want);
        assert!(err <= tol, "{prompt:?}: off by {:.2}%", err * 100.0);
        let best = want.iter().copied().fold(f32::MIN, f32::max);
        let chosen = want[shared::tensor::argmax(&got)];
        assert!(best - chosen <= tol * max_abs(&want), "{prompt:?}: argmax");
    }
}

#[test]
fn a_small_random_qwen3_layout_model_quantizes_every_matrix_to_about_a_quarter_of_f32() {
    let spec = RandomQwen3 {
        vocab: 1000,
        hidden: 128,
        intermediate: 352,
        layers: 2,
        heads: 4,
        kv_heads: 2,
        head_dim: 32,
        tied: false,
    };
    let dir = spec.write("qwen3");
    let before = load_hf_model(&dir).unwrap();
    let mut after = before.clone();
    let report = quantize_model(&mut after, QuantizeMode::Q8_0).unwrap();
    assert_eq!(report.quantized, matrix_count(2, false));
    assert_eq!(report.bytes_before, spec.matrix_bytes_f32());
    // 34 bytes per 32 weights instead of 128.
    assert_eq!(report.bytes_after, spec.matrix_bytes_f32() / 128 * 34);
    assert!(matrices(&after).iter().all(|w| w.dtype() == DType::Q8_0));
    assert_eq!(
        after.blocks[0].attention.q_norm,
        before.blocks[0].attention.q_norm
    );
    assert_close_to_unquantized(&before, &after, spec.vocab as u32, REL_TOL);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn matrices_whose_columns_do_not_fill_blocks_stay_and_are_named() {
    // intermediate 200: down_proj has 200 columns, not a multiple of 32.
    let spec = RandomQwen3 {
        vocab: 300,
        hidden: 64,
        intermediate: 200,
        layers: 2,
        heads: 2,
        kv_heads: 1,
        head_dim: 32,
        tied: true,
    };
    let dir = spec.write("odd");
    let before = load_hf_model(&dir).unwrap();
    let mut after = before.clone();
    let report: QuantizeReport = quantize_model(&mut after, QuantizeMode::Q8_0).unwrap();
    assert_eq!(
        report.kept_shape,
        [
            "model.layers.0.mlp.down_proj.weight",
            "model.layers.1.mlp.down_proj.weight"
        ]
    );
    assert_eq!(report.quantized, matrix_count(2, true) - 2);
    assert_eq!(after.blocks[1].mlp.down_proj.dtype(), DType::F32);
    assert_eq!(after.blocks[1].mlp.up_proj.dtype(), DType::Q8_0);
    assert!(report.lines(QuantizeMode::Q8_0)[1].contains("not a multiple of 32"));
    assert_close_to_unquantized(&before, &after, spec.vocab as u32, REL_TOL);
    std::fs::remove_dir_all(dir).unwrap();
}

/// Qwen3-0.6B's exact layout (28 layers, tied 151936 × 1024 embedding, bf16):
/// 197 matrices, 1.19 GB of bf16 → 633 MB of Q8_0, logits within 8%.
#[test]
#[ignore = "needs a 1.2 GB folder from ../shared/bench/qwen3_06b_random.py in RFS_QWEN3_06B_RANDOM"]
fn qwen3_06b_shape_quantizes_197_matrices_to_about_half_of_bf16() {
    let dir = std::env::var_os("RFS_QWEN3_06B_RANDOM")
        .map(PathBuf::from)
        .expect("set RFS_QWEN3_06B_RANDOM to a folder made by qwen3_06b_random.py");
    let before = load_hf_model(&dir).unwrap();
    assert!(matrices(&before).iter().all(|w| w.dtype() == DType::BF16));
    let mut after = before.clone();
    let report = quantize_model(&mut after, QuantizeMode::Q8_0).unwrap();
    eprintln!("{}", report.lines(QuantizeMode::Q8_0).join("\n"));
    assert_eq!(report.quantized, 197);
    let params: u64 = 151_936 * 1024 + 28 * (2 * 2048 * 1024 + 2 * 1024 * 1024 + 3 * 3072 * 1024);
    assert_eq!(report.bytes_before, 2 * params);
    assert_eq!(report.bytes_after, params / 32 * 34);
    // Random weights through 28 layers amplify the rounding more than the tiny models'
    // 2 layers do (measured: 4.9–6.1% of the largest logit, the same argmax).
    assert_close_to_unquantized(&before, &after, 151_936, 0.08);
}
