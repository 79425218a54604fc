#!/usr/bin/env bash
# Decode speed of ours vs the speed anchors in ../shared/bench, in one run on one machine,
# rounds interleaved so drift hits every engine alike; 2 threads. Compare ratios, not
# absolute numbers. Three models:
#   1. SmolLM2-135M Q4_1 (the default): PyTorch eager f32, llama.cpp, ours (release, dev)
#   2. Qwen2.5-Coder-0.5B Q4_K_M (the reasoning model): llama.cpp, ours (release)
#   3. Qwen3-0.6B's shape, random bf16 weights: the book's own Qwen3Model (KV cache, bf16),
#      ours in bf16 and with --quantize q8_0
# Each line: tokens/s of 128 new tokens (ours: best of 3, with peak RSS in KB).
#
#   python3 -m venv ~/anchor-torch && ~/anchor-torch/bin/pip install torch transformers gguf accelerate safetensors reasoning-from-scratch==0.2.0
#   python3 -m venv ~/anchor-llama && ~/anchor-llama/bin/pip install llama-cpp-python
#   ~/anchor-torch/bin/python ../shared/bench/qwen3_06b_random.py ~/qwen3-06b-random ../shared/fixtures/tokenizers/qwen3
#   cargo run -p ch02 -- tokenize --model qwen2.5-coder-0.5b-instruct --text hi   # fetch once
#   cargo build --release -p ch02 && cargo build -p ch02
#   bash ch02/benches/anchors.sh [ROUNDS]
set -u
cd "$(dirname "$0")/../.."
CACHE=${RFS_HOME:-$HOME/.cache/reasoning-from-scratch-rs}
SMOL=$CACHE/smollm2-135m-instruct
QWEN25=$CACHE/qwen2.5-coder-0.5b-instruct/Qwen2.5-Coder-0.5B-Instruct-Q4_K_M.gguf
QWEN3=${RFS_QWEN3_SHAPE:-$HOME/qwen3-06b-random}
QWEN3_IDS=3838,374,220,16,17,3039,220,22,30
PROMPT=$'Question: What is 12 times 7?\nAnswer:'
BENCH=../shared/bench
ROUNDS=${1:-2}

# ours BINARY ARGS...: best of 3 runs of `generate ARGS --max-new-tokens 128 --ignore-eos`.
ours() {
    local bin=$1
    shift
    local best=0 rss=0
    for _ in 1 2 3; do
        local line
        line=$(/usr/bin/time -f "%M" "$bin" generate "$@" --max-new-tokens 128 --ignore-eos --json \
            2>/tmp/anchors-ours.err | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["tok_per_s"], 1))')
        rss=$(tail -1 /tmp/anchors-ours.err)
        best=$(python3 -c "print(max($best, ${line:-0}))")
    done
    echo "tok/s $best  peak_rss_kb=$rss"
}

uptime
for round in $(seq 1 "$ROUNDS"); do
    echo "== round $round"
    echo "-- SmolLM2-135M: PyTorch eager f32"; ~/anchor-torch/bin/python "$BENCH/anchor_torch.py" "$SMOL" 2 2>/dev/null | tail -1
    echo "-- SmolLM2-135M: llama.cpp"; ~/anchor-llama/bin/python "$BENCH/anchor_llamacpp.py" "$SMOL/SmolLM2-135M-Instruct.Q4_1.gguf" 2 2>/dev/null | tail -1
    echo "-- SmolLM2-135M: ours, release"; ours target/release/ch02 --prompt "$PROMPT" --no-chat
    echo "-- SmolLM2-135M: ours, dev profile"; ours target/debug/ch02 --prompt "$PROMPT" --no-chat
    if [ -f "$QWEN25" ]; then
        echo "-- Qwen2.5-Coder-0.5B Q4_K_M: llama.cpp"; ~/anchor-llama/bin/python "$BENCH/anchor_llamacpp.py" "$QWEN25" 2 2>/dev/null | tail -1
        echo "-- Qwen2.5-Coder-0.5B Q4_K_M: ours, release"; ours target/release/ch02 --model "$QWEN25" --prompt "$PROMPT" --no-chat
    fi
    if [ -f "$QWEN3/model.safetensors" ]; then
        echo "-- Qwen3-0.6B shape: the book's Qwen3Model, bf16"
        ~/anchor-torch/bin/python "$BENCH/qwen3_book_cpu.py" "$QWEN3" "$QWEN3_IDS" 128 2 2>/dev/null | tail -1 \
            | python3 -c 'import json,sys; print("book tok/s", json.load(sys.stdin)["book_tok_per_s"])'
        echo "-- Qwen3-0.6B shape: ours, bf16"; ours target/release/ch02 --model "$QWEN3" --ids "$QWEN3_IDS"
        echo "-- Qwen3-0.6B shape: ours, --quantize q8_0"; ours target/release/ch02 --model "$QWEN3" --ids "$QWEN3_IDS" --quantize q8_0
    fi
done
uptime
