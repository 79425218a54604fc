//! Every trainable parameter as a plain f32 array, named as Hugging Face names it.
//!
//! [`Params`] is the training copy of a [`Model`]'s weights (quantized or bf16
//! weights are dequantized once); [`Grads`] holds one gradient of the same shape
//! per parameter. Both wrap a [`Tensors`], whose [`Tensors::named`] lists every
//! array with its Hugging Face name in `named_parameters()` order, so gradients
//! can be compared with PyTorch's one by one (book ch. 6, where the model is trained).

use ndarray::{Array1, Array2, ArrayViewD, ArrayViewMutD, Ix2};

use crate::config::ModelConfig;
use crate::linear::WeightMatrix;
use crate::model::{Model, TransformerBlock};
use crate::quantize::{q8_0_from_rows, Q8_0_BLOCK};
use crate::weights::{build_model, WeightSource};
use crate::{Error, Result};

/// The arrays of one transformer block.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerTensors {
    /// `input_layernorm.weight`: RMSNorm before attention (`hidden_size`).
    pub input_norm: Array1<f32>,
    /// `self_attn.q_proj.weight`: `num_heads·head_dim × hidden_size`.
    pub q_proj: Array2<f32>,
    /// `self_attn.q_proj.bias` (Qwen2).
    pub q_bias: Option<Array1<f32>>,
    /// `self_attn.k_proj.weight`: `num_kv_heads·head_dim × hidden_size`.
    pub k_proj: Array2<f32>,
    /// `self_attn.k_proj.bias` (Qwen2).
    pub k_bias: Option<Array1<f32>>,
    /// `self_attn.v_proj.weight`: `num_kv_heads·head_dim × hidden_size`.
    pub v_proj: Array2<f32>,
    /// `self_attn.v_proj.bias` (Qwen2).
    pub v_bias: Option<Array1<f32>>,
    /// `self_attn.o_proj.weight`: `hidden_size × num_heads·head_dim`.
    pub o_proj: Array2<f32>,
    /// `self_attn.q_norm.weight`: Qwen3's per-head RMSNorm on queries (`head_dim`).
    pub q_norm: Option<Array1<f32>>,
    /// `self_attn.k_norm.weight`: Qwen3's per-head RMSNorm on keys (`head_dim`).
    pub k_norm: Option<Array1<f32>>,
    /// `post_attention_layernorm.weight`: RMSNorm before the MLP (`hidden_size`).
    pub post_attention_norm: Array1<f32>,
    /// `mlp.gate_proj.weight`: `intermediate_size × hidden_size`.
    pub gate_proj: Array2<f32>,
    /// `mlp.up_proj.weight`: `intermediate_size × hidden_size`.
    pub up_proj: Array2<f32>,
    /// `mlp.down_proj.weight`: `hidden_size × intermediate_size`.
    pub down_proj: Array2<f32>,
}

/// Every array of a decoder: embedding, blocks, final norm, untied output layer.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensors {
    /// `model.embed_tokens.weight`: `vocab_size × hidden_size` (also the output layer when tied).
    pub embed_tokens: Array2<f32>,
    /// `model.layers.{i}.*`, first block first.
    pub layers: Vec<LayerTensors>,
    /// `model.norm.weight`: the RMSNorm after the last block.
    pub norm: Array1<f32>,
    /// `lm_head.weight`, or `None` when tied to the embedding.
    pub lm_head: Option<Array2<f32>>,
}

/// The training copy of a model's parameters, with the config that shapes them.
#[derive(Debug, Clone)]
pub struct Params {
    /// Shape and switches (family, heads, ε, RoPE θ, …).
    pub config: ModelConfig,
    /// The arrays.
    pub tensors: Tensors,
}

/// One gradient per parameter, shaped like [`Params::tensors`].
#[derive(Debug, Clone, PartialEq)]
pub struct Grads {
    /// The gradient arrays (same names and shapes as the parameters).
    pub tensors: Tensors,
}

impl Params {
    /// Copies (dequantizing where needed) every weight of `model` into f32 arrays.
    pub fn from_model(model: &Model) -> Params {
        let vector = |v: &[f32]| Array1::from(v.to_vec());
        let layer = |b: &TransformerBlock| {
            let a = &b.attention;
            LayerTensors {
                input_norm: vector(&b.input_norm),
                q_proj: a.q_proj.to_f32(),
                q_bias: a.q_bias.as_deref().map(vector),
                k_proj: a.k_proj.to_f32(),
                k_bias: a.k_bias.as_deref().map(vector),
                v_proj: a.v_proj.to_f32(),
                v_bias: a.v_bias.as_deref().map(vector),
                o_proj: a.o_proj.to_f32(),
                q_norm: a.q_norm.as_deref().map(vector),
                k_norm: a.k_norm.as_deref().map(vector),
                post_attention_norm: vector(&b.post_attention_norm),
                gate_proj: b.mlp.gate_proj.to_f32(),
                up_proj: b.mlp.up_proj.to_f32(),
                down_proj: b.mlp.down_proj.to_f32(),
            }
        };
        Params {
            config: model.config.clone(),
            tensors: Tensors {
                embed_tokens: model.embed_tokens.to_f32(),
                layers: model.blocks.iter().map(layer).collect(),
                norm: vector(&model.final_norm),
                lm_head: model.lm_head.as_ref().map(|w| w.to_f32()),
            },
        }
    }

    /// The output layer: `lm_head`, or the embedding matrix when tied.
    pub fn output_layer(&self) -> &Array2<f32> {
        let t = &self.tensors;
        t.lm_head.as_ref().unwrap_or(&t.embed_tokens)
    }

    /// An inference [`Model`] holding exactly these parameters, as f32 weight matrices.
    /// Every shape is checked against the config as when loading a file; an `lm_head`
    /// beside a config that ties the embeddings is an error (it would be ignored).
    pub fn to_model(&self) -> Result<Model> {
        self.check_output_layer()?;
        build_model(&self.config, &self.tensors)
    }

    /// [`Params::to_model`] with the weight matrices quantized to Q8_0 (those whose
    /// rows fill whole 32-value blocks; norms and biases stay f32): about 3.8×
    /// less memory than f32 and decoding at the quantized kernels' speed, for
    /// sampling from a model in training (ch05's rollouts). The quantization
    /// error is at most half a step of each block's scale, `max|w| / 254`.
    /// Each matrix goes through [`q8_0_from_rows`], the conversion `--quantize q8_0`
    /// uses, straight from these arrays (no f32 copy of the model in between).
    pub fn to_model_q8_0(&self) -> Result<Model> {
        self.check_output_layer()?;
        build_model(&self.config, &Q8Weights(&self.tensors))
    }

    /// Fails when the config ties the output layer to the embedding but there is an `lm_head`.
    pub(crate) fn check_output_layer(&self) -> Result<()> {
        if self.config.tie_word_embeddings && self.tensors.lm_head.is_some() {
            return Err(Error::InvalidArgument(
                "the parameters hold a separate lm_head.weight, but the config ties the output \
                 layer to the embedding (tie_word_embeddings)"
                    .into(),
            ));
        }
        Ok(())
    }
}

impl Grads {
    /// All-zero gradients shaped like `params`.
    pub fn zeros_like(params: &Params) -> Grads {
        Grads {
            tensors: params.tensors.zeros_like(),
        }
    }

    /// The gradient of the output layer: `lm_head`'s, or the embedding's when tied
    /// (the two uses of a tied matrix add their gradients).
    pub fn output_layer_mut(&mut self) -> &mut Array2<f32> {
        let t = &mut self.tensors;
        t.lm_head.as_mut().unwrap_or(&mut t.embed_tokens)
    }
}

impl LayerTensors {
    fn zeros_like(&self) -> LayerTensors {
        let z1 = |a: &Array1<f32>| Array1::zeros(a.raw_dim());
        let z2 = |a: &Array2<f32>| Array2::zeros(a.raw_dim());
        LayerTensors {
            input_norm: z1(&self.input_norm),
            q_proj: z2(&self.q_proj),
            q_bias: self.q_bias.as_ref().map(z1),
            k_proj: z2(&self.k_proj),
            k_bias: self.k_bias.as_ref().map(z1),
            v_proj: z2(&self.v_proj),
            v_bias: self.v_bias.as_ref().map(z1),
            o_proj: z2(&self.o_proj),
            q_norm: self.q_norm.as_ref().map(z1),
            k_norm: self.k_norm.as_ref().map(z1),
            post_attention_norm: z1(&self.post_attention_norm),
            gate_proj: z2(&self.gate_proj),
            up_proj: z2(&self.up_proj),
            down_proj: z2(&self.down_proj),
        }
    }

    /// `(suffix, array)` pairs in PyTorch's `named_parameters()` order.
    fn named(&self) -> Vec<(&'static str, ArrayViewD<'_, f32>)> {
        let mut out = vec![("self_attn.q_proj.weight", self.q_proj.view().into_dyn())];
        out.extend(
            self.q_bias
                .iter()
                .map(|b| ("self_attn.q_proj.bias", b.view().into_dyn())),
        );
        out.push(("self_attn.k_proj.weight", self.k_proj.view().into_dyn()));
        out.extend(
            self.k_bias
                .iter()
                .map(|b| ("self_attn.k_proj.bias", b.view().into_dyn())),
        );
        out.push(("self_attn.v_proj.weight", self.v_proj.view().into_dyn()));
        out.extend(
            self.v_bias
                .iter()
                .map(|b| ("self_attn.v_proj.bias", b.view().into_dyn())),
        );
        out.push(("self_attn.o_proj.weight", self.o_proj.view().into_dyn()));
        out.extend(
            self.q_norm
                .iter()
                .map(|w| ("self_attn.q_norm.weight", w.view().into_dyn())),
        );
        out.extend(
            self.k_norm
                .iter()
                .map(|w| ("self_attn.k_norm.weight", w.view().into_dyn())),
        );
        out.push(("mlp.gate_proj.weight", self.gate_proj.view().into_dyn()));
        out.push(("mlp.up_proj.weight", self.up_proj.view().into_dyn()));
        out.push(("mlp.down_proj.weight", self.down_proj.view().into_dyn()));
        out.push(("input_layernorm.weight", self.input_norm.view().into_dyn()));
        out.push((
            "post_attention_layernorm.weight",
            self.post_attention_norm.view().into_dyn(),
        ));
        out
    }

    /// Mutable `(suffix, array)` pairs, in the same order as [`LayerTensors::named`].
    fn named_mut(&mut self) -> Vec<(&'static str, ArrayViewMutD<'_, f32>)> {
        let mut out = vec![("self_attn.q_proj.weight", self.q_proj.view_mut().into_dyn())];
        out.extend(
            self.q_bias
                .iter_mut()
                .map(|b| ("self_attn.q_proj.bias", b.view_mut().into_dyn())),
        );
        out.push(("self_attn.k_proj.weight", self.k_proj.view_mut().into_dyn()));
        out.extend(
            self.k_bias
                .iter_mut()
                .map(|b| ("self_attn.k_proj.bias", b.view_mut().into_dyn())),
        );
        out.push(("self_attn.v_proj.weight", self.v_proj.view_mut().into_dyn()));
        out.extend(
            self.v_bias
                .iter_mut()
                .map(|b| ("self_attn.v_proj.bias", b.view_mut().into_dyn())),
        );
        out.push(("self_attn.o_proj.weight", self.o_proj.view_mut().into_dyn()));
        out.extend(
            self.q_norm
                .iter_mut()
                .map(|w| ("self_attn.q_norm.weight", w.view_mut().into_dyn())),
        );
        out.extend(
            self.k_norm
                .iter_mut()
                .map(|w| ("self_attn.k_norm.weight", w.view_mut().into_dyn())),
        );
        out.push(("mlp.gate_proj.weight", self.gate_proj.view_mut().into_dyn()));
        out.push(("mlp.up_proj.weight", self.up_proj.view_mut().into_dyn()));
        out.push(("mlp.down_proj.weight", self.down_proj.view_mut().into_dyn()));
        out.push((
            "input_layernorm.weight",
            self.input_norm.view_mut().into_dyn(),
        ));
        out.push((
            "post_attention_layernorm.weight",
            self.post_attention_norm.view_mut().into_dyn(),
        ));
        out
    }
}

impl Tensors {
    /// All-zero arrays of the same shapes (and the same optional parts).
    pub fn zeros_like(&self) -> Tensors {
        Tensors {
            embed_tokens: Array2::zeros(self.embed_tokens.raw_dim()),
            layers: self.layers.iter().map(LayerTensors::zeros_like).collect(),
            norm: Array1::zeros(self.norm.raw_dim()),
            lm_head: self.lm_head.as_ref().map(|w| Array2::zeros(w.raw_dim())),
        }
    }

    /// Every array with its Hugging Face name, in PyTorch's `named_parameters()`
    /// order: embedding, each block, final norm, untied `lm_head.weight`.
    pub fn named(&self) -> Vec<(String, ArrayViewD<'_, f32>)> {
        let mut out = vec![(
            "model.embed_tokens.weight".to_string(),
            self.embed_tokens.view().into_dyn(),
        )];
        for (i, layer) in self.layers.iter().enumerate() {
            out.extend(
                layer
                    .named()
                    .into_iter()
                    .map(|(name, a)| (format!("model.layers.{i}.{name}"), a)),
            );
        }
        out.push(("model.norm.weight".to_string(), self.norm.view().into_dyn()));
        if let Some(w) = &self.lm_head {
            out.push(("lm_head.weight".to_string(), w.view().into_dyn()));
        }
        out
    }

    /// Every array, mutable, in the order and with the names of [`Tensors::named`]
    /// (what an optimizer step or a finite-difference check walks).
    pub fn named_mut(&mut self) -> Vec<(String, ArrayViewMutD<'_, f32>)> {
        let mut out = vec![(
            "model.embed_tokens.weight".to_string(),
            self.embed_tokens.view_mut().into_dyn(),
        )];
        for (i, layer) in self.layers.iter_mut().enumerate() {
            out.extend(
                layer
                    .named_mut()
                    .into_iter()
                    .map(|(name, a)| (format!("model.layers.{i}.{name}"), a)),
            );
        }
        out.push((
            "model.norm.weight".to_string(),
            self.norm.view_mut().into_dyn(),
        ));
        if let Some(w) = &mut self.lm_head {
            out.push(("lm_head.weight".to_string(), w.view_mut().into_dyn()));
        }
        out
    }

    /// The array called `name` (a Hugging Face name), if there is one.
    pub fn get(&self, name: &str) -> Option<ArrayViewD<'_, f32>> {
        self.named()
            .into_iter()
            .find_map(|(n, a)| (n == name).then_some(a))
    }

    /// The array called `name`, mutable, if there is one.
    pub fn get_mut(&mut self, name: &str) -> Option<ArrayViewMutD<'_, f32>> {
        self.named_mut()
            .into_iter()
            .find_map(|(n, a)| (n == name).then_some(a))
    }

    /// How many scalars all the arrays hold together.
    pub fn num_scalars(&self) -> usize {
        self.named().iter().map(|(_, a)| a.len()).sum()
    }

    /// The values of array `name`, row-major.
    fn values(&self, name: &str) -> Result<Vec<f32>> {
        let array = self.get(name).ok_or_else(|| {
            Error::InvalidArgument(format!("the parameters have no array named `{name}`"))
        })?;
        Ok(match array.as_slice() {
            Some(values) => values.to_vec(),
            None => array.iter().copied().collect(),
        })
    }
}

/// The arrays as a weight source, so [`build_model`] checks and assembles them.
impl WeightSource for Tensors {
    fn location(&self) -> String {
        "the training parameters".into()
    }

    fn shape(&self, hf_name: &str) -> Option<Vec<usize>> {
        self.get(hf_name).map(|a| a.shape().to_vec())
    }

    fn matrix(&self, hf_name: &str, rows: usize, cols: usize) -> Result<WeightMatrix> {
        WeightMatrix::from_f32(rows, cols, self.values(hf_name)?)
    }

    fn vector(&self, hf_name: &str) -> Result<Vec<f32>> {
        self.values(hf_name)
    }
}

/// The arrays as a weight source whose matrices are quantized to Q8_0 on the way.
struct Q8Weights<'a>(&'a Tensors);

impl WeightSource for Q8Weights<'_> {
    fn location(&self) -> String {
        self.0.location()
    }

    fn shape(&self, hf_name: &str) -> Option<Vec<usize>> {
        self.0.shape(hf_name)
    }

    fn matrix(&self, hf_name: &str, rows: usize, cols: usize) -> Result<WeightMatrix> {
        if !cols.is_multiple_of(Q8_0_BLOCK) {
            return self.0.matrix(hf_name, rows, cols);
        }
        let array = self
            .0
            .get(hf_name)
            .and_then(|a| a.into_dimensionality::<Ix2>().ok())
            .filter(|a| a.dim() == (rows, cols))
            .ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "the parameters have no {rows}×{cols} array named `{hf_name}`"
                ))
            })?;
        q8_0_from_rows(rows, cols, |r, out| {
            out.iter_mut().zip(array.row(r)).for_each(|(o, &x)| *o = x)
        })
    }

    fn vector(&self, hf_name: &str) -> Result<Vec<f32>> {
        self.0.values(hf_name)
    }
}
