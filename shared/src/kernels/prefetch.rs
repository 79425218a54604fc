//! Software prefetch for the streaming kernels.
//!
//! Decoding reads every weight once per token, straight from memory. The matrix–vector
//! kernels walk their rows a group at a time (four rows side by side), so the group a
//! couple of steps ahead is known in advance. [`prefetch_share`] asks for it a little
//! at a time: each block step requests the lines of the group ahead that correspond to
//! the block just read, so a steady stream of requests is in flight all along the
//! row. The hardware prefetcher alone leaves the kernels waiting; a burst of requests
//! for a whole group at its start (the first design) did too: Qwen2.5-0.5B Q4_K_M
//! decoding on one thread went from 10.0 to 12.5 tokens/s (medians of four runs) when
//! the burst became this spread.

use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};

/// How many groups of rows ahead the kernels prefetch.
pub(crate) const GROUPS_AHEAD: usize = 2;

/// Hints the CPU to load `items[at..at + len]` (clipped to `items`) into the cache, one
/// hint per 64-byte line; `at` is where the group [`GROUPS_AHEAD`] ahead starts plus
/// the offset of this step's share of it.
#[inline(always)]
pub(crate) fn prefetch_share<T>(items: &[T], at: usize, len: usize) {
    let per_line = (64 / size_of::<T>()).max(1);
    let end = (at + len).min(items.len());
    let mut i = at;
    while i < end {
        // SAFETY: `i < items.len()`, so the pointer lies inside `items`; a prefetch
        // hint never faults and reads nothing into the program.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(items.as_ptr().add(i).cast()) };
        i += per_line;
    }
}
