//! Building a [`Model`] from stored tensors, whatever the file format.
//!
//! Tensors are asked for by their Hugging Face names (`model.layers.0.self_attn.q_proj.weight`);
//! a GGUF source translates them to llama.cpp's names (`blk.0.attn_q.weight`).
//! Every shape is checked against the config before the model is assembled.

use crate::config::ModelConfig;
use crate::linear::WeightMatrix;
use crate::model::{Attention, FeedForward, Model, TransformerBlock};
use crate::{Error, Result};

/// A store of named tensors (a GGUF file, safetensors files).
pub trait WeightSource {
    /// The file or folder, for error messages.
    fn location(&self) -> String;
    /// The shape of a tensor (outermost dimension first), if present.
    fn shape(&self, hf_name: &str) -> Option<Vec<usize>>;
    /// A 2-D weight, kept in its stored quantization where the kernels support it.
    fn matrix(&self, hf_name: &str, rows: usize, cols: usize) -> Result<WeightMatrix>;
    /// A 1-D tensor (norm weight, bias) as f32.
    fn vector(&self, hf_name: &str) -> Result<Vec<f32>>;
}

/// Assembles a model from `source`, checking each tensor's shape against `config`.
pub fn build_model(config: &ModelConfig, source: &dyn WeightSource) -> Result<Model> {
    let c = config;
    let q_dim = c.num_heads * c.head_dim;
    let kv_dim = c.num_kv_heads * c.head_dim;
    let loader = Loader { source };
    let embed_tokens = loader.matrix("model.embed_tokens.weight", c.vocab_size, c.hidden_size)?;
    let lm_head = if source.shape("lm_head.weight").is_some() && !c.tie_word_embeddings {
        Some(loader.matrix("lm_head.weight", c.vocab_size, c.hidden_size)?)
    } else {
        None
    };
    let mut blocks = Vec::with_capacity(c.num_layers);
    for i in 0..c.num_layers {
        let p = format!("model.layers.{i}");
        let bias = |name: &str, len| -> Result<Option<Vec<f32>>> {
            c.qkv_bias
                .then(|| loader.vector(&format!("{p}.self_attn.{name}.bias"), len))
                .transpose()
        };
        let qk_norm = |name: &str| -> Result<Option<Vec<f32>>> {
            c.qk_norm
                .then(|| loader.vector(&format!("{p}.self_attn.{name}.weight"), c.head_dim))
                .transpose()
        };
        let attention = Attention {
            q_proj: loader.matrix(
                &format!("{p}.self_attn.q_proj.weight"),
                q_dim,
                c.hidden_size,
            )?,
            k_proj: loader.matrix(
                &format!("{p}.self_attn.k_proj.weight"),
                kv_dim,
                c.hidden_size,
            )?,
            v_proj: loader.matrix(
                &format!("{p}.self_attn.v_proj.weight"),
                kv_dim,
                c.hidden_size,
            )?,
            o_proj: loader.matrix(
                &format!("{p}.self_attn.o_proj.weight"),
                c.hidden_size,
                q_dim,
            )?,
            q_bias: bias("q_proj", q_dim)?,
            k_bias: bias("k_proj", kv_dim)?,
            v_bias: bias("v_proj", kv_dim)?,
            q_norm: qk_norm("q_norm")?,
            k_norm: qk_norm("k_norm")?,
        };
        let mlp = FeedForward {
            gate_proj: loader.matrix(
                &format!("{p}.mlp.gate_proj.weight"),
                c.intermediate_size,
                c.hidden_size,
            )?,
            up_proj: loader.matrix(
                &format!("{p}.mlp.up_proj.weight"),
                c.intermediate_size,
                c.hidden_size,
            )?,
            down_proj: loader.matrix(
                &format!("{p}.mlp.down_proj.weight"),
                c.hidden_size,
                c.intermediate_size,
            )?,
        };
        blocks.push(TransformerBlock {
            input_norm: loader.vector(&format!("{p}.input_layernorm.weight"), c.hidden_size)?,
            attention,
            post_attention_norm: loader.vector(
                &format!("{p}.post_attention_layernorm.weight"),
                c.hidden_size,
            )?,
            mlp,
        });
    }
    let final_norm = loader.vector("model.norm.weight", c.hidden_size)?;
    Ok(Model::new(
        c.clone(),
        embed_tokens,
        blocks,
        final_norm,
        lm_head,
    ))
}

/// Shape-checking wrapper around a [`WeightSource`].
struct Loader<'a> {
    source: &'a dyn WeightSource,
}

impl Loader<'_> {
    fn check_shape(&self, name: &str, expected: &[usize]) -> Result<()> {
        match self.source.shape(name) {
            None => Err(Error::format(
                self.source.location(),
                format!("missing tensor `{name}`"),
            )),
            Some(shape) if shape != expected => Err(Error::format(
                self.source.location(),
                format!("tensor `{name}` has shape {shape:?}, the config implies {expected:?}"),
            )),
            Some(_) => Ok(()),
        }
    }

    fn matrix(&self, name: &str, rows: usize, cols: usize) -> Result<WeightMatrix> {
        self.check_shape(name, &[rows, cols])?;
        self.source.matrix(name, rows, cols)
    }

    fn vector(&self, name: &str, len: usize) -> Result<Vec<f32>> {
        self.check_shape(name, &[len])?;
        self.source.vector(name)
    }
}
