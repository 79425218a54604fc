//! Model hyperparameters: one [`ModelConfig`] for the three decoder families,
//! read from a Hugging Face `config.json` or from GGUF metadata.

use std::path::Path;

use serde_json::{json, Value};

use crate::io::GgufFile;
use crate::{Error, Result};

/// The decoder families we run. They share one architecture and differ in a few switches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Llama and SmolLM2: no biases, no QK-norm.
    Llama,
    /// Qwen2 / Qwen2.5: biases on the q, k and v projections.
    Qwen2,
    /// Qwen3 (the book's model): RMSNorm on each query and key head (QK-norm), no biases.
    Qwen3,
}

impl Family {
    /// Parses a Hugging Face `model_type` or GGUF `general.architecture` value.
    pub fn from_name(name: &str) -> Option<Family> {
        match name {
            "llama" => Some(Family::Llama),
            "qwen2" => Some(Family::Qwen2),
            "qwen3" => Some(Family::Qwen3),
            _ => None,
        }
    }

    /// The Hugging Face `model_type` of this family.
    pub fn name(self) -> &'static str {
        match self {
            Family::Llama => "llama",
            Family::Qwen2 => "qwen2",
            Family::Qwen3 => "qwen3",
        }
    }
}

/// The shape and switches of a decoder-only transformer.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    /// Which of the three decoder variants.
    pub family: Family,
    /// Number of tokens the embedding and output layers cover.
    pub vocab_size: usize,
    /// Width of the residual stream (`emb_dim` in the book).
    pub hidden_size: usize,
    /// Width of the SwiGLU MLP's hidden layer.
    pub intermediate_size: usize,
    /// Number of transformer blocks.
    pub num_layers: usize,
    /// Query heads per attention layer.
    pub num_heads: usize,
    /// Key/value heads; `num_heads / num_kv_heads` query heads share each (grouped-query attention).
    pub num_kv_heads: usize,
    /// Size of each attention head.
    pub head_dim: usize,
    /// RoPE base frequency θ.
    pub rope_theta: f32,
    /// The ε inside every RMSNorm.
    pub rms_norm_eps: f32,
    /// The longest sequence the model was trained for (its context length).
    pub max_position_embeddings: usize,
    /// Whether the output layer reuses the token embedding matrix.
    pub tie_word_embeddings: bool,
    /// Biases on the q, k, v projections (Qwen2).
    pub qkv_bias: bool,
    /// Per-head RMSNorm on queries and keys before RoPE (Qwen3).
    pub qk_norm: bool,
    /// End-of-sequence token ids from the config, if it names any.
    pub eos_token_ids: Vec<u32>,
}

impl ModelConfig {
    /// Reads a Hugging Face `config.json`.
    ///
    /// `rope_theta` may sit at the top level (the Hub's Qwen3 layout) or inside
    /// `rope_parameters` (newer transformers); scaled RoPE variants are rejected.
    pub fn from_hf_json(path: &Path) -> Result<ModelConfig> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let json: Value = serde_json::from_str(&text)
            .map_err(|e| Error::format(path, format!("not valid JSON: {e}")))?;
        parse_hf_config(&json).map_err(|msg| Error::format(path, msg))
    }
}

impl ModelConfig {
    /// Reads the hyperparameters from GGUF metadata (`{arch}.block_count`,
    /// `{arch}.embedding_length`, …). Embeddings are tied when the file has
    /// no `output.weight` tensor.
    pub fn from_gguf(file: &GgufFile) -> Result<ModelConfig> {
        let arch = file.get_str("general.architecture")?;
        let family = Family::from_name(arch).ok_or_else(|| {
            Error::format(
                file.path(),
                format!("unsupported architecture `{arch}` (supported: llama, qwen2, qwen3)"),
            )
        })?;
        let key = |name: &str| format!("{arch}.{name}");
        let hidden_size = file.get_usize(&key("embedding_length"))?;
        let num_heads = file.get_usize(&key("attention.head_count"))?;
        let vocab_size = match file.get(&key("vocab_size")) {
            Some(_) => file.get_usize(&key("vocab_size"))?,
            None => file.get_str_array("tokenizer.ggml.tokens")?.len(),
        };
        let head_dim = match file.get(&key("attention.key_length")) {
            Some(_) => file.get_usize(&key("attention.key_length"))?,
            None => hidden_size / num_heads.max(1),
        };
        let optional_f32 = |name: &str, default: f32| match file.get(&key(name)) {
            Some(_) => file.get_f32(&key(name)),
            None => Ok(default),
        };
        let config = ModelConfig {
            family,
            vocab_size,
            hidden_size,
            intermediate_size: file.get_usize(&key("feed_forward_length"))?,
            num_layers: file.get_usize(&key("block_count"))?,
            num_heads,
            num_kv_heads: match file.get(&key("attention.head_count_kv")) {
                Some(_) => file.get_usize(&key("attention.head_count_kv"))?,
                None => num_heads,
            },
            head_dim,
            rope_theta: optional_f32("rope.freq_base", 10_000.0)?,
            rms_norm_eps: optional_f32("attention.layer_norm_rms_epsilon", 1e-6)?,
            max_position_embeddings: file.get_usize(&key("context_length"))?,
            tie_word_embeddings: file.tensor_info("output.weight").is_none(),
            qkv_bias: file.tensor_info("blk.0.attn_q.bias").is_some(),
            qk_norm: family == Family::Qwen3,
            eos_token_ids: match file.get("tokenizer.ggml.eos_token_id") {
                Some(_) => vec![file.get_u32("tokenizer.ggml.eos_token_id")?],
                None => Vec::new(),
            },
        };
        config
            .validate()
            .map_err(|msg| Error::format(file.path(), msg))?;
        Ok(config)
    }
}

impl ModelConfig {
    /// This config as a Hugging Face `config.json` ([`ModelConfig::from_hf_json`] reads it
    /// back to an equal config): the family's `architectures` and `model_type`, every size,
    /// `rope_theta`, `rms_norm_eps`, `tie_word_embeddings`, `attention_bias` (the q/k/v
    /// biases; Qwen2 always has them), `eos_token_id` and `torch_dtype` `"float32"`.
    ///
    /// Qwen2 without biases, and QK-norm outside Qwen3, cannot be written: those switches
    /// follow from the family when the file is read.
    pub fn to_hf_json(&self) -> Value {
        let architecture = match self.family {
            Family::Llama => "LlamaForCausalLM",
            Family::Qwen2 => "Qwen2ForCausalLM",
            Family::Qwen3 => "Qwen3ForCausalLM",
        };
        let eos = match self.eos_token_ids.as_slice() {
            [] => Value::Null,
            [one] => json!(one),
            many => json!(many),
        };
        json!({
            "architectures": [architecture],
            "model_type": self.family.name(),
            "vocab_size": self.vocab_size,
            "hidden_size": self.hidden_size,
            "intermediate_size": self.intermediate_size,
            "num_hidden_layers": self.num_layers,
            "num_attention_heads": self.num_heads,
            "num_key_value_heads": self.num_kv_heads,
            "head_dim": self.head_dim,
            "hidden_act": "silu",
            "rope_theta": f32_to_json(self.rope_theta),
            "rms_norm_eps": f32_to_json(self.rms_norm_eps),
            "max_position_embeddings": self.max_position_embeddings,
            "tie_word_embeddings": self.tie_word_embeddings,
            "attention_bias": self.qkv_bias,
            "eos_token_id": eos,
            "torch_dtype": "float32",
            "use_cache": true,
        })
    }
}

/// An f32 as a JSON number that reads back (as f64, then rounded to f32) to the same
/// value: its shortest decimal form (`1e-6`, not `9.99999997e-7`) when that reads back
/// exactly, else the exact f64 of the f32.
fn f32_to_json(x: f32) -> Value {
    let short: f64 = x.to_string().parse().unwrap_or(f64::from(x));
    let value = if short as f32 == x {
        short
    } else {
        f64::from(x)
    };
    json!(value)
}

fn parse_hf_config(json: &Value) -> std::result::Result<ModelConfig, String> {
    let model_type = json["model_type"]
        .as_str()
        .ok_or("missing field `model_type`")?;
    let family = Family::from_name(model_type).ok_or_else(|| {
        format!("unsupported architecture `{model_type}` (supported: llama, qwen2, qwen3)")
    })?;
    let usize_field = |key: &str| -> std::result::Result<usize, String> {
        json[key]
            .as_u64()
            .map(|v| v as usize)
            .ok_or_else(|| format!("missing or non-integer field `{key}`"))
    };
    // An optional field is absent or null, or else of its type: never silently replaced.
    let optional = |key: &str| json.get(key).filter(|v| !v.is_null());
    let optional_usize = |key: &str| -> std::result::Result<Option<usize>, String> {
        optional(key)
            .map(|v| {
                v.as_u64()
                    .map(|v| v as usize)
                    .ok_or_else(|| format!("`{key}` is {v}, not a non-negative integer"))
            })
            .transpose()
    };
    let optional_bool = |key: &str| -> std::result::Result<Option<bool>, String> {
        optional(key)
            .map(|v| {
                v.as_bool()
                    .ok_or_else(|| format!("`{key}` is {v}, not true or false"))
            })
            .transpose()
    };
    let hidden_size = usize_field("hidden_size")?;
    let num_heads = usize_field("num_attention_heads")?;
    let num_kv_heads = optional_usize("num_key_value_heads")?.unwrap_or(num_heads);
    let head_dim = match optional_usize("head_dim")? {
        Some(v) => v,
        None if num_heads > 0 => hidden_size / num_heads,
        None => return Err("`num_attention_heads` is zero".into()),
    };
    let rms_norm_eps = match optional("rms_norm_eps") {
        Some(v) => v
            .as_f64()
            .ok_or_else(|| format!("`rms_norm_eps` is {v}, not a number"))?,
        None => 1e-6,
    };
    let rope = json.get("rope_parameters").or(json.get("rope_scaling"));
    if let Some(kind) = rope.and_then(|r| r["rope_type"].as_str()) {
        if kind != "default" {
            return Err(format!(
                "unsupported rope_type `{kind}` (only default RoPE)"
            ));
        }
    }
    let rope_theta = json["rope_theta"]
        .as_f64()
        .or_else(|| rope.and_then(|r| r["rope_theta"].as_f64()))
        .ok_or("missing `rope_theta` (top level or in `rope_parameters`)")?;
    let config = ModelConfig {
        family,
        vocab_size: usize_field("vocab_size")?,
        hidden_size,
        intermediate_size: usize_field("intermediate_size")?,
        num_layers: usize_field("num_hidden_layers")?,
        num_heads,
        num_kv_heads,
        head_dim,
        rope_theta: rope_theta as f32,
        rms_norm_eps: rms_norm_eps as f32,
        max_position_embeddings: usize_field("max_position_embeddings")?,
        tie_word_embeddings: optional_bool("tie_word_embeddings")?.unwrap_or(false),
        qkv_bias: family == Family::Qwen2 || optional_bool("attention_bias")?.unwrap_or(false),
        qk_norm: family == Family::Qwen3,
        eos_token_ids: token_ids(&json["eos_token_id"]),
    };
    config.validate()?;
    Ok(config)
}

/// `eos_token_id` may be a number, a list of numbers or null.
fn token_ids(v: &Value) -> Vec<u32> {
    match v {
        Value::Number(n) => n.as_u64().map(|i| i as u32).into_iter().collect(),
        Value::Array(items) => items
            .iter()
            .filter_map(|i| i.as_u64().map(|i| i as u32))
            .collect(),
        _ => Vec::new(),
    }
}

/// Upper bounds that keep a corrupt config from asking for absurd allocations.
const MAX_DIM: usize = 1 << 20;

impl ModelConfig {
    /// Checks the sizes are positive, consistent and not absurd, and `rope_theta` and
    /// `rms_norm_eps` positive and finite (anything else makes every logit NaN).
    pub fn validate(&self) -> std::result::Result<(), String> {
        for (name, v) in [
            ("rope_theta", self.rope_theta),
            ("rms_norm_eps", self.rms_norm_eps),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(format!("`{name}` = {v} must be a positive finite number"));
            }
        }
        let dims = [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("intermediate_size", self.intermediate_size),
            ("num_hidden_layers", self.num_layers),
            ("num_attention_heads", self.num_heads),
            ("num_key_value_heads", self.num_kv_heads),
            ("head_dim", self.head_dim),
            ("max_position_embeddings", self.max_position_embeddings),
        ];
        for (name, v) in dims {
            if v == 0 || v > MAX_DIM * 16 {
                return Err(format!("`{name}` = {v} is out of range"));
            }
        }
        if !self.num_heads.is_multiple_of(self.num_kv_heads) {
            return Err(format!(
                "num_attention_heads ({}) is not a multiple of num_key_value_heads ({})",
                self.num_heads, self.num_kv_heads
            ));
        }
        if !self.head_dim.is_multiple_of(2) {
            return Err(format!(
                "head_dim ({}) must be even for RoPE",
                self.head_dim
            ));
        }
        Ok(())
    }

    /// Query heads per key/value head (the GQA group size).
    pub fn group_size(&self) -> usize {
        self.num_heads / self.num_kv_heads
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Value {
        json!({
            "model_type": "qwen3", "vocab_size": 512, "hidden_size": 64,
            "intermediate_size": 160, "num_hidden_layers": 2, "num_attention_heads": 4,
            "num_key_value_heads": 2, "head_dim": 16, "max_position_embeddings": 256,
            "rms_norm_eps": 1e-6, "tie_word_embeddings": true, "rope_theta": 1e6
        })
    }

    #[test]
    fn rope_theta_top_level_or_nested() {
        let top = parse_hf_config(&base()).unwrap();
        let mut nested = base();
        nested.as_object_mut().unwrap().remove("rope_theta");
        nested["rope_parameters"] = json!({"rope_theta": 1e6, "rope_type": "default"});
        assert_eq!(parse_hf_config(&nested).unwrap(), top);
        assert_eq!(top.rope_theta, 1e6);
        assert!(top.qk_norm && !top.qkv_bias);
    }

    #[test]
    fn unsupported_architecture_is_named() {
        let mut c = base();
        c["model_type"] = json!("gpt_neox");
        let err = parse_hf_config(&c).unwrap_err();
        assert!(err.contains("gpt_neox"), "{err}");
    }

    #[test]
    fn missing_field_is_named() {
        let mut c = base();
        c.as_object_mut().unwrap().remove("hidden_size");
        assert!(parse_hf_config(&c).unwrap_err().contains("hidden_size"));
    }

    #[test]
    fn scaled_rope_is_rejected() {
        let mut c = base();
        c["rope_scaling"] = json!({"rope_type": "llama3", "factor": 8.0});
        assert!(parse_hf_config(&c).unwrap_err().contains("llama3"));
    }

    #[test]
    fn nonsense_numbers_and_mistyped_fields_are_refused_by_name() {
        for (key, value, says) in [
            ("rope_theta", json!(0.0), "`rope_theta` = 0"),
            ("rope_theta", json!(-1e4), "`rope_theta` = -10000"),
            ("rope_theta", json!(1e39), "`rope_theta` = inf"),
            ("rms_norm_eps", json!(-1e-6), "`rms_norm_eps` = -0.000001"),
            ("rms_norm_eps", json!("1e-6"), "`rms_norm_eps` is \"1e-6\""),
            ("head_dim", json!(16.5), "`head_dim` is 16.5"),
            (
                "num_key_value_heads",
                json!("2"),
                "`num_key_value_heads` is \"2\"",
            ),
            (
                "attention_bias",
                json!("yes"),
                "`attention_bias` is \"yes\"",
            ),
            (
                "tie_word_embeddings",
                json!(1),
                "`tie_word_embeddings` is 1",
            ),
        ] {
            let mut c = base();
            c[key] = value;
            let err = parse_hf_config(&c).unwrap_err();
            assert!(err.contains(says), "{key}: {err}");
        }
        let mut c = base();
        c["attention_bias"] = Value::Null;
        assert!(parse_hf_config(&c).is_ok(), "null means absent");
        // A GGUF can store NaN, which JSON cannot.
        let mut config = parse_hf_config(&base()).unwrap();
        config.rms_norm_eps = f32::NAN;
        assert!(config
            .validate()
            .unwrap_err()
            .contains("`rms_norm_eps` = NaN"));
    }

    #[test]
    fn head_dim_defaults_to_hidden_over_heads() {
        let mut c = base();
        c.as_object_mut().unwrap().remove("head_dim");
        assert_eq!(parse_hf_config(&c).unwrap().head_dim, 16);
    }

    /// `to_hf_json` then the parser gives back `config`, bit for bit in the f32 fields.
    fn assert_round_trip(config: &ModelConfig) {
        let back = parse_hf_config(&config.to_hf_json()).unwrap();
        assert_eq!(&back, config);
        assert_eq!(back.rope_theta.to_bits(), config.rope_theta.to_bits());
        assert_eq!(back.rms_norm_eps.to_bits(), config.rms_norm_eps.to_bits());
    }

    #[test]
    fn hf_json_round_trips_every_fixture_config() {
        for name in [
            "qwen3-tiny",
            "qwen3-tiny-untied",
            "qwen2-tiny",
            "llama-tiny",
        ] {
            let Some(path) = crate::fixtures::fixture(&format!("tiny/{name}/config.json")) else {
                return;
            };
            assert_round_trip(&ModelConfig::from_hf_json(&path).unwrap());
        }
    }

    #[test]
    fn hf_json_round_trips_switches_eos_lists_and_awkward_floats() {
        let mut config = parse_hf_config(&base()).unwrap();
        for (theta, eps) in [
            (1e6, 1e-6),
            (10_000.0, 1e-5),
            (500_000.0, 9.9e-6),
            (0.1, 1e-45),
        ] {
            config.rope_theta = theta;
            config.rms_norm_eps = eps;
            assert_round_trip(&config);
        }
        for ids in [vec![], vec![7], vec![7, 9, 11]] {
            config.eos_token_ids = ids;
            assert_round_trip(&config);
        }
        config.family = Family::Llama;
        config.qk_norm = false;
        config.qkv_bias = true;
        config.tie_word_embeddings = false;
        assert_round_trip(&config);
        assert_eq!(
            config.to_hf_json()["architectures"],
            json!(["LlamaForCausalLM"])
        );
    }

    #[test]
    fn hf_json_round_trips_every_f32_exponent() {
        for bits in (0..=255u32).map(|e| (e << 23) | 0x0012_3457) {
            let x = f32::from_bits(bits);
            if x.is_finite() {
                let back = f32_to_json(x).as_f64().unwrap() as f32;
                assert_eq!(back.to_bits(), bits, "{x:e}");
            }
        }
        assert_eq!(f32_to_json(1e-6), json!(1e-6));
    }

    #[test]
    fn hf_json_round_trips_the_default_models_gguf_config() {
        let Some(files) = crate::fixtures::default_model() else {
            return;
        };
        let crate::models::ModelFiles::Gguf(path) = files else {
            panic!("the default model resolved to {files:?}, not a GGUF");
        };
        let file = GgufFile::open(&path).unwrap();
        assert_round_trip(&ModelConfig::from_gguf(&file).unwrap());
    }
}
