//! Building a [`Model`] from stored tensors, whatever the file format.
//!
//! Tensors are asked for by their Hugging Face names (`model.layers.0.self_attn.q_proj.weight`);
//! a GGUF source translates them to llama.cpp's names (`blk.0.attn_q.weight`).
//! Every shape is checked against the config before the model is assembled.

use std::cell::RefCell;

use crate::config::{Family, ModelConfig};
use crate::io::{dequantize_to_vec, DType, GgufFile, GgufTensorInfo, SafetensorsModel};
use crate::kernels::QFormat;
use crate::linear::WeightMatrix;
use crate::model::{Attention, FeedForward, Model, TransformerBlock};
use crate::{Error, Result};

/// Checks, before anything is allocated for them, that the config's layer count is the
/// file's and that the file holds no tensor the config's family would silently ignore
/// (QK-norm weights or q/k/v biases under a `model_type` without them).
fn check_layout(c: &ModelConfig, source: &dyn WeightSource) -> Result<()> {
    let norm = |layer: usize| format!("model.layers.{layer}.input_layernorm.weight");
    let error = |msg: String| Err(Error::format(source.location(), msg));
    if source
        .shape(&norm(c.num_layers.saturating_sub(1)))
        .is_none()
    {
        return error(format!(
            "the config says {} layers, but there is no `{}`",
            c.num_layers,
            norm(c.num_layers.saturating_sub(1))
        ));
    }
    if source.shape(&norm(c.num_layers)).is_some() {
        return error(format!(
            "the config says {} layers, but the file has more (`{}`)",
            c.num_layers,
            norm(c.num_layers)
        ));
    }
    let unused = |present: bool, name: &str, what: &str| match present {
        false
            if source
                .shape(&format!("model.layers.0.self_attn.{name}"))
                .is_some() =>
        {
            error(format!(
                "the file has `model.layers.0.self_attn.{name}` ({what}), which the config's \
                 family {:?} does not use; is `model_type` right?",
                c.family
            ))
        }
        _ => Ok(()),
    };
    unused(c.qk_norm, "q_norm.weight", "QK-norm, as in Qwen3")?;
    unused(c.qkv_bias, "q_proj.bias", "a q/k/v bias, as in Qwen2")
}

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
    check_layout(config, source)?;
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

/// Tensors of a Hugging Face folder (`*.safetensors`), converted to f32.
impl WeightSource for SafetensorsModel {
    fn location(&self) -> String {
        self.dir().display().to_string()
    }

    fn shape(&self, hf_name: &str) -> Option<Vec<usize>> {
        SafetensorsModel::shape(self, hf_name).map(<[usize]>::to_vec)
    }

    /// bf16 tensors stay bf16 (half the memory of f32); F32 and F16 become f32. The
    /// file's pages are released once copied, so loading never holds the model twice.
    fn matrix(&self, hf_name: &str, rows: usize, cols: usize) -> Result<WeightMatrix> {
        let matrix = if self.dtype(hf_name) == Some(DType::BF16) {
            let bits = self
                .tensor_bytes(hf_name)?
                .chunks_exact(2)
                .map(|b| u16::from_le_bytes([b[0], b[1]]))
                .collect();
            WeightMatrix::from_bf16(rows, cols, bits)
        } else {
            WeightMatrix::from_f32(rows, cols, self.tensor_f32(hf_name)?)
        };
        self.release_tensor(hf_name);
        matrix
    }

    fn vector(&self, hf_name: &str) -> Result<Vec<f32>> {
        self.tensor_f32(hf_name)
    }
}

/// Tensors of a GGUF file, asked for by Hugging Face names.
///
/// Matrices in a block format the kernels multiply from ([`QFormat`]) stay quantized;
/// BF16 stays bf16; F32 and F16 become f32; the rarer block types (IQ1–IQ3, TQ1_0,
/// TQ2_0, MXFP4) are expanded to bf16 once, with a one-line note on stderr per type.
/// llama.cpp's converter permutes the rows of Llama's q/k projections so that RoPE
/// rotates adjacent pairs; we undo that here so the model always rotates halves, as
/// Hugging Face does.
pub struct GgufWeights<'a> {
    file: &'a GgufFile,
    config: &'a ModelConfig,
    /// The types already announced as expanded to bf16.
    expanded: RefCell<Vec<DType>>,
}

impl<'a> GgufWeights<'a> {
    /// A weight source over `file` for a model of shape `config`.
    pub fn new(file: &'a GgufFile, config: &'a ModelConfig) -> Self {
        GgufWeights {
            file,
            config,
            expanded: RefCell::new(Vec::new()),
        }
    }

    fn info(&self, hf_name: &str) -> Result<&GgufTensorInfo> {
        let name = gguf_tensor_name(hf_name).ok_or_else(|| {
            Error::format(
                self.file.path(),
                format!("no GGUF name for tensor `{hf_name}`"),
            )
        })?;
        self.file.tensor_info(&name).ok_or_else(|| {
            Error::format(
                self.file.path(),
                format!("missing tensor `{name}` ({hf_name})"),
            )
        })
    }

    /// Heads whose rows llama.cpp permuted for this tensor, if any.
    fn permuted_heads(&self, hf_name: &str) -> Option<usize> {
        if self.config.family != Family::Llama {
            return None;
        }
        if hf_name.ends_with("self_attn.q_proj.weight") {
            Some(self.config.num_heads)
        } else if hf_name.ends_with("self_attn.k_proj.weight") {
            Some(self.config.num_kv_heads)
        } else {
            None
        }
    }

    /// Says once per type on stderr that tensors of `dtype` are expanded to bf16.
    fn note_expanded(&self, name: &str, dtype: DType) {
        let mut seen = self.expanded.borrow_mut();
        if !seen.contains(&dtype) {
            seen.push(dtype);
            eprintln!(
                "note: {name} (and any other {} tensor) has no native kernel: expanded to bf16 at load",
                dtype.name()
            );
        }
    }
}

impl WeightSource for GgufWeights<'_> {
    fn location(&self) -> String {
        self.file.path().display().to_string()
    }

    fn shape(&self, hf_name: &str) -> Option<Vec<usize>> {
        self.info(hf_name).ok().map(GgufTensorInfo::shape)
    }

    fn matrix(&self, hf_name: &str, rows: usize, cols: usize) -> Result<WeightMatrix> {
        let info = self.info(hf_name)?;
        let mut bytes = self.file.tensor_bytes(&info.name)?.to_vec();
        // Copied: the file's pages can go, so loading never holds the model twice.
        self.file.release_tensor(&info.name);
        if let Some(heads) = self.permuted_heads(hf_name) {
            bytes = unpermute_rope_rows(&bytes, rows, heads);
        }
        let dtype = info.dtype;
        match dtype {
            _ if QFormat::from_dtype(dtype).is_some() => {
                WeightMatrix::from_blocks(dtype, rows, cols, bytes)
            }
            DType::BF16 => {
                let bits = bytes
                    .chunks_exact(2)
                    .map(|b| u16::from_le_bytes([b[0], b[1]]));
                WeightMatrix::from_bf16(rows, cols, bits.collect())
            }
            DType::F32 | DType::F16 => {
                WeightMatrix::from_f32(rows, cols, dequantize_to_vec(dtype, &bytes, rows * cols)?)
            }
            _ => {
                self.note_expanded(&info.name, dtype);
                let values = dequantize_to_vec(dtype, &bytes, rows * cols)?;
                let bits = values.iter().map(|&v| half::bf16::from_f32(v).to_bits());
                WeightMatrix::from_bf16(rows, cols, bits.collect())
            }
        }
    }

    fn vector(&self, hf_name: &str) -> Result<Vec<f32>> {
        let info = self.info(hf_name)?;
        self.file.tensor_f32(&info.name)
    }
}

/// llama.cpp's tensor name for a Hugging Face one.
fn gguf_tensor_name(hf_name: &str) -> Option<String> {
    let fixed = match hf_name {
        "model.embed_tokens.weight" => Some("token_embd.weight"),
        "model.norm.weight" => Some("output_norm.weight"),
        "lm_head.weight" => Some("output.weight"),
        _ => None,
    };
    if let Some(name) = fixed {
        return Some(name.to_string());
    }
    let rest = hf_name.strip_prefix("model.layers.")?;
    let (layer, part) = rest.split_once('.')?;
    let (module, kind) = part.rsplit_once('.')?;
    let gguf_module = match module {
        "input_layernorm" => "attn_norm",
        "self_attn.q_proj" => "attn_q",
        "self_attn.k_proj" => "attn_k",
        "self_attn.v_proj" => "attn_v",
        "self_attn.o_proj" => "attn_output",
        "self_attn.q_norm" => "attn_q_norm",
        "self_attn.k_norm" => "attn_k_norm",
        "post_attention_layernorm" => "ffn_norm",
        "mlp.gate_proj" => "ffn_gate",
        "mlp.up_proj" => "ffn_up",
        "mlp.down_proj" => "ffn_down",
        _ => return None,
    };
    Some(format!("blk.{layer}.{gguf_module}.{kind}"))
}

/// Undoes llama.cpp's q/k row permutation: within each head, GGUF row `2i + j`
/// holds Hugging Face row `j · head_dim/2 + i` (j ∈ {0, 1}). Rows are whole
/// blocks in every GGML type, so the permutation works on raw bytes.
fn unpermute_rope_rows(bytes: &[u8], rows: usize, heads: usize) -> Vec<u8> {
    let row_bytes = bytes.len() / rows;
    let head_dim = rows / heads;
    let half = head_dim / 2;
    let mut out = vec![0u8; bytes.len()];
    for head in 0..heads {
        for i in 0..half {
            for j in 0..2 {
                let src = head * head_dim + 2 * i + j;
                let dst = head * head_dim + j * half + i;
                out[dst * row_bytes..(dst + 1) * row_bytes]
                    .copy_from_slice(&bytes[src * row_bytes..(src + 1) * row_bytes]);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gguf_names() {
        assert_eq!(
            gguf_tensor_name("model.embed_tokens.weight").unwrap(),
            "token_embd.weight"
        );
        assert_eq!(
            gguf_tensor_name("model.layers.12.self_attn.q_proj.bias").unwrap(),
            "blk.12.attn_q.bias"
        );
        assert_eq!(
            gguf_tensor_name("model.layers.0.post_attention_layernorm.weight").unwrap(),
            "blk.0.ffn_norm.weight"
        );
        assert!(gguf_tensor_name("model.layers.0.unknown.weight").is_none());
    }

    #[test]
    fn unpermute_inverts_llama_cpp_permutation() {
        // One head of 4 rows (1 byte each): HF rows [a b | c d] become GGUF [a c b d].
        assert_eq!(unpermute_rope_rows(&[0, 2, 1, 3], 4, 1), vec![0, 1, 2, 3]);
        // Two heads, two bytes a row.
        let gguf = [0, 0, 2, 2, 1, 1, 3, 3, 4, 4, 6, 6, 5, 5, 7, 7];
        let hf: Vec<u8> = (0..8).flat_map(|r| [r, r]).collect();
        assert_eq!(unpermute_rope_rows(&gguf, 8, 2), hf);
    }
}
