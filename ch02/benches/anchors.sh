#!/usr/bin/env bash
# Decode speed of ours vs the speed anchors in ../shared/bench, in one run on one machine:
# PyTorch eager f32 and (if installed) llama.cpp, then ours in release and dev builds,
# 128 new tokens after the anchors' prompt, 2 threads. Compare ratios, not absolute numbers.
#
#   python3 -m venv ~/anchor-torch && ~/anchor-torch/bin/pip install torch transformers gguf accelerate
#   python3 -m venv ~/anchor-llama && ~/anchor-llama/bin/pip install llama-cpp-python   # optional
#   cargo build --release -p ch02 && cargo build -p ch02
#   bash ch02/benches/anchors.sh
set -u
cd "$(dirname "$0")/../.."
GGUF_DIR=${RFS_HOME:-$HOME/.cache/reasoning-from-scratch-rs}/smollm2-135m-instruct
PROMPT=$'Question: What is 12 times 7?\nAnswer:'
BENCH=../shared/bench

ours() {
    for _ in 1 2 3; do
        /usr/bin/time -f "peak_rss_kb=%M" "$1" generate --prompt "$PROMPT" --max-new-tokens 128 --ignore-eos --json \
            2>/tmp/anchors-ours.err | python3 -c 'import json,sys; print("tok/s", round(json.load(sys.stdin)["tok_per_s"], 1), end="  ")'
        grep -o "peak_rss_kb=[0-9]*" /tmp/anchors-ours.err
    done
}

uptime
for round in 1 2; do
    echo "== round $round"
    echo "-- PyTorch eager f32"; ~/anchor-torch/bin/python "$BENCH/anchor_torch.py" "$GGUF_DIR" 2 2>/dev/null | tail -1
    if [ -x ~/anchor-llama/bin/python ]; then
        echo "-- llama.cpp"; ~/anchor-llama/bin/python "$BENCH/anchor_llamacpp.py" "$GGUF_DIR/SmolLM2-135M-Instruct.Q4_1.gguf" 2 2>/dev/null | tail -1
    fi
    echo "-- ours, release"; ours target/release/ch02
    echo "-- ours, dev profile"; ours target/debug/ch02
done
uptime
