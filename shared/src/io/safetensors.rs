//! Safetensors reader: one file ([`SafeTensors`]) and a Hugging Face model folder,
//! single or sharded ([`SafetensorsModel`]).
//!
//! Format (<https://github.com/huggingface/safetensors>): a little-endian `u64`
//! header length `N`, `N` bytes of JSON
//! `{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {..}}`,
//! then the data buffer; offsets are relative to the start of that buffer and
//! tensors are stored row-major, outermost dimension first.
//! Supported dtypes: F32, F16, BF16. [`write_safetensors_f32`] writes F32 files.

mod write;

pub use write::write_safetensors_f32;

use super::mapped::{map_file, release};
use super::quant::dequantize_to_vec;
use super::DType;
use crate::{Error, Result};
use memmap2::Mmap;
use serde_json::Value;
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// Where a tensor lives in a safetensors file and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SafeTensorInfo {
    /// Element type.
    pub dtype: DType,
    /// Shape, outermost dimension first (`[rows, row length]` for a matrix).
    pub shape: Vec<usize>,
    /// Byte range of the data within the whole file (already checked against its size).
    pub range: Range<usize>,
}

/// One safetensors file, memory-mapped, with its header parsed and validated.
pub struct SafeTensors {
    path: PathBuf,
    map: Mmap,
    tensors: BTreeMap<String, SafeTensorInfo>,
    metadata: BTreeMap<String, String>,
}

impl std::fmt::Debug for SafeTensors {
    /// Path and tensor count.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SafeTensors")
            .field("path", &self.path)
            .field("tensors", &self.tensors.len())
            .finish()
    }
}

impl SafeTensors {
    /// Open and validate the file at `path` as the format specifies: header length
    /// within the file, well-formed JSON with no name twice, supported dtypes, every
    /// tensor's byte range inside the data buffer and exactly `shape × dtype size`
    /// long, and the ranges together covering the buffer with no overlap and no hole.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let map = map_file(&path)?;
        let (data_start, header) = split_header(&path, &map)?;
        let data_len = map.len() - data_start;
        let mut tensors = BTreeMap::new();
        let mut metadata = BTreeMap::new();
        for (name, entry) in header.0 {
            if name == "__metadata__" {
                metadata = parse_metadata(&path, entry)?;
                continue;
            }
            let info = parse_entry(&path, &name, &entry, data_len)?;
            if tensors.contains_key(&name) {
                let msg = format!("tensor `{name}` appears twice in the header");
                return Err(Error::format(&path, msg));
            }
            tensors.insert(name, info);
        }
        check_coverage(&path, &tensors, data_len)?;
        for info in tensors.values_mut() {
            info.range = info.range.start + data_start..info.range.end + data_start;
        }
        Ok(SafeTensors {
            path,
            map,
            tensors,
            metadata,
        })
    }

    /// The file this was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Tensor names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(String::as_str)
    }

    /// The `__metadata__` map of the header (empty when absent; non-string
    /// values are kept as their JSON text).
    pub fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }

    /// Dtype, shape and byte range of tensor `name`.
    pub fn info(&self, name: &str) -> Option<&SafeTensorInfo> {
        self.tensors.get(name)
    }

    /// The raw little-endian bytes of tensor `name`.
    pub fn tensor_bytes(&self, name: &str) -> Result<&[u8]> {
        let info = self.info(name).ok_or_else(|| self.missing(name))?;
        Ok(&self.map[info.range.clone()])
    }

    /// Lets the operating system drop tensor `name`'s pages from this process's
    /// memory, once its bytes have been copied out (see `super::mapped::release`).
    pub fn release_tensor(&self, name: &str) {
        if let Some(info) = self.info(name) {
            release(&self.map, info.range.clone());
        }
    }

    /// Tensor `name` converted to f32, row-major, outermost dimension first.
    pub fn tensor_f32(&self, name: &str) -> Result<Vec<f32>> {
        let info = self.info(name).ok_or_else(|| self.missing(name))?;
        let n = info.shape.iter().product();
        dequantize_to_vec(info.dtype, &self.map[info.range.clone()], n)
    }

    fn missing(&self, name: &str) -> Error {
        Error::format(&self.path, format!("no tensor named `{name}`"))
    }
}

/// A JSON object's entries in file order, a repeated name kept (a map keeps only the last).
struct Entries(Vec<(String, Value)>);

impl<'de> serde::Deserialize<'de> for Entries {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Entries;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Entries, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(Entries(entries))
            }
        }
        d.deserialize_map(Visit)
    }
}

/// Checks that the tensors' byte ranges (relative to the data buffer) tile it: sorted,
/// each starts where the previous ended, and the last ends at the buffer's end.
fn check_coverage(
    path: &Path,
    tensors: &BTreeMap<String, SafeTensorInfo>,
    data_len: usize,
) -> Result<()> {
    let mut ranges: Vec<(&str, &Range<usize>)> = tensors
        .iter()
        .map(|(n, i)| (n.as_str(), &i.range))
        .collect();
    ranges.sort_by_key(|(_, r)| (r.start, r.end));
    let mut covered = 0;
    for (name, range) in ranges {
        let msg = match range.start.cmp(&covered) {
            std::cmp::Ordering::Less => format!(
                "tensor `{name}`: data_offsets [{}, {}] overlap the tensor before it (which ends at {covered})",
                range.start, range.end
            ),
            std::cmp::Ordering::Greater => format!(
                "bytes {covered}..{} of the data buffer belong to no tensor (a hole before `{name}`)",
                range.start
            ),
            std::cmp::Ordering::Equal => {
                covered = range.end;
                continue;
            }
        };
        return Err(Error::format(path, msg));
    }
    if covered != data_len {
        let msg = format!(
            "the data buffer has {} bytes after the last tensor (its {data_len} bytes must all belong to tensors)",
            data_len - covered
        );
        return Err(Error::format(path, msg));
    }
    Ok(())
}

/// Split the file into (start of the data buffer, the JSON header's entries).
fn split_header(path: &Path, bytes: &[u8]) -> Result<(usize, Entries)> {
    let Some(len_bytes) = bytes.first_chunk::<8>() else {
        return Err(Error::format(
            path,
            format!(
                "truncated: {} bytes is too short for a safetensors header length (8 bytes)",
                bytes.len()
            ),
        ));
    };
    let claimed = u64::from_le_bytes(*len_bytes);
    let available = bytes.len() - 8;
    let header_len = usize::try_from(claimed)
        .ok()
        .filter(|&n| n <= available)
        .ok_or_else(|| {
            Error::format(
                path,
                format!(
                    "header length {claimed} runs past the end of the file ({available} bytes after the length); \
                     not a safetensors file or truncated"
                ),
            )
        })?;
    let header: Entries = serde_json::from_slice(&bytes[8..8 + header_len])
        .map_err(|e| Error::format(path, format!("header is not a valid JSON object: {e}")))?;
    Ok((8 + header_len, header))
}

/// The `__metadata__` object as strings.
fn parse_metadata(path: &Path, entry: Value) -> Result<BTreeMap<String, String>> {
    let Value::Object(map) = entry else {
        return Err(Error::format(path, "`__metadata__` is not a JSON object"));
    };
    Ok(map
        .into_iter()
        .map(|(k, v)| match v {
            Value::String(s) => (k, s),
            other => (k, other.to_string()),
        })
        .collect())
}

/// One tensor's header entry, with `range` relative to the data buffer.
fn parse_entry(path: &Path, name: &str, entry: &Value, data_len: usize) -> Result<SafeTensorInfo> {
    let bad = |msg: String| Error::format(path, format!("tensor `{name}`: {msg}"));
    let dtype_name = entry["dtype"]
        .as_str()
        .ok_or_else(|| bad("missing string `dtype`".into()))?;
    let dtype = match dtype_name {
        "F32" => DType::F32,
        "F16" => DType::F16,
        "BF16" => DType::BF16,
        other => {
            return Err(Error::Unsupported(format!(
                "{}: tensor `{name}` has dtype {other}; the safetensors reader supports F32, F16 and BF16",
                path.display()
            )))
        }
    };
    let shape =
        usize_list(&entry["shape"]).ok_or_else(|| bad("`shape` is not a list of sizes".into()))?;
    let offsets = usize_list(&entry["data_offsets"])
        .filter(|o| o.len() == 2)
        .ok_or_else(|| bad("`data_offsets` is not a pair of byte offsets".into()))?;
    let (begin, end) = (offsets[0], offsets[1]);
    let n_bytes = shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .and_then(|n| dtype.bytes_for(n))
        .ok_or_else(|| bad(format!("shape {shape:?} overflows (too many elements)")))?;
    if begin > end || end > data_len {
        return Err(bad(format!(
            "data_offsets [{begin}, {end}] lie outside the {data_len}-byte data buffer (out of bounds)"
        )));
    }
    if end - begin != n_bytes {
        return Err(bad(format!(
            "data_offsets [{begin}, {end}] hold {} bytes, but shape {shape:?} of {dtype:?} needs {n_bytes}",
            end - begin
        )));
    }
    Ok(SafeTensorInfo {
        dtype,
        shape,
        range: begin..end,
    })
}

/// A JSON list of non-negative integers that fit `usize`.
fn usize_list(value: &Value) -> Option<Vec<usize>> {
    value
        .as_array()?
        .iter()
        .map(|v| v.as_u64().and_then(|n| usize::try_from(n).ok()))
        .collect()
}

/// All tensors of a Hugging Face model folder, across one or several safetensors files.
#[derive(Debug)]
pub struct SafetensorsModel {
    dir: PathBuf,
    files: Vec<SafeTensors>,
    file_of: BTreeMap<String, usize>,
}

impl SafetensorsModel {
    /// Open the model in folder `dir`: `model.safetensors` if present, else the
    /// shards listed in `model.safetensors.index.json` (its `weight_map` is checked
    /// against the shards' contents), else every `*.safetensors` file in the folder.
    /// A tensor name found in two files is an error.
    pub fn open_folder(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        let single = dir.join("model.safetensors");
        let index = dir.join("model.safetensors.index.json");
        let (paths, weight_map) = if single.is_file() {
            (vec![single], None)
        } else if index.is_file() {
            let weight_map = read_weight_map(&index)?;
            let mut paths: Vec<PathBuf> = weight_map.values().map(|f| dir.join(f)).collect();
            paths.sort();
            paths.dedup();
            (paths, Some(weight_map))
        } else {
            (safetensors_files_in(&dir)?, None)
        };
        let model = Self::from_files(dir, paths)?;
        if let Some(weight_map) = weight_map {
            model.check_weight_map(&index, &weight_map)?;
        }
        Ok(model)
    }

    fn from_files(dir: PathBuf, paths: Vec<PathBuf>) -> Result<Self> {
        let files = paths
            .iter()
            .map(SafeTensors::open)
            .collect::<Result<Vec<_>>>()?;
        let mut file_of = BTreeMap::new();
        for (i, file) in files.iter().enumerate() {
            for name in file.names() {
                if let Some(j) = file_of.insert(name.to_string(), i) {
                    return Err(Error::format(
                        &dir,
                        format!(
                            "tensor `{name}` is in both {} and {}",
                            files[j].path().display(),
                            file.path().display()
                        ),
                    ));
                }
            }
        }
        Ok(SafetensorsModel {
            dir,
            files,
            file_of,
        })
    }

    /// Every tensor of the index's `weight_map` must be in the shard it names.
    fn check_weight_map(&self, index: &Path, weight_map: &BTreeMap<String, String>) -> Result<()> {
        for (name, file) in weight_map {
            let found = self.file_of.get(name).map(|&i| self.files[i].path());
            if found != Some(self.dir.join(file).as_path()) {
                return Err(Error::format(
                    index,
                    format!(
                        "weight_map puts tensor `{name}` in {file}, but that file does not hold it"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The folder this model was read from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The files read, in name order.
    pub fn files(&self) -> &[SafeTensors] {
        &self.files
    }

    /// All tensor names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.file_of.keys().map(String::as_str)
    }

    /// Whether the model has a tensor called `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.file_of.contains_key(name)
    }

    /// Dtype, shape and byte range (within its file) of tensor `name`.
    pub fn info(&self, name: &str) -> Option<&SafeTensorInfo> {
        self.file_of
            .get(name)
            .and_then(|&i| self.files[i].info(name))
    }

    /// Shape of tensor `name`, outermost dimension first.
    pub fn shape(&self, name: &str) -> Option<&[usize]> {
        self.info(name).map(|info| info.shape.as_slice())
    }

    /// Element type of tensor `name`.
    pub fn dtype(&self, name: &str) -> Option<DType> {
        self.info(name).map(|info| info.dtype)
    }

    /// The raw little-endian bytes of tensor `name`.
    pub fn tensor_bytes(&self, name: &str) -> Result<&[u8]> {
        self.file(name)?.tensor_bytes(name)
    }

    /// Tensor `name` converted to f32, row-major, outermost dimension first.
    pub fn tensor_f32(&self, name: &str) -> Result<Vec<f32>> {
        self.file(name)?.tensor_f32(name)
    }

    /// Lets the operating system drop tensor `name`'s pages from this process's memory
    /// (see [`SafeTensors::release_tensor`]).
    pub fn release_tensor(&self, name: &str) {
        if let Ok(file) = self.file(name) {
            file.release_tensor(name);
        }
    }

    fn file(&self, name: &str) -> Result<&SafeTensors> {
        let i = self.file_of.get(name).ok_or_else(|| {
            Error::format(
                &self.dir,
                format!("no tensor named `{name}` in this model's safetensors files"),
            )
        })?;
        Ok(&self.files[*i])
    }
}

/// The `weight_map` of a sharded model's index: tensor name → shard file name.
fn read_weight_map(index: &Path) -> Result<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(index).map_err(|e| Error::io(index, e))?;
    let json: Value = serde_json::from_str(&text)
        .map_err(|e| Error::format(index, format!("not valid JSON: {e}")))?;
    let map = json["weight_map"]
        .as_object()
        .ok_or_else(|| Error::format(index, "no `weight_map` object"))?;
    map.iter()
        .map(|(name, file)| match file.as_str() {
            Some(f) if is_plain_file_name(f) => Ok((name.clone(), f.to_string())),
            _ => Err(Error::format(
                index,
                format!(
                    "weight_map entry for `{name}` is not a file name in the model folder: {file}"
                ),
            )),
        })
        .collect()
}

/// A name with no directory part (so an index cannot point outside its folder).
fn is_plain_file_name(name: &str) -> bool {
    let path = Path::new(name);
    path.file_name().is_some_and(|f| f == path.as_os_str()) && name != ".."
}

/// All `*.safetensors` files in `dir`, sorted.
fn safetensors_files_in(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut paths = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        if path.extension().is_some_and(|e| e == "safetensors") && path.is_file() {
            paths.push(path);
        }
    }
    if paths.is_empty() {
        return Err(Error::format(
            dir,
            "no model.safetensors, model.safetensors.index.json or other *.safetensors file in this folder",
        ));
    }
    paths.sort();
    Ok(paths)
}
