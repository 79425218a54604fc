#!/bin/bash
# ch05 train --objective <each> --steps 2 on the default model, every step updating
cd /work/main
for o in basic clipped clip-ratio plus-kl plus-format-reward olmo3 deepseek-v32 gdpo; do
  rm -rf /work/runs/objectives/$o
  extra="--format-weight 0.5"
  case $o in plus-format-reward|gdpo) extra="";; esac
  s=$(date +%s.%N)
  ./target/debug/ch05 train --objective $o --steps 2 --group 4 --max-new-tokens 32 --eval-n 4 --eval-every 0 --temperature 1.0 --no-skip-zero-advantage $extra --out /work/runs/objectives/$o > /work/runs/objectives/$o.log 2>&1
  rc=$?
  e=$(date +%s.%N)
  echo "$o rc=$rc $(echo "$e - $s" | bc) s"
done
