//! Read-only memory maps of model files, so multi-gigabyte weights are paged in
//! on demand instead of copied into memory.

use crate::{Error, Result};
use memmap2::Mmap;
use std::fs::File;
use std::ops::Range;
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

/// Pages are released in whole units of this many bytes, a multiple of every page size
/// in use (4 KiB, 16 KiB, 64 KiB), so the advice never touches a page partly outside
/// `range`.
const RELEASE_ALIGN: usize = 64 * 1024;

/// Tells the kernel this process no longer needs bytes `range` of `map` (a tensor just
/// copied out of it): their pages leave the process's resident set, so a model loaded
/// by copying never holds the file twice. The pages stay in the page cache and are read
/// again if the range is touched later. Only whole aligned units inside `range` are
/// released; a failure is ignored (the advice only saves memory).
pub(crate) fn release(map: &Mmap, range: Range<usize>) {
    let start = range.start.next_multiple_of(RELEASE_ALIGN);
    let end = range.end.min(map.len()) / RELEASE_ALIGN * RELEASE_ALIGN;
    if start >= end {
        return;
    }
    #[cfg(unix)]
    // SAFETY: the map is private and read-only: dropping its pages discards nothing,
    // and a later read of them faults the file's bytes back in.
    let _ = unsafe {
        map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, start, end - start)
    };
}
