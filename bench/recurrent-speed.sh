#!/bin/sh
# recurrent-speed.sh — training throughput of lmlab's rnn, lstm and gru against the
# PyTorch peer (../shared/peers/torch_lm.py) on BENCHMARKS.md's B1 and B2, in the same
# run: the two sides alternate, REPEATS times each, and the table gives medians.
#
#   bench/recurrent-speed.sh [-r REPEATS] [-m "rnn lstm gru"] [-b "B1 B2"] [-o OUT_DIR]
#
# Run from the build directory (it uses ./lmlab). Environment: SHARED (default
# ../shared, holding data/ and peers/), PYTHON (default /usr/bin/python3), STEPS_B1
# (200), STEPS_B2 (150). Both sides get the same BLAS kernel (whatever OPENBLAS_CORETYPE
# says, or OpenBLAS's own choice) and the same 2 cores; lmlab runs with threads=1 and
# threads=2, PyTorch with its best settings (--threads 1 and --blas-threads 1 or 2).
# Raw JSON lines go to OUT_DIR (default bench/out/recurrent-speed). When bench/sgemm-peak
# is built, the best medians are also given as a fraction of the BLAS's 2000x2000 sgemm
# rate on all cores (the higher of two measurements, before and after the runs), in the
# peer's training FLOPs per token.
set -eu

REPEATS=3
MODELS="rnn lstm gru"
BENCHES="B1 B2"
OUT=bench/out/recurrent-speed
while getopts r:m:b:o: opt; do
  case $opt in
    r) REPEATS=$OPTARG ;;
    m) MODELS=$OPTARG ;;
    b) BENCHES=$OPTARG ;;
    o) OUT=$OPTARG ;;
    *) echo "usage: $0 [-r REPEATS] [-m MODELS] [-b BENCHES] [-o OUT_DIR]" >&2; exit 2 ;;
  esac
done
SHARED=${SHARED:-../shared}
PYTHON=${PYTHON:-/usr/bin/python3}
STEPS_B1=${STEPS_B1:-200}
STEPS_B2=${STEPS_B2:-150}
PEER=$SHARED/peers/torch_lm.py
SHAKESPEARE=$SHARED/data/tinyshakespeare/input.txt
PTB=$SHARED/data/ptb
for f in ./lmlab "$PEER" "$SHAKESPEARE" "$PTB/ptb.train.txt"; do
  test -e "$f" || { echo "$0: $f not found (run from the build directory; set SHARED)" >&2; exit 1; }
done
"$PYTHON" -c 'import torch' 2>/dev/null || { echo "$0: PyTorch missing: apt-get install python3-torch" >&2; exit 1; }
mkdir -p "$OUT"
RAW=$OUT/raw.jsonl
: > "$RAW"
# the sgemm peak, before and after the runs: the higher of the two is the denominator,
# so that one slow instant does not inflate "% peak"
sgemm_peak () {
  if [ -x bench/sgemm-peak ]; then
    bench/sgemm-peak --square-only "$(nproc)" | awk -F'|' '/square/ { print $3 + 0 }'
  else
    echo 0
  fi
}
PEAK=$(sgemm_peak)

# lmlab_args BENCH MODEL: the --set list of the configuration
lmlab_args () {
  case $1 in
    B1) echo "--train $SHAKESPEARE --level char --set layers=2 --set hidden=128 --set emb=128" \
             "--set context=50 --set batch=50 --set optimizer=adam --set lr=2e-3 --set clip=5" \
             "--set steps=$STEPS_B1 --set eval_tokens=2000" ;;
    # B2 is the LSTM's configuration; the rnn and the gru diverge at its lr=1 within the
    # first 40 steps (the gru at 0.5 does not), which changes no speed but warns
    B2) lr=1; test "$2" = rnn && lr=0.1; test "$2" = gru && lr=0.5
        echo "--train $PTB/ptb.train.txt --valid $PTB/ptb.valid.txt --level word --set layers=2" \
             "--set hidden=200 --set emb=200 --set context=20 --set batch=20 --set optimizer=sgd" \
             "--set lr=$lr --set loss_reduction=sum_time --set clip=5 --set steps=$STEPS_B2" \
             "--set eval_tokens=2000" ;;
  esac
}
torch_args () {
  case $1 in
    B1) echo "--data $SHAKESPEARE --level char --layers 2 --hidden 128 --emb 128 --ctx 50" \
             "--batch 50 --optimizer adam --lr 2e-3 --clip 5 --steps $STEPS_B1 --no-eval" ;;
    B2) lr=1; test "$2" = rnn && lr=0.1; test "$2" = gru && lr=0.5
        echo "--data $PTB/ptb.train.txt $PTB/ptb.valid.txt --level word --layers 2 --hidden 200" \
             "--emb 200 --ctx 20 --batch 20 --optimizer sgd --lr $lr --clip 5" \
             "--steps $STEPS_B2 --no-eval" ;;
  esac
}
# record BENCH MODEL SIDE JSON: one line of the raw log
record () {
  printf '{"bench":"%s","model":"%s","side":"%s","result":%s}\n' "$1" "$2" "$3" "$4" >> "$RAW"
}
tps () {
  "$PYTHON" -c 'import json,sys; print(json.loads(sys.stdin.read())["train_tokens_per_s"])'
}

for bench in $BENCHES; do
  for model in $MODELS; do
    for rep in $(seq "$REPEATS"); do
      for side in lmlab-t1 torch-b1 lmlab-t2 torch-b2; do
        case $side in
          lmlab-t*) threads=${side#lmlab-t}
                    # shellcheck disable=SC2046
                    json=$(./lmlab train --model "$model" $(lmlab_args "$bench" "$model") \
                           --set threads="$threads" -o "$OUT/model-$bench-$model" --force --json -q \
                           | tr -d '\n') ;;
          torch-b*) blas=${side#torch-b}
                    # shellcheck disable=SC2046
                    json=$("$PYTHON" "$PEER" --model "$model" $(torch_args "$bench" "$model") \
                           --threads 1 --blas-threads "$blas" --json 2>/dev/null) ;;
        esac
        record "$bench" "$model" "$side" "$json"
        echo "$bench $model $side #$rep: $(echo "$json" | tps) tokens/s" >&2
      done
    done
  done
done

AFTER=$(sgemm_peak)
echo "sgemm peak on $(nproc) threads: $PEAK GFLOP/s before the runs, $AFTER after" >&2
PEAK=$(echo "$PEAK $AFTER" | awk '{ print ($1 > $2) ? $1 : $2 }')

# the table: median tokens/s per side, and lmlab's best over PyTorch's best
"$PYTHON" - "$RAW" "$PEAK" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
peak = float(sys.argv[2])
runs = {}
for r in rows:
    runs.setdefault((r["bench"], r["model"]), {}).setdefault(r["side"], []).append(r["result"]["train_tokens_per_s"])
kernel = next((r["result"].get("blas_kernel") for r in rows if r["side"].startswith("lmlab")), "?")
flops = {(r["bench"], r["model"]): r["result"]["train_flops_per_token"] for r in rows if r["side"].startswith("torch")}
print(f"training tokens/s, median of {max(len(v) for s in runs.values() for v in s.values())} runs; OpenBLAS kernel {kernel}")
if peak > 0:
    print(f"% peak: best median x the peer's training FLOPs per token / sgemm peak {peak} GFLOP/s")
print()
print("| bench | model | lmlab threads=1 | lmlab threads=2 | torch blas 1 | torch blas 2 | best lmlab / best torch |"
      + (" lmlab % peak | torch % peak | 2x torch needs |" if peak > 0 else ""))
print("| --- | --- | ---: | ---: | ---: | ---: | ---: |" + (" ---: | ---: | ---: |" if peak > 0 else ""))
for (bench, model), sides in runs.items():
    med = {s: statistics.median(v) for s, v in sides.items()}
    best_l = max(med.get("lmlab-t1", 0), med.get("lmlab-t2", 0))
    best_t = max(med.get("torch-b1", 0), med.get("torch-b2", 0))
    cells = " | ".join(f"{med.get(s, float('nan')):,.0f}" for s in ("lmlab-t1", "lmlab-t2", "torch-b1", "torch-b2"))
    util = ""
    if peak > 0:
        f = flops[(bench, model)] / 1e9 / peak * 100
        util = f" {best_l * f:.0f}% | {best_t * f:.0f}% | {2 * best_t * f:.0f}% |"
    print(f"| {bench} | {model} | {cells} | {best_l / best_t:.2f}x |{util}")
PY
