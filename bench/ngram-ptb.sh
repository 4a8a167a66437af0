#!/bin/sh
# bench/ngram-ptb.sh — PTB (B2) modified Kneser-Ney, order 5 (or $ORDER): estimation with
# ARPA output (wall time, peak RSS), then scoring the test set from the saved model.
# KenLM on this machine kind: lmplz -o 5 1.87 s / 227 MiB; query ~5.8 M tokens/s.
#
#   sh bench/ngram-ptb.sh [BUILD_DIR]     (default: .; needs ../shared/data/ptb)
#
# Prints one line per step; paste them with the command into docs/benchmarks.md.
set -eu
BUILD=${1:-.}
LMLAB=${LMLAB:-$BUILD/lmlab}
DATA=${DATA:-$(dirname "$0")/../../shared/data/ptb}
ORDER=${ORDER:-5}
OUT=$(mktemp -d "${TMPDIR:-/tmp}/lmlab-ngram-bench-XXXXXX")
trap 'rm -rf "$OUT"' EXIT INT TERM

for f in ptb.train.txt ptb.valid.txt ptb.test.txt; do
  [ -f "$DATA/$f" ] || { echo "ngram-ptb: $DATA/$f not found (set DATA=)" >&2; exit 77; }
done
echo "commit: $(git -C "$(dirname "$0")" rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"

# 1. estimation (counting, smoothing, saving) and ARPA output, as lmplz does both.
/usr/bin/time -f "train: %e s wall, %M KiB peak RSS" \
  "$LMLAB" train --model ngram --train "$DATA/ptb.train.txt" --set order="$ORDER" \
  --valid "$DATA/ptb.valid.txt" --set smoothing=mkn --no-eval -q -o "$OUT/model" >/dev/null
/usr/bin/time -f "export-arpa: %e s wall, %M KiB peak RSS" \
  "$LMLAB" ngram export-arpa "$OUT/model" "$OUT/model.arpa"
ls -l "$OUT/model.arpa" | awk '{ printf "arpa: %d bytes\n", $5 }'

# 2. scoring: perplexity of the test set (KenLM: 141.19 at order 5), three runs.
for run in 1 2 3; do
  /usr/bin/time -f "eval run $run: %e s wall, %M KiB peak RSS" \
    "$LMLAB" eval "$OUT/model" --test "$DATA/ptb.test.txt" --no-accuracy --json -q
done
# 2b. throughput on a longer stream: the 929,589 training tokens (load time excluded:
# eval_tokens_per_s times the scoring only).
for run in 1 2 3; do
  "$LMLAB" eval "$OUT/model" --test "$DATA/ptb.train.txt" --no-accuracy --json -q \
    | grep -E '"(perplexity|eval_tokens_per_s)"' | tr -d ' ,' | sed "s/^/train-set run $run: /"
done
# 3. the imported ARPA file scores the same.
"$LMLAB" ngram import-arpa "$OUT/model.arpa" -o "$OUT/imported" >/dev/null
"$LMLAB" eval "$OUT/imported" --test "$DATA/ptb.test.txt" --no-accuracy --json -q
