//! Helpers for the io tests: a self-deleting temp folder and byte-level writers
//! for small safetensors and GGUF files (so tests can build valid files and
//! then corrupt exactly one thing).

#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A fresh folder under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    /// A new empty folder whose name holds `tag`, the process id and a counter.
    pub fn new(tag: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("rfs-io-{tag}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Write `bytes` to `name` inside the folder and return its path.
    pub fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A safetensors file from a JSON header (as text) and a data buffer.
pub fn safetensors_raw(header: &str, data: &[u8]) -> Vec<u8> {
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(data);
    bytes
}

/// A well-formed safetensors file holding `tensors` (name, dtype, shape, data bytes), packed in order.
pub fn safetensors_file(tensors: &[(&str, &str, &[usize], &[u8])]) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    header.insert("__metadata__".into(), serde_json::json!({"format": "pt"}));
    let mut data = Vec::new();
    for (name, dtype, shape, bytes) in tensors {
        let begin = data.len();
        data.extend_from_slice(bytes);
        header.insert(
            name.to_string(),
            serde_json::json!({"dtype": dtype, "shape": shape, "data_offsets": [begin, data.len()]}),
        );
    }
    safetensors_raw(&serde_json::Value::Object(header).to_string(), &data)
}

/// A GGUF string: u64 length + bytes.
pub fn gguf_string(s: &str) -> Vec<u8> {
    let mut bytes = (s.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(s.as_bytes());
    bytes
}

/// One GGUF tensor info: name, dims (innermost first), ggml type id, data offset.
pub struct TensorInfo<'a> {
    pub name: &'a str,
    pub dims: Vec<u64>,
    pub ggml_type: u32,
    pub offset: u64,
}

/// A GGUF file: header, `kvs` (key, value type id, encoded value), tensor infos,
/// padding to 32 bytes, then `data`.
pub fn gguf_file(
    version: u32,
    kvs: &[(&str, u32, Vec<u8>)],
    tensors: &[TensorInfo],
    data: &[u8],
) -> Vec<u8> {
    let mut bytes = b"GGUF".to_vec();
    bytes.extend(version.to_le_bytes());
    bytes.extend((tensors.len() as u64).to_le_bytes());
    bytes.extend((kvs.len() as u64).to_le_bytes());
    for (key, type_id, value) in kvs {
        bytes.extend(gguf_string(key));
        bytes.extend(type_id.to_le_bytes());
        bytes.extend(value);
    }
    for t in tensors {
        bytes.extend(gguf_string(t.name));
        bytes.extend((t.dims.len() as u32).to_le_bytes());
        for d in &t.dims {
            bytes.extend(d.to_le_bytes());
        }
        bytes.extend(t.ggml_type.to_le_bytes());
        bytes.extend(t.offset.to_le_bytes());
    }
    bytes.resize(bytes.len().div_ceil(32) * 32, 0);
    bytes.extend_from_slice(data);
    bytes
}

/// A valid GGUF with one string, one u32 and one F32 tensor `w` of dims [4, 2] holding 0..8.
pub fn small_gguf() -> Vec<u8> {
    let data: Vec<u8> = (0..8).flat_map(|x| (x as f32).to_le_bytes()).collect();
    gguf_file(3, &small_kvs(), &[small_tensor()], &data)
}

/// The metadata of [`small_gguf`].
pub fn small_kvs() -> Vec<(&'static str, u32, Vec<u8>)> {
    vec![
        ("general.architecture", 8, gguf_string("llama")),
        ("llama.block_count", 4, 2u32.to_le_bytes().to_vec()),
    ]
}

/// The tensor info of [`small_gguf`].
pub fn small_tensor() -> TensorInfo<'static> {
    TensorInfo {
        name: "w",
        dims: vec![4, 2],
        ggml_type: 0,
        offset: 0,
    }
}
