//! Looking inside a model file (`ch02 inspect`): what a GGUF file or a Hugging Face
//! safetensors folder holds — its metadata, every tensor's name, storage type and
//! shape — and one tensor's values dequantized to f32.
//!
//! The book loads its weights with PyTorch and never looks at the bytes; here a reader
//! sees what `shared::io` reads before the loader maps it onto the model: GGUF's
//! metadata keys (architecture, hyperparameters, the tokenizer's vocabulary), ggml
//! block types such as `Q4_1`, and shapes.
//!
//! Shapes are outermost dimension first (`[rows, cols]`, the Hugging Face orientation;
//! GGUF stores its dims the other way round), and a tensor's values come out flattened
//! row-major in that order, exactly as stored: no Llama q/k row un-permutation
//! (`shared::weights` does that when loading).

mod text;

pub use text::{format_summary, format_tensor};

use std::path::{Path, PathBuf};

use serde::{Serialize, Serializer};
use serde_json::{json, Map, Number, Value};
use shared::io::{dequantize_to_vec, DType, GgufFile, GgufValue, SafetensorsModel};
use shared::models::ModelFiles;
use shared::{Error, Result};

/// In `--json` metadata, arrays longer than this are abbreviated to
/// `{"array_len": N, "first": [the first JSON_ARRAY_ITEMS items]}` (unless `--full-metadata`).
pub const JSON_ARRAY_ITEMS: usize = 64;

/// How many close names an unknown `--tensor` error suggests.
const SUGGESTIONS: usize = 5;

/// One tensor as the file stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TensorEntry {
    /// The file's own name: `blk.0.attn_q.weight` (GGUF), `model.layers.0.self_attn.q_proj.weight`
    /// (safetensors).
    pub name: String,
    /// Storage type; serialized as ggml's name (`"Q4_K"`, `"F32"`, `"BF16"`, …).
    #[serde(rename = "type", serialize_with = "dtype_name")]
    pub dtype: DType,
    /// Outermost dimension first: `[rows, cols]` for a matrix.
    pub shape: Vec<usize>,
    /// Bytes of stored data.
    #[serde(skip)]
    pub n_bytes: usize,
}

impl TensorEntry {
    /// Number of values.
    pub fn n_elements(&self) -> usize {
        self.shape.iter().product()
    }
}

/// Serializes a [`DType`] as its ggml name.
fn dtype_name<S: Serializer>(dtype: &DType, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(dtype.name())
}

/// The file's reader and what only it knows.
enum Source {
    Gguf(GgufFile),
    Safetensors {
        /// config.json, as read.
        config: Map<String, Value>,
        model: SafetensorsModel,
    },
}

/// An opened model file (a `.gguf`) or folder (config.json + safetensors), ready to inspect.
pub struct ModelFile {
    path: PathBuf,
    file_bytes: u64,
    source: Source,
    tensors: Vec<TensorEntry>,
}

impl ModelFile {
    /// Opens what `--model` resolved to and lists its tensors (in file order for GGUF,
    /// by name for safetensors).
    pub fn open(files: &ModelFiles) -> Result<Self> {
        match files {
            ModelFiles::Gguf(path) => Self::open_gguf(path),
            ModelFiles::HfFolder(dir) => Self::open_folder(dir),
        }
    }

    fn open_gguf(path: &Path) -> Result<Self> {
        let file = GgufFile::open(path)?;
        let tensors = file
            .tensors()
            .iter()
            .map(|t| TensorEntry {
                name: t.name.clone(),
                dtype: t.dtype,
                shape: t.shape(),
                n_bytes: t.n_bytes(),
            })
            .collect();
        Ok(ModelFile {
            path: path.to_path_buf(),
            file_bytes: file_size(path)?,
            source: Source::Gguf(file),
            tensors,
        })
    }

    fn open_folder(dir: &Path) -> Result<Self> {
        let config = read_config(&dir.join("config.json"))?;
        let model = SafetensorsModel::open_folder(dir)?;
        let tensors = model
            .names()
            .filter_map(|name| {
                model.info(name).map(|info| TensorEntry {
                    name: name.to_string(),
                    dtype: info.dtype,
                    shape: info.shape.clone(),
                    n_bytes: info.range.len(),
                })
            })
            .collect();
        let file_bytes = model
            .files()
            .iter()
            .map(|f| file_size(f.path()))
            .sum::<Result<u64>>()?;
        Ok(ModelFile {
            path: dir.to_path_buf(),
            file_bytes,
            source: Source::Safetensors { config, model },
            tensors,
        })
    }

    /// `"gguf"` or `"safetensors"` (the JSON document's `format`).
    pub fn format(&self) -> &'static str {
        match self.source {
            Source::Gguf(_) => "gguf",
            Source::Safetensors { .. } => "safetensors",
        }
    }

    /// The format in words: `GGUF v3`, `safetensors, 2 files`.
    pub fn format_description(&self) -> String {
        match &self.source {
            Source::Gguf(file) => format!("GGUF v{}", file.version()),
            Source::Safetensors { model, .. } => match model.files().len() {
                1 => "safetensors, 1 file".to_string(),
                n => format!("safetensors, {n} files"),
            },
        }
    }

    /// The `.gguf` file or the model folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Size on disk: the GGUF file, or all the folder's safetensors files together.
    pub fn file_bytes(&self) -> u64 {
        self.file_bytes
    }

    /// Every tensor, in the order [`ModelFile::open`] lists them.
    pub fn tensors(&self) -> &[TensorEntry] {
        &self.tensors
    }

    /// Number of parameters: the values of all tensors together.
    pub fn parameter_count(&self) -> usize {
        self.tensors.iter().map(TensorEntry::n_elements).sum()
    }

    /// GGUF's `general.architecture`, or config.json's `architectures[0]` and `model_type`.
    pub fn architecture(&self) -> Option<String> {
        match &self.source {
            Source::Gguf(file) => file
                .get("general.architecture")
                .and_then(GgufValue::as_str)
                .map(str::to_string),
            Source::Safetensors { config, .. } => {
                let class = config["architectures"][0].as_str();
                let model_type = config["model_type"].as_str();
                match (class, model_type) {
                    (Some(c), Some(t)) => Some(format!("{c} (model_type {t})")),
                    (c, t) => c.or(t).map(str::to_string),
                }
            }
        }
    }

    /// All metadata as JSON, in full: every GGUF key with its value, or config.json's
    /// keys plus `__metadata__` (the safetensors headers' string map, merged over the
    /// files) when the files have one.
    pub fn metadata(&self) -> Map<String, Value> {
        match &self.source {
            Source::Gguf(file) => file
                .metadata()
                .iter()
                .map(|(key, value)| (key.clone(), gguf_value_json(value)))
                .collect(),
            Source::Safetensors { config, model } => {
                let mut map = config.clone();
                let header: Map<String, Value> = model
                    .files()
                    .iter()
                    .flat_map(|f| f.metadata())
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect();
                if !header.is_empty() {
                    map.insert("__metadata__".into(), Value::Object(header));
                }
                map
            }
        }
    }

    /// The tensor called `name`, or an error naming the file and suggesting close names.
    pub fn tensor(&self, name: &str) -> Result<&TensorEntry> {
        self.tensors
            .iter()
            .find(|t| t.name == name)
            .ok_or_else(|| self.unknown_tensor(name))
    }

    fn unknown_tensor(&self, name: &str) -> Error {
        let names = self.tensors.iter().map(|t| t.name.as_str());
        let close = closest_names(name, names, SUGGESTIONS);
        let hint = match close.as_slice() {
            [] => "it holds no tensors".to_string(),
            close => format!(
                "closest names: {}; run without --tensor to list all {}",
                close.join(", "),
                self.tensors.len()
            ),
        };
        Error::InvalidArgument(format!(
            "--tensor {name}: no tensor of that name in {}; {hint}",
            self.path.display()
        ))
    }

    /// The values of `entry` (one of [`ModelFile::tensors`]) dequantized to f32,
    /// flattened row-major (outermost dimension first), as stored; only the first
    /// `limit` when given (and only the blocks holding them are dequantized).
    pub fn tensor_values(&self, entry: &TensorEntry, limit: Option<usize>) -> Result<Vec<f32>> {
        let bytes = match &self.source {
            Source::Gguf(file) => file.tensor_bytes(&entry.name)?,
            Source::Safetensors { model, .. } => model.tensor_bytes(&entry.name)?,
        };
        let n = entry.n_elements();
        let wanted = limit.map_or(n, |limit| limit.min(n));
        let (block_len, block_bytes) = (entry.dtype.block_len(), entry.dtype.block_bytes());
        let blocks = wanted.div_ceil(block_len);
        let mut values = dequantize_to_vec(
            entry.dtype,
            &bytes[..blocks * block_bytes],
            blocks * block_len,
        )?;
        values.truncate(wanted);
        Ok(values)
    }
}

/// The size of file `path` in bytes.
fn file_size(path: &Path) -> Result<u64> {
    Ok(std::fs::metadata(path)
        .map_err(|e| Error::io(path, e))?
        .len())
}

/// config.json as a JSON object.
fn read_config(path: &Path) -> Result<Map<String, Value>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    match serde_json::from_str(&text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Error::format(path, "not a JSON object")),
        Err(e) => Err(Error::format(path, format!("not valid JSON: {e}"))),
    }
}

/// A GGUF metadata value as JSON: integers, floats, bools, strings and (nested) arrays.
pub fn gguf_value_json(value: &GgufValue) -> Value {
    match value {
        GgufValue::U8(v) => json!(v),
        GgufValue::I8(v) => json!(v),
        GgufValue::U16(v) => json!(v),
        GgufValue::I16(v) => json!(v),
        GgufValue::U32(v) => json!(v),
        GgufValue::I32(v) => json!(v),
        GgufValue::U64(v) => json!(v),
        GgufValue::I64(v) => json!(v),
        GgufValue::F32(v) => f32_json(*v),
        GgufValue::F64(v) => Number::from_f64(*v).map_or(Value::Null, Value::Number),
        GgufValue::Bool(v) => json!(v),
        GgufValue::String(s) => json!(s),
        GgufValue::Array(items) => items.iter().map(gguf_value_json).collect(),
    }
}

/// An f32 as the shortest decimal that reads back as the same f32 (`0.00001`, not the
/// widened `9.999999747378752e-6`); `null` when not finite (JSON has no NaN or infinity).
fn f32_json(v: f32) -> Value {
    v.to_string()
        .parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .map_or(Value::Null, Value::Number)
}

/// `value` with every array longer than `max_items`, at any depth, replaced by
/// `{"array_len": N, "first": [its first max_items items]}`.
pub fn abbreviate_arrays(value: Value, max_items: usize) -> Value {
    match value {
        Value::Array(items) if items.len() > max_items => {
            let len = items.len();
            let first: Vec<Value> = items
                .into_iter()
                .take(max_items)
                .map(|v| abbreviate_arrays(v, max_items))
                .collect();
            json!({ "array_len": len, "first": first })
        }
        Value::Array(items) => items
            .into_iter()
            .map(|v| abbreviate_arrays(v, max_items))
            .collect(),
        Value::Object(map) => map
            .into_iter()
            .map(|(k, v)| (k, abbreviate_arrays(v, max_items)))
            .collect(),
        other => other,
    }
}

/// The `ch02 inspect --json` document (ch02/README.md describes it). f32 values serialize as the
/// shortest decimal that parses back to the same f32; non-finite ones as `null`.
#[derive(Debug, Serialize)]
pub struct InspectDocument<'a> {
    /// `"gguf"` or `"safetensors"`.
    pub format: &'static str,
    /// [`ModelFile::metadata`], with long arrays abbreviated unless asked for in full.
    pub metadata: Map<String, Value>,
    /// Every tensor: `{"name", "type", "shape"}`.
    pub tensors: &'a [TensorEntry],
    /// With `--tensor`: its values (see [`ModelFile::tensor_values`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub values: Option<&'a [f32]>,
}

/// The `--json` document for `file`: metadata arrays longer than [`JSON_ARRAY_ITEMS`]
/// abbreviated unless `full_metadata`, and `values` when given.
pub fn inspect_document<'a>(
    file: &'a ModelFile,
    full_metadata: bool,
    values: Option<&'a [f32]>,
) -> InspectDocument<'a> {
    let mut metadata = file.metadata();
    if !full_metadata {
        metadata = metadata
            .into_iter()
            .map(|(k, v)| (k, abbreviate_arrays(v, JSON_ARRAY_ITEMS)))
            .collect();
    }
    InspectDocument {
        format: file.format(),
        metadata,
        tensors: file.tensors(),
        values,
    }
}

/// Up to `count` of `names` closest to `wanted`: names containing it (or contained in
/// it) first, then by edit distance.
pub fn closest_names<'a>(
    wanted: &str,
    names: impl Iterator<Item = &'a str>,
    count: usize,
) -> Vec<&'a str> {
    let mut ranked: Vec<(bool, usize, &str)> = names
        .map(|name| {
            let related = name.contains(wanted) || wanted.contains(name);
            (!related, edit_distance(wanted, name), name)
        })
        .collect();
    ranked.sort();
    ranked.into_iter().take(count).map(|(.., n)| n).collect()
}

/// Levenshtein distance between `a` and `b`, in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_arrays_are_abbreviated_at_any_depth() {
        let long: Vec<u32> = (0..100).collect();
        let value = json!({"a": long, "b": [1, 2], "c": [vec![0; 70]]});
        let short = abbreviate_arrays(value, 64);
        assert_eq!(short["a"]["array_len"], 100);
        assert_eq!(short["a"]["first"].as_array().unwrap().len(), 64);
        assert_eq!(short["a"]["first"][63], 63);
        assert_eq!(short["b"], json!([1, 2]));
        assert_eq!(short["c"][0]["array_len"], 70);
    }

    #[test]
    fn gguf_values_become_json() {
        let value = GgufValue::Array(vec![
            GgufValue::U64(u64::MAX),
            GgufValue::I8(-3),
            GgufValue::F32(1e-5),
            GgufValue::F32(f32::NAN),
            GgufValue::F64(0.1),
            GgufValue::Bool(true),
            GgufValue::String("ü".into()),
        ]);
        assert_eq!(
            gguf_value_json(&value).to_string(),
            r#"[18446744073709551615,-3,0.00001,null,0.1,true,"ü"]"#
        );
    }

    #[test]
    fn f32_metadata_reads_back_exactly() {
        for v in [1.234567f32, 1e-6, 1e6, f32::MIN_POSITIVE, f32::MAX, -0.1] {
            let parsed: f32 = f32_json(v).to_string().parse().unwrap();
            assert_eq!(parsed.to_bits(), v.to_bits(), "{v}");
        }
    }

    #[test]
    fn close_names_prefer_related_then_near() {
        let names = [
            "blk.0.attn_k.weight",
            "blk.0.attn_q.weight",
            "output_norm.weight",
            "blk.1.attn_q.weight",
        ];
        let close = closest_names("blk.0.attn_q", names.into_iter(), 2);
        assert_eq!(close, ["blk.0.attn_q.weight", "blk.0.attn_k.weight"]);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
    }
}
