#!/usr/bin/env bash
# Runs the GPU parity tests (tests/cuda_parity.rs) with no GPU: fake_cuda.cpp
# stands in for libcuda.so and runs our kernels on the CPU, while the real
# NVRTC (from the nvidia-cuda-nvrtc-cu12 wheel) compiles them. This checks the
# kernels' arithmetic and every launch the Rust side makes (argument types,
# grid sizes, buffer offsets); it says nothing about speed.
#
#   bash shared/tests/fake_cuda/run.sh            # from the workspace root
#
# Needs g++ (C++20) and pip (or NVRTC_LIB_DIR pointing at a libnvrtc.so.12).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
work="${FAKE_CUDA_DIR:-$root/target/fake_cuda}"
mkdir -p "$work/lib"

echo "== build the fake libcuda.so"
g++ -std=c++20 -O2 -shared -fPIC -pthread "$here/fake_cuda.cpp" -o "$work/lib/libcuda.so"

if [ -z "${NVRTC_LIB_DIR:-}" ]; then
    NVRTC_LIB_DIR="$work/nvrtc/nvidia/cuda_nvrtc/lib"
    if [ ! -e "$NVRTC_LIB_DIR/libnvrtc.so.12" ]; then
        echo "== fetch NVRTC (pip wheel nvidia-cuda-nvrtc-cu12, ~90 MB, once)"
        pip download --no-deps -q -d "$work/wheel" "nvidia-cuda-nvrtc-cu12==12.9.86"
        python3 -m zipfile -e "$work"/wheel/nvidia_cuda_nvrtc_cu12-*.whl "$work/nvrtc"
    fi
fi

echo "== GPU parity tests on the emulated GPU"
cd "$root"
LD_LIBRARY_PATH="$work/lib:$NVRTC_LIB_DIR" RFS_REQUIRE_GPU=1 \
    cargo test -q -p shared --features cuda --test cuda_parity --test cuda_kernels_compile -- --test-threads 2
