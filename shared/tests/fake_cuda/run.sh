#!/usr/bin/env bash
# Runs the GPU parity tests (tests/cuda_parity.rs) with no GPU: fake_cuda.cpp
# stands in for libcuda.so and runs our kernels on the CPU, while the real
# NVRTC (from the nvidia-cuda-nvrtc-cu12 wheel) compiles them. This checks the
# kernels' arithmetic and every launch the Rust side makes (argument types,
# grid sizes, buffer offsets); it says nothing about speed.
#
#   bash shared/tests/fake_cuda/run.sh            # from the workspace root: every test
#   bash shared/tests/fake_cuda/run.sh block_weights   # only the tests matching a filter
#
# .ci/run runs the kernel-compile test and the block-weights test (a tiny family with
# Q8_0/Q4_0/Q4_1 weights: the dequantization kernels), a few minutes; the whole file
# takes far longer on 2 cores (each emulated GPU thread is an OS thread).
#
# Needs g++ (C++20) and pip (or NVRTC_LIB_DIR pointing at a libnvrtc.so.12). The NVRTC
# wheel is unpacked once into the cache ($RFS_HOME, else ~/.cache/reasoning-from-scratch-rs).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
work="${FAKE_CUDA_DIR:-$root/target/fake_cuda}"
mkdir -p "$work/lib"

echo "== build the fake libcuda.so"
g++ -std=c++20 -O2 -shared -fPIC -pthread "$here/fake_cuda.cpp" -o "$work/lib/libcuda.so"

if [ -z "${NVRTC_LIB_DIR:-}" ]; then
    cache="${RFS_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/reasoning-from-scratch-rs}/nvrtc-12.9.86"
    NVRTC_LIB_DIR="$cache/nvidia/cuda_nvrtc/lib"
    if [ ! -e "$NVRTC_LIB_DIR/libnvrtc.so.12" ]; then
        echo "== fetch NVRTC (pip wheel nvidia-cuda-nvrtc-cu12, ~90 MB, once, into $cache)"
        tmp="$cache.partial"
        rm -rf "$tmp"
        pip download --no-deps -q -d "$tmp/wheel" "nvidia-cuda-nvrtc-cu12==12.9.86"
        python3 -m zipfile -e "$tmp"/wheel/nvidia_cuda_nvrtc_cu12-*.whl "$tmp"
        rm -rf "$tmp/wheel" "$cache"
        mv "$tmp" "$cache"
    fi
fi

echo "== GPU parity tests on the emulated GPU"
cd "$root"
LD_LIBRARY_PATH="$work/lib:$NVRTC_LIB_DIR" RFS_REQUIRE_GPU=1 \
    cargo test -q -p shared --features cuda --test cuda_parity --test cuda_kernels_compile -- --test-threads 2 "$@"
