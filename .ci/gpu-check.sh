#!/usr/bin/env bash
# The GPU checks, for a machine with an NVIDIA GPU, its driver and NVRTC
# (e.g. LD_LIBRARY_PATH=/usr/local/cuda/lib64). Run from the workspace root,
# with ../shared (fixtures) beside it:
#   bash .ci/gpu-check.sh
# 1. parity: tiny fixtures and SmolLM2 on the GPU against the CPU and PyTorch
#    (RFS_REQUIRE_GPU=1: no GPU is a failure, not a skip);
# 2. every chapter's demo with --device cuda;
# 3. tokens/s of SmolLM2-135M and the Qwen3-0.6B shape, with the GPU's name.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never RFS_REQUIRE_GPU=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true

echo "== GPU parity tests"
cargo test --release -p shared --features cuda --test cuda_parity --test cuda_kernels_compile

echo "== chapter demos on the GPU"
for ch in ch01 ch02 ch03 ch04 ch05; do
    echo "-- $ch"
    cargo run --release -q -p "$ch" --features shared/cuda -- --device cuda
done

echo "== tokens/s"
cargo bench -p shared --features cuda --bench gpu_decode -- f32
