//! Read-only memory maps of model files, so multi-gigabyte weights are paged in
//! on demand instead of copied into memory.

use crate::{Error, Result};
use memmap2::Mmap;
use std::fs::File;
use std::path::Path;

/// Map the regular file at `path` read-only.
///
/// The map stays valid while the file is unchanged; a model file that another
/// process truncates while we read it can crash the program (SIGBUS), as with
/// every memory-mapped reader (llama.cpp, safetensors, gguf-py).
pub(crate) fn map_file(path: &Path) -> Result<Mmap> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let meta = file.metadata().map_err(|e| Error::io(path, e))?;
    if !meta.is_file() {
        return Err(Error::format(path, "not a regular file"));
    }
    // SAFETY: the map is read-only and private to this process; the only hazard
    // is the file changing underneath us, documented above.
    unsafe { Mmap::map(&file) }.map_err(|e| Error::io(path, e))
}
