//! GGUF reader (versions 2 and 3), following the spec in ggml's `docs/gguf.md`.
//!
//! Layout, all little-endian: magic `GGUF`, `u32` version, `u64` tensor count,
//! `u64` metadata count; the metadata key/value pairs; the tensor infos (name,
//! `u32` n_dims, n_dims × `u64` dims innermost first, `u32` ggml type, `u64`
//! offset into the data section); then the data section, which starts at the next
//! multiple of `general.alignment` (default 32).
//!
//! The file is memory-mapped: [`GgufFile::tensor_bytes`] borrows from the map and
//! [`GgufFile::tensor_f32`] dequantizes with [`super::quant`].

use super::mapped::{map_file, release};
use super::quant::dequantize_to_vec;
use super::DType;
use crate::{Error, Result};
use memmap2::Mmap;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// Alignment of the data section and of every tensor when `general.alignment` is absent.
const DEFAULT_ALIGNMENT: usize = 32;
/// ggml tensors have at most 4 dimensions (`GGML_MAX_DIMS`).
const MAX_DIMS: usize = 4;
/// Arrays of arrays are legal GGUF; bound their nesting so a crafted file cannot
/// exhaust the stack.
const MAX_ARRAY_DEPTH: usize = 8;

/// One metadata value, tagged with its GGUF value type.
#[derive(Debug, Clone, PartialEq)]
pub enum GgufValue {
    /// Type 0.
    U8(u8),
    /// Type 1.
    I8(i8),
    /// Type 2.
    U16(u16),
    /// Type 3.
    I16(i16),
    /// Type 4.
    U32(u32),
    /// Type 5.
    I32(i32),
    /// Type 6.
    F32(f32),
    /// Type 7 (one byte, 0 or 1).
    Bool(bool),
    /// Type 8 (`u64` length + UTF-8 bytes).
    String(String),
    /// Type 9 (`u32` element type, `u64` count, the elements).
    Array(Vec<GgufValue>),
    /// Type 10.
    U64(u64),
    /// Type 11.
    I64(i64),
    /// Type 12.
    F64(f64),
}

impl GgufValue {
    /// The value as an unsigned integer, if it is a non-negative integer of any width.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            GgufValue::U8(v) => Some(v.into()),
            GgufValue::U16(v) => Some(v.into()),
            GgufValue::U32(v) => Some(v.into()),
            GgufValue::U64(v) => Some(v),
            GgufValue::I8(v) => u64::try_from(v).ok(),
            GgufValue::I16(v) => u64::try_from(v).ok(),
            GgufValue::I32(v) => u64::try_from(v).ok(),
            GgufValue::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// The value as a signed integer, if it is an integer of any width that fits `i64`.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            GgufValue::I8(v) => Some(v.into()),
            GgufValue::I16(v) => Some(v.into()),
            GgufValue::I32(v) => Some(v.into()),
            GgufValue::I64(v) => Some(v),
            _ => self.as_u64().and_then(|v| i64::try_from(v).ok()),
        }
    }

    /// The value as a float, if it is an F32 or F64.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            GgufValue::F32(v) => Some(v.into()),
            GgufValue::F64(v) => Some(v),
            _ => None,
        }
    }

    /// The value as a bool, if it is a Bool.
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            GgufValue::Bool(v) => Some(v),
            _ => None,
        }
    }

    /// The value as a string slice, if it is a String.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            GgufValue::String(s) => Some(s),
            _ => None,
        }
    }

    /// The elements, if the value is an Array.
    pub fn as_array(&self) -> Option<&[GgufValue]> {
        match self {
            GgufValue::Array(items) => Some(items),
            _ => None,
        }
    }

    /// The GGUF name of the value's type (`"u32"`, `"string"`, `"array"`, …), for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            GgufValue::U8(_) => "u8",
            GgufValue::I8(_) => "i8",
            GgufValue::U16(_) => "u16",
            GgufValue::I16(_) => "i16",
            GgufValue::U32(_) => "u32",
            GgufValue::I32(_) => "i32",
            GgufValue::F32(_) => "f32",
            GgufValue::Bool(_) => "bool",
            GgufValue::String(_) => "string",
            GgufValue::Array(_) => "array",
            GgufValue::U64(_) => "u64",
            GgufValue::I64(_) => "i64",
            GgufValue::F64(_) => "f64",
        }
    }
}

/// Where one tensor lives in the data section and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GgufTensorInfo {
    /// Tensor name, e.g. `blk.0.attn_q.weight`.
    pub name: String,
    /// Dimensions as stored: innermost (contiguous) first, so a matrix is `[row length, rows]`.
    pub dims: Vec<usize>,
    /// Storage type.
    pub dtype: DType,
    /// Byte offset of the data, relative to the start of the data section.
    pub offset: usize,
    n_bytes: usize,
}

impl GgufTensorInfo {
    /// Shape outermost first, the way the data is laid out row-major:
    /// `(rows, row length)` for a matrix.
    pub fn shape(&self) -> Vec<usize> {
        self.dims.iter().rev().copied().collect()
    }

    /// Number of elements (checked against overflow when the file was opened).
    pub fn n_elements(&self) -> usize {
        self.dims.iter().product()
    }

    /// Number of bytes of the stored data.
    pub fn n_bytes(&self) -> usize {
        self.n_bytes
    }
}

/// A GGUF file: its metadata, tensor infos and memory-mapped data, all validated on open.
pub struct GgufFile {
    path: PathBuf,
    version: u32,
    metadata: BTreeMap<String, GgufValue>,
    tensors: Vec<GgufTensorInfo>,
    index: HashMap<String, usize>,
    data_start: usize,
    map: Mmap,
}

impl std::fmt::Debug for GgufFile {
    /// Path, version and counts (the metadata can hold tens of thousands of tokens).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufFile")
            .field("path", &self.path)
            .field("version", &self.version)
            .field("metadata_keys", &self.metadata.len())
            .field("tensors", &self.tensors.len())
            .finish()
    }
}

impl GgufFile {
    /// Open and validate the file at `path`: magic, version (2 or 3), every
    /// count and length against the bytes left in the file before allocating,
    /// known value and tensor types, dims products without overflow, and every
    /// tensor's data range inside the data section.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let map = map_file(&path)?;
        let parsed = parse(&path, &map)?;
        Ok(GgufFile {
            path,
            version: parsed.version,
            metadata: parsed.metadata,
            index: parsed.index,
            tensors: parsed.tensors,
            data_start: parsed.data_start,
            map,
        })
    }

    /// The file this was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The GGUF version (2 or 3).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// All metadata, sorted by key.
    pub fn metadata(&self) -> &BTreeMap<String, GgufValue> {
        &self.metadata
    }

    /// The metadata value under `key`, if any.
    pub fn get(&self, key: &str) -> Option<&GgufValue> {
        self.metadata.get(key)
    }

    /// An integer metadata value (of any integer type) that fits `u32`.
    pub fn get_u32(&self, key: &str) -> Result<u32> {
        self.typed(key, "an unsigned integer that fits u32", |v| {
            v.as_u64().and_then(|n| u32::try_from(n).ok())
        })
    }

    /// An integer metadata value (of any integer type) that fits `usize`.
    pub fn get_usize(&self, key: &str) -> Result<usize> {
        self.typed(key, "an unsigned integer", |v| {
            v.as_u64().and_then(|n| usize::try_from(n).ok())
        })
    }

    /// A float metadata value (F32, or F64 narrowed to f32).
    pub fn get_f32(&self, key: &str) -> Result<f32> {
        self.typed(key, "a float", |v| v.as_f64().map(|x| x as f32))
    }

    /// A bool metadata value.
    pub fn get_bool(&self, key: &str) -> Result<bool> {
        self.typed(key, "a bool", GgufValue::as_bool)
    }

    /// A string metadata value.
    pub fn get_str(&self, key: &str) -> Result<&str> {
        self.typed(key, "a string", GgufValue::as_str)
    }

    /// An array-of-strings metadata value (e.g. `tokenizer.ggml.tokens`).
    pub fn get_str_array(&self, key: &str) -> Result<Vec<&str>> {
        self.typed(key, "an array of strings", |v| {
            v.as_array()?.iter().map(GgufValue::as_str).collect()
        })
    }

    /// An array of integers that fit `i32` (e.g. `tokenizer.ggml.token_type`).
    pub fn get_i32_array(&self, key: &str) -> Result<Vec<i32>> {
        self.typed(key, "an array of integers that fit i32", |v| {
            v.as_array()?
                .iter()
                .map(|x| x.as_i64().and_then(|n| i32::try_from(n).ok()))
                .collect()
        })
    }

    /// Look up `key` and convert it with `convert`, or say what is missing or wrong.
    fn typed<'a, T>(
        &'a self,
        key: &str,
        expected: &str,
        convert: impl FnOnce(&'a GgufValue) -> Option<T>,
    ) -> Result<T> {
        let value = self
            .get(key)
            .ok_or_else(|| Error::format(&self.path, format!("metadata key `{key}` is missing")))?;
        convert(value).ok_or_else(|| {
            Error::format(
                &self.path,
                format!(
                    "metadata key `{key}` has type {}, expected {expected}",
                    value.type_name()
                ),
            )
        })
    }

    /// All tensor infos, in file order.
    pub fn tensors(&self) -> &[GgufTensorInfo] {
        &self.tensors
    }

    /// The info of tensor `name`, if the file has it.
    pub fn tensor_info(&self, name: &str) -> Option<&GgufTensorInfo> {
        self.index.get(name).map(|&i| &self.tensors[i])
    }

    /// The stored bytes of tensor `name` (borrowed from the memory map).
    pub fn tensor_bytes(&self, name: &str) -> Result<&[u8]> {
        let info = self.existing(name)?;
        let start = self.data_start + info.offset;
        Ok(&self.map[start..start + info.n_bytes])
    }

    /// Lets the operating system drop tensor `name`'s pages from this process's
    /// memory, once its bytes have been copied out (see `super::mapped::release`).
    pub fn release_tensor(&self, name: &str) {
        if let Ok(info) = self.existing(name) {
            let start = self.data_start + info.offset;
            release(&self.map, start..start + info.n_bytes);
        }
    }

    /// Tensor `name` dequantized to f32, row-major with the outermost dimension
    /// first (the order of [`GgufTensorInfo::shape`]).
    pub fn tensor_f32(&self, name: &str) -> Result<Vec<f32>> {
        let info = self.existing(name)?;
        dequantize_to_vec(info.dtype, self.tensor_bytes(name)?, info.n_elements())
    }

    /// The info of tensor `name`, or an error naming the file and the tensor.
    fn existing(&self, name: &str) -> Result<&GgufTensorInfo> {
        self.tensor_info(name)
            .ok_or_else(|| Error::format(&self.path, format!("no tensor named `{name}`")))
    }
}

/// Everything `open` learns from the bytes.
struct Parsed {
    version: u32,
    metadata: BTreeMap<String, GgufValue>,
    tensors: Vec<GgufTensorInfo>,
    index: HashMap<String, usize>,
    data_start: usize,
}

/// Parse and validate the whole file.
fn parse(path: &Path, bytes: &[u8]) -> Result<Parsed> {
    let mut r = Reader {
        bytes,
        pos: 0,
        path,
    };
    let magic = r.take(4, "the magic")?;
    if magic != b"GGUF" {
        return Err(Error::format(
            path,
            format!("wrong magic {magic:?} (expected \"GGUF\"): not a GGUF file"),
        ));
    }
    let version = r.u32("the version")?;
    if version != 2 && version != 3 {
        let hint = if version.swap_bytes() <= 3 {
            " (a big-endian file?)"
        } else {
            ""
        };
        return Err(Error::Unsupported(format!(
            "{}: GGUF version {version}{hint}; this reader supports versions 2 and 3",
            path.display()
        )));
    }
    let tensor_count = r.u64("the tensor count")?;
    let kv_count = r.u64("the metadata count")?;
    let metadata = read_metadata(&mut r, kv_count)?;
    let alignment = alignment(path, &metadata)?;
    let (tensors, index) = read_tensor_infos(&mut r, tensor_count, alignment)?;
    let data_start = r.pos.div_ceil(alignment) * alignment;
    let data_len = bytes.len().saturating_sub(data_start);
    check_tensor_ranges(path, &tensors, data_len)?;
    Ok(Parsed {
        version,
        metadata,
        tensors,
        index,
        data_start,
    })
}

/// The metadata key/value pairs; duplicate keys are an error.
fn read_metadata(r: &mut Reader, count: u64) -> Result<BTreeMap<String, GgufValue>> {
    // Smallest pair: empty key (8) + value type (4) + one-byte value.
    r.check_count(count, 13, "metadata pairs")?;
    let mut metadata = BTreeMap::new();
    for i in 0..count {
        let key = r.string(&format!("metadata key #{i}"))?;
        let value = r.in_context(&format!("metadata key `{key}`"), |r| {
            let type_id = r.u32("the value type")?;
            r.value(type_id, 0)
        })?;
        if metadata.insert(key.clone(), value).is_some() {
            return Err(Error::format(
                r.path,
                format!("metadata key `{key}` appears twice"),
            ));
        }
    }
    Ok(metadata)
}

/// `general.alignment`: a power of two, 32 when absent.
fn alignment(path: &Path, metadata: &BTreeMap<String, GgufValue>) -> Result<usize> {
    let Some(value) = metadata.get("general.alignment") else {
        return Ok(DEFAULT_ALIGNMENT);
    };
    match value.as_u64().and_then(|a| usize::try_from(a).ok()) {
        Some(a) if a.is_power_of_two() => Ok(a),
        _ => Err(Error::format(
            path,
            format!("general.alignment is {value:?}, not a power of two"),
        )),
    }
}

/// The tensor infos: names unique, dims at most 4 with a product that fits,
/// known ggml types, rows a whole number of blocks, offsets aligned; with the
/// index of each name.
fn read_tensor_infos(
    r: &mut Reader,
    count: u64,
    alignment: usize,
) -> Result<(Vec<GgufTensorInfo>, HashMap<String, usize>)> {
    // Smallest info: empty name (8) + n_dims (4) + type (4) + offset (8).
    r.check_count(count, 24, "tensor infos")?;
    let mut tensors = Vec::new();
    let mut index = HashMap::new();
    for i in 0..count as usize {
        let name = r.string(&format!("the name of tensor #{i}"))?;
        let info = r.in_context(&format!("tensor `{name}`"), |r| {
            read_tensor_info(r, name.clone(), alignment)
        })?;
        if index.insert(name.clone(), i).is_some() {
            return Err(Error::format(
                r.path,
                format!("tensor `{name}` appears twice"),
            ));
        }
        tensors.push(info);
    }
    Ok((tensors, index))
}

/// One tensor info after its name.
fn read_tensor_info(r: &mut Reader, name: String, alignment: usize) -> Result<GgufTensorInfo> {
    let n_dims = r.u32("n_dims")? as usize;
    if n_dims > MAX_DIMS {
        return Err(r.error(format!(
            "{n_dims} dimensions (ggml allows at most {MAX_DIMS})"
        )));
    }
    let dims = (0..n_dims)
        .map(|_| {
            let d = r.u64("a dimension")?;
            usize::try_from(d).map_err(|_| r.error(format!("dimension {d} does not fit in memory")))
        })
        .collect::<Result<Vec<usize>>>()?;
    let type_id = r.u32("the ggml type")?;
    let dtype = DType::from_ggml_id(type_id).ok_or_else(|| {
        let supported: Vec<&str> = DType::ALL.iter().map(|t| t.name()).collect();
        Error::Unsupported(format!(
            "{}: tensor `{name}` has ggml type {type_id} ({}); supported: {}",
            r.path.display(),
            ggml_type_name(type_id),
            supported.join(", ")
        ))
    })?;
    let offset = r.u64("the data offset")?;
    let n_elements = dims
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .ok_or_else(|| r.error(format!("dims {dims:?}: the element count overflows")))?;
    let row_len = dims.first().copied().unwrap_or(1);
    if row_len % dtype.block_len() != 0 {
        return Err(r.error(format!(
            "rows of {row_len} elements are not a whole number of {} blocks ({} elements)",
            dtype.name(),
            dtype.block_len()
        )));
    }
    let n_bytes = dtype
        .bytes_for(n_elements)
        .ok_or_else(|| r.error(format!("dims {dims:?}: the byte size overflows")))?;
    let offset = usize::try_from(offset)
        .ok()
        .filter(|o| o % alignment == 0)
        .ok_or_else(|| {
            r.error(format!(
                "data offset {offset} is not a multiple of the alignment {alignment}"
            ))
        })?;
    Ok(GgufTensorInfo {
        name,
        dims,
        dtype,
        offset,
        n_bytes,
    })
}

/// Every tensor's data must lie inside the data section.
fn check_tensor_ranges(path: &Path, tensors: &[GgufTensorInfo], data_len: usize) -> Result<()> {
    for t in tensors.iter() {
        let end = t.offset.checked_add(t.n_bytes);
        if end.is_none_or(|end| end > data_len) {
            return Err(Error::format(
                path,
                format!(
                    "tensor `{}`: data [{}, {}+{}) is out of bounds of the {data_len}-byte data section (truncated file?)",
                    t.name, t.offset, t.offset, t.n_bytes
                ),
            ));
        }
    }
    Ok(())
}

/// ggml's name for a type id, for error messages (ids from `ggml.h`).
fn ggml_type_name(id: u32) -> &'static str {
    const NAMES: [&str; 40] = [
        "F32",
        "F16",
        "Q4_0",
        "Q4_1",
        "Q4_2 (removed)",
        "Q4_3 (removed)",
        "Q5_0",
        "Q5_1",
        "Q8_0",
        "Q8_1",
        "Q2_K",
        "Q3_K",
        "Q4_K",
        "Q5_K",
        "Q6_K",
        "Q8_K",
        "IQ2_XXS",
        "IQ2_XS",
        "IQ3_XXS",
        "IQ1_S",
        "IQ4_NL",
        "IQ3_S",
        "IQ2_S",
        "IQ4_XS",
        "I8",
        "I16",
        "I32",
        "I64",
        "F64",
        "IQ1_M",
        "BF16",
        "Q4_0_4_4 (removed)",
        "Q4_0_4_8 (removed)",
        "Q4_0_8_8 (removed)",
        "TQ1_0",
        "TQ2_0",
        "IQ4_NL_4_4 (removed)",
        "IQ4_NL_4_8 (removed)",
        "IQ4_NL_8_8 (removed)",
        "MXFP4",
    ];
    NAMES.get(id as usize).copied().unwrap_or("unknown")
}

/// A cursor over the file's bytes that never reads past the end.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    path: &'a Path,
}

impl<'a> Reader<'a> {
    /// A format error about this file.
    fn error(&self, msg: String) -> Error {
        Error::format(self.path, msg)
    }

    /// Run `f`, prefixing any format error it returns with `context`.
    fn in_context<T>(
        &mut self,
        context: &str,
        f: impl FnOnce(&mut Self) -> Result<T>,
    ) -> Result<T> {
        f(self).map_err(|e| match e {
            Error::Format { path, msg } => Error::Format {
                path,
                msg: format!("{context}: {msg}"),
            },
            other => other,
        })
    }

    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    /// The next `n` bytes.
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(self.error(format!(
                "truncated: {what} needs {n} bytes at offset {}, but the file ends at {}",
                self.pos,
                self.bytes.len()
            )));
        }
        let bytes = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(bytes)
    }

    /// The next `N` bytes as an array.
    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N]> {
        let bytes = self.take(N, what)?;
        Ok(bytes.try_into().expect("take returned N bytes"))
    }

    fn u32(&mut self, what: &str) -> Result<u32> {
        self.array(what).map(u32::from_le_bytes)
    }

    fn u64(&mut self, what: &str) -> Result<u64> {
        self.array(what).map(u64::from_le_bytes)
    }

    /// Error unless `count` items of at least `min_size` bytes each fit in the rest of the file.
    fn check_count(&self, count: u64, min_size: u64, what: &str) -> Result<()> {
        if count.saturating_mul(min_size) > self.remaining() as u64 {
            return Err(self.error(format!(
                "{count} {what} cannot fit in the {} bytes left at offset {} (corrupt count or truncated file)",
                self.remaining(),
                self.pos
            )));
        }
        Ok(())
    }

    /// A GGUF string: `u64` length, then that many UTF-8 bytes.
    fn string(&mut self, what: &str) -> Result<String> {
        let len = self.u64(what)?;
        self.check_count(len, 1, &format!("bytes of {what}"))?;
        let bytes = self.take(len as usize, what)?;
        String::from_utf8(bytes.to_vec())
            .map_err(|_| self.error(format!("{what} is not valid UTF-8")))
    }

    /// A metadata value of GGUF value type `type_id`, `depth` arrays deep.
    fn value(&mut self, type_id: u32, depth: usize) -> Result<GgufValue> {
        Ok(match type_id {
            0 => GgufValue::U8(u8::from_le_bytes(self.array("a u8")?)),
            1 => GgufValue::I8(i8::from_le_bytes(self.array("an i8")?)),
            2 => GgufValue::U16(u16::from_le_bytes(self.array("a u16")?)),
            3 => GgufValue::I16(i16::from_le_bytes(self.array("an i16")?)),
            4 => GgufValue::U32(self.u32("a u32")?),
            5 => GgufValue::I32(i32::from_le_bytes(self.array("an i32")?)),
            6 => GgufValue::F32(f32::from_le_bytes(self.array("an f32")?)),
            7 => match self.array::<1>("a bool")? {
                [0] => GgufValue::Bool(false),
                [1] => GgufValue::Bool(true),
                [b] => return Err(self.error(format!("bool byte is {b}, not 0 or 1"))),
            },
            8 => GgufValue::String(self.string("a string")?),
            9 => self.array_value(depth)?,
            10 => GgufValue::U64(self.u64("a u64")?),
            11 => GgufValue::I64(i64::from_le_bytes(self.array("an i64")?)),
            12 => GgufValue::F64(f64::from_le_bytes(self.array("an f64")?)),
            other => return Err(self.error(format!("unknown value type {other}"))),
        })
    }

    /// An array value: `u32` element type, `u64` count, the elements.
    fn array_value(&mut self, depth: usize) -> Result<GgufValue> {
        if depth >= MAX_ARRAY_DEPTH {
            return Err(self.error(format!("arrays nested more than {MAX_ARRAY_DEPTH} deep")));
        }
        let elem_type = self.u32("the array element type")?;
        let count = self.u64("the array length")?;
        let min_size = match elem_type {
            0 | 1 | 7 => 1,
            2 | 3 => 2,
            4..=6 => 4,
            8 | 10..=12 => 8,
            9 => 12,
            other => return Err(self.error(format!("unknown array element type {other}"))),
        };
        self.check_count(count, min_size, "array elements")?;
        let mut items = Vec::with_capacity(count as usize);
        for _ in 0..count {
            items.push(self.value(elem_type, depth + 1)?);
        }
        Ok(GgufValue::Array(items))
    }
}
