//! Matrix–vector kernels: a plain scalar version beside each SIMD one.
