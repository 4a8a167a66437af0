#!/bin/sh
# recurrent-quality.sh — validation loss of lmlab's rnn, lstm and gru against the PyTorch
# peer (../shared/peers/torch_lm.py) after the same training wall-clock on BENCHMARKS.md's
# B1 (tinyshakespeare, characters, 2 layers, hidden 128, BPTT 50, batch 50, Adam 2e-3,
# clip 5). BENCHMARKS.md's reference: 112 s, the time PyTorch's transformer takes for its
# 2000 steps.
#
#   bench/recurrent-quality.sh [-s SECONDS] [-m "rnn lstm gru"] [-o OUT_DIR]
#
# Run from the build directory (it uses ./lmlab). Environment: SHARED (default ../shared),
# PYTHON (default /usr/bin/python3). Each side trains for SECONDS of training time (its
# own clock: evaluation and checkpoints are not counted on either side), then scores the
# whole validation text as 50 streams with the state carried across BPTT windows, in
# nats per character. lmlab runs with threads=2, PyTorch with --threads 1 --blas-threads 2
# (each side's fastest B1 setting on 2 cores, recurrent-speed.sh). The two sides run one
# after the other for each model, so run this on an otherwise idle machine: a side that
# shares the cores with another job trains on fewer tokens.
set -eu

SECONDS_BUDGET=112
MODELS="rnn lstm gru"
OUT=bench/out/recurrent-quality
while getopts s:m:o: opt; do
  case $opt in
    s) SECONDS_BUDGET=$OPTARG ;;
    m) MODELS=$OPTARG ;;
    o) OUT=$OPTARG ;;
    *) echo "usage: $0 [-s SECONDS] [-m MODELS] [-o OUT_DIR]" >&2; exit 2 ;;
  esac
done
SHARED=${SHARED:-../shared}
PYTHON=${PYTHON:-/usr/bin/python3}
PEER=$SHARED/peers/torch_lm.py
SHAKESPEARE=$SHARED/data/tinyshakespeare/input.txt
for f in ./lmlab "$PEER" "$SHAKESPEARE"; do
  test -e "$f" || { echo "$0: $f not found (run from the build directory; set SHARED)" >&2; exit 1; }
done
"$PYTHON" -c 'import torch' 2>/dev/null || { echo "$0: PyTorch missing: apt-get install python3-torch" >&2; exit 1; }
mkdir -p "$OUT"
RAW=$OUT/raw.jsonl
: > "$RAW"

for model in $MODELS; do
  echo "B1 $model: PyTorch, ${SECONDS_BUDGET} s" >&2
  json=$("$PYTHON" "$PEER" --model "$model" --data "$SHAKESPEARE" --level char --layers 2 \
         --hidden 128 --emb 128 --ctx 50 --batch 50 --optimizer adam --lr 2e-3 --clip 5 \
         --steps 1000000000 --time-budget "$SECONDS_BUDGET" --threads 1 --blas-threads 2 \
         --json 2>/dev/null)
  printf '{"model":"%s","side":"torch","result":%s}\n' "$model" "$json" >> "$RAW"
  echo "B1 $model: lmlab, ${SECONDS_BUDGET} s" >&2
  # eval_tokens only shortens the per-epoch checks; the final score covers all of valid
  json=$(./lmlab train --model "$model" --train "$SHAKESPEARE" --level char --set layers=2 \
         --set hidden=128 --set emb=128 --set context=50 --set batch=50 --set optimizer=adam \
         --set lr=2e-3 --set clip=5 --set seconds="$SECONDS_BUDGET" --set eval_tokens=2000 \
         --set threads=2 -o "$OUT/model-$model" --force --json -q | tr -d '\n')
  printf '{"model":"%s","side":"lmlab","result":%s}\n' "$model" "$json" >> "$RAW"
done

"$PYTHON" - "$RAW" "$SECONDS_BUDGET" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
by = {}
for r in rows:
    by.setdefault(r["model"], {})[r["side"]] = r["result"]
print(f"B1, {sys.argv[2]} s of training each; validation nats/char (whole validation text)")
print()
print("| model | lmlab steps | lmlab train s | lmlab valid | PyTorch steps | PyTorch train s | PyTorch valid | lmlab − PyTorch |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for model, s in by.items():
    l, t = s["lmlab"], s["torch"]
    print(f"| {model} | {l['steps']} | {l['train_seconds']:.1f} | {l['valid_loss']:.4f} | "
          f"{t['steps']} | {t['train_time_s']:.1f} | {t['valid_loss']:.4f} | "
          f"{l['valid_loss'] - t['valid_loss']:+.4f} |")
PY
