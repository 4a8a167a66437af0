#!/bin/sh
# transformer-speed.sh — training throughput of lmlab's transformer against the PyTorch
# peer (../shared/peers/torch_lm.py), B1 and B2 of BENCHMARKS.md, in the same run:
# the two alternate, REPEATS times each, and the medians and their ratio are printed.
#
#   bench/transformer-speed.sh [BUILD_DIR]        (default: the current directory)
#
# Environment: REPEATS (3), B1_STEPS (150), B2_STEPS (40), SHARED (../shared beside the
# source tree), PYTHON (/usr/bin/python3), LMLAB_THREADS (0 = all cores, split as
# data-parallel workers), OPENBLAS_CORETYPE (passed through to both sides).
# When BUILD_DIR/bench/sgemm-peak exists, the medians are also given as a fraction of the
# BLAS's 2000x2000 sgemm rate on all cores (the higher of two measurements, before and
# after each benchmark's runs), in the peer's training FLOPs per token (BENCHMARKS.md's
# "model FLOPs").
# The peer runs in its best setting on 2 cores: --threads 1 --blas-threads 2.
# Output: one line per run, then a summary table; exit 77 when a corpus is missing.
set -eu

build=${1:-.}
here=$(cd "$(dirname "$0")" && pwd)
lmlab="$build/lmlab"
python=${PYTHON:-/usr/bin/python3}
repeats=${REPEATS:-3}
b1_steps=${B1_STEPS:-150}
b2_steps=${B2_STEPS:-40}
threads=${LMLAB_THREADS:-0}
shared=${SHARED:-}
if [ -z "$shared" ]; then
  for c in "$here/../../shared" "$here/../../../shared"; do
    [ -d "$c/data" ] && shared=$(cd "$c" && pwd) && break
  done
fi
tiny="$shared/data/tinyshakespeare/input.txt"
ptb="$shared/data/ptb"
peer="$shared/peers/torch_lm.py"
for f in "$tiny" "$ptb/ptb.train.txt" "$peer"; do
  [ -f "$f" ] || { echo "SKIP: $f not found (set SHARED)"; exit 77; }
done
[ -x "$lmlab" ] || { echo "no $lmlab: pass the build directory"; exit 2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# a small validation file keeps lmlab's final evaluation short (it is not timed either way)
head -c 20000 "$ptb/ptb.valid.txt" > "$tmp/ptb-valid.txt"
tail -c 5000 "$tiny" > "$tmp/tiny-valid.txt"

json_field () { "$python" -c "import json,sys; print(json.load(sys.stdin)[sys.argv[1]])" "$1"; }

b1_lmlab () {
  "$lmlab" train --model transformer --train "$tiny" --valid "$tmp/tiny-valid.txt" --level char \
    --set layers=4 --set heads=4 --set d=128 --set context=64 --set batch=12 \
    --set optimizer=adamw --set lr=1e-3 --set beta2=0.99 --set weight_decay=0.1 --set clip=1 \
    --set schedule=cosine --set warmup=100 --set min_lr=1e-4 --set decay_steps=2000 \
    --set steps="$b1_steps" --set threads="$threads" -o "$tmp/b1" --force --json -q
}
b1_torch () {
  "$python" "$peer" --model transformer --data "$tiny" --level char --layers 4 --heads 4 \
    --hidden 128 --ctx 64 --batch 12 --optimizer adamw --lr 1e-3 --beta2 0.99 --clip 1 \
    --schedule cosine --warmup 100 --min-lr 1e-4 --decay-steps 2000 --steps "$b1_steps" \
    --no-eval --threads 1 --blas-threads 2 --json 2>/dev/null
}
b2_lmlab () {
  "$lmlab" train --model transformer --train "$ptb/ptb.train.txt" --valid "$tmp/ptb-valid.txt" \
    --level word --set layers=2 --set heads=4 --set d=200 --set context=35 --set batch=20 \
    --set optimizer=adam --set lr=1e-3 --set clip=5 --set steps="$b2_steps" \
    --set threads="$threads" -o "$tmp/b2" --force --json -q
}
b2_torch () {
  "$python" "$peer" --model transformer --data "$ptb/ptb.train.txt" "$ptb/ptb.valid.txt" \
    --level word --layers 2 --heads 4 --hidden 200 --ctx 35 --batch 20 --optimizer adam \
    --lr 1e-3 --clip 5 --steps "$b2_steps" --no-eval --threads 1 --blas-threads 2 --json \
    2>/dev/null
}

median () { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "# commit $(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo unknown); $("$lmlab" --version 2>&1 | tail -n 1)"
echo "# OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}; lmlab threads=$threads; torch --threads 1 --blas-threads 2"
# the sgemm peak, before and after each benchmark's runs: the higher of the two is the
# denominator, so that one slow instant does not inflate "% of peak"
sgemm_peak () {
  [ -x "$build/bench/sgemm-peak" ] || return 0
  "$build/bench/sgemm-peak" --square-only "$(nproc)" | awk -F'|' '/square/ { print $3 + 0 }'
}
for bench in b1 b2; do
  peak=$(sgemm_peak)
  : > "$tmp/$bench-lmlab"
  : > "$tmp/$bench-torch"
  i=0
  while [ "$i" -lt "$repeats" ]; do
    i=$((i + 1))
    "${bench}_lmlab" > "$tmp/out.json"
    l=$(json_field train_tokens_per_s < "$tmp/out.json")
    lr=$(json_field peak_rss_mib < "$tmp/out.json")
    "${bench}_torch" > "$tmp/out.json"
    t=$(json_field train_tokens_per_s < "$tmp/out.json")
    tr=$(json_field peak_rss_mib < "$tmp/out.json")
    flops=$(json_field train_flops_per_token < "$tmp/out.json")
    echo "$l" >> "$tmp/$bench-lmlab"
    echo "$t" >> "$tmp/$bench-torch"
    printf '%s run %d: lmlab %.0f tokens/s (peak RSS %.0f MiB), torch %.0f tokens/s (peak RSS %.0f MiB), ratio %.2f\n' \
      "$bench" "$i" "$l" "$lr" "$t" "$tr" "$(echo "$l $t" | awk '{ print $1 / $2 }')"
  done
  ml=$(median < "$tmp/$bench-lmlab")
  mt=$(median < "$tmp/$bench-torch")
  printf '%s median: lmlab %.0f tokens/s, torch %.0f tokens/s, ratio %.2f\n' "$bench" "$ml" "$mt" \
    "$(echo "$ml $mt" | awk '{ print $1 / $2 }')"
  if [ -n "$peak" ]; then
    after=$(sgemm_peak)
    echo "# $bench: sgemm peak on $(nproc) threads $peak GFLOP/s before the runs, $after after"
    peak=$(echo "$peak $after" | awk '{ print ($1 > $2) ? $1 : $2 }')
    echo "$ml $mt $flops $peak" | awk -v b="$bench" '{ printf "%s of the sgemm peak (%.2f MFLOP/token): lmlab %.0f%%, torch %.0f%%; 2x torch would need %.0f%%\n", b, $3 / 1e6, 100 * $1 * $3 / 1e9 / $4, 100 * $2 * $3 / 1e9 / $4, 200 * $2 * $3 / 1e9 / $4 }'
  fi
done
