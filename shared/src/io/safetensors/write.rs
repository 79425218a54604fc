//! Writing f32 tensors as a safetensors file (the format is described in the parent module).

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::Path;

use serde_json::{json, Map, Value};

use crate::io::write_atomically_with;
use crate::{Error, Result};

/// f32 values converted to bytes per write, so the whole tensor is never copied at once.
const CHUNK: usize = 16 * 1024;

/// Writes `tensors` (`(name, shape, row-major values)`, stored in this order) as F32
/// little-endian, with `metadata` as the header's `__metadata__` (left out when empty).
///
/// The header is padded with spaces to a multiple of 8 bytes, as the format
/// recommends, so the data starts aligned. The file is written atomically (see
/// [`write_atomically_with`]). A repeated name, or values that do not fill their shape,
/// is an [`Error::InvalidArgument`] naming the tensor and `path`.
pub fn write_safetensors_f32(
    path: &Path,
    tensors: &[(&str, &[usize], &[f32])],
    metadata: &BTreeMap<String, String>,
) -> Result<()> {
    let header = header_bytes(path, tensors, metadata)?;
    write_atomically_with(path, |out| {
        out.write_all(&(header.len() as u64).to_le_bytes())?;
        out.write_all(&header)?;
        for (_, _, values) in tensors {
            write_f32_le(out, values)?;
        }
        Ok(())
    })
}

/// The JSON header, padded with spaces to a multiple of 8 bytes.
fn header_bytes(
    path: &Path,
    tensors: &[(&str, &[usize], &[f32])],
    metadata: &BTreeMap<String, String>,
) -> Result<Vec<u8>> {
    let bad = |name: &str, problem: String| {
        Error::InvalidArgument(format!(
            "{}: cannot write tensor `{name}`: {problem}",
            path.display()
        ))
    };
    let mut header = Map::new();
    if !metadata.is_empty() {
        header.insert("__metadata__".into(), json!(metadata));
    }
    let mut seen = HashSet::new();
    let mut offset = 0usize;
    for &(name, shape, values) in tensors {
        if name == "__metadata__" || !seen.insert(name) {
            return Err(bad(name, "the name is reserved or repeated".into()));
        }
        let elements = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
        if elements != Some(values.len()) {
            return Err(bad(
                name,
                format!("shape {shape:?} does not hold {} values", values.len()),
            ));
        }
        let end = offset + values.len() * 4;
        header.insert(
            name.to_string(),
            json!({"dtype": "F32", "shape": shape, "data_offsets": [offset, end]}),
        );
        offset = end;
    }
    let mut bytes = serde_json::to_vec(&Value::Object(header))
        .map_err(|e| Error::InvalidArgument(format!("{}: header: {e}", path.display())))?;
    bytes.resize(bytes.len().next_multiple_of(8), b' ');
    Ok(bytes)
}

/// Writes `values` as little-endian f32 bytes, a chunk at a time.
fn write_f32_le(out: &mut dyn Write, values: &[f32]) -> std::io::Result<()> {
    let mut buffer = Vec::with_capacity(CHUNK * 4);
    for chunk in values.chunks(CHUNK) {
        buffer.clear();
        buffer.extend(chunk.iter().flat_map(|v| v.to_le_bytes()));
        out.write_all(&buffer)?;
    }
    Ok(())
}
