#!/bin/sh
# recurrent-quality.sh — validation loss of lmlab's rnn, lstm and gru against the PyTorch
# peer (../shared/peers/torch_lm.py) after the same training wall-clock on BENCHMARKS.md's
# B1 (tinyshakespeare, characters, 2 layers, hidden 128, BPTT 50, batch 50, Adam 2e-3,
# clip 5). BENCHMARKS.md's reference: 112 s, the time PyTorch's transformer takes for its
# 2000 steps.
#
#   bench/recurrent-quality.sh [-s SECONDS] [-m "rnn lstm gru"] [-n SEEDS] [-f FIRST] [-c]
#                              [-o OUT_DIR] [-r]
#
#   -s SECONDS  training wall-clock of each run (default 112)
#   -m MODELS   which models (default "rnn lstm gru")
#   -n SEEDS    runs per side and budget, seeds 1..SEEDS on both sides (default 1); the
#               table gives each side's mean and how many seeds lmlab won (paired by seed)
#   -f FIRST    number the seeds from FIRST (default 1), to add seeds to an earlier run:
#               concatenate the raw.jsonl files into one folder and summarise it with -r
#   -c          a curve: also train for SECONDS/8, /4 and /2 (separate runs, from scratch,
#               on both sides), and plot validation loss against training seconds
#               (OUT_DIR/curve.png, when gnuplot is installed)
#   -o OUT_DIR  raw results (raw.jsonl), trained models and the figure
#               (default bench/out/recurrent-quality)
#   -r          train nothing: summarise OUT_DIR/raw.jsonl again (and redraw the figure)
#
# Example, the rnn's curve with three seeds (about 25 minutes on 2 cores):
#   SHARED=../../shared sh ../bench/recurrent-quality.sh -m rnn -n 3 -c -o /tmp/rq
#
# Run from the build directory (it uses ./lmlab). Environment: SHARED (default ../shared),
# PYTHON (default /usr/bin/python3). Each side trains for SECONDS of training time (its
# own clock: evaluation and checkpoints are not counted on either side), then scores the
# whole validation text as one stream, every character with its whole history, in nats
# per character: lmlab's `eval`, and the peer with --eval-batch 1. (Until session 14 the
# peer scored 50 streams, each starting from a zero state, which cost it 0.001-0.003
# nats/char against lmlab's one stream.) lmlab runs with threads=2, PyTorch with --threads 1 --blas-threads 2
# (each side's fastest B1 setting on 2 cores, recurrent-speed.sh). The two sides run one
# after the other for each model, so run this on an otherwise idle machine: a side that
# shares the cores with another job trains on fewer tokens.
set -eu

SECONDS_BUDGET=112
MODELS="rnn lstm gru"
SEEDS=1
CURVE=0
OUT=bench/out/recurrent-quality
REPORT_ONLY=0
FIRST_SEED=1
usage="usage: $0 [-s SECONDS] [-m MODELS] [-n SEEDS] [-f FIRST] [-c] [-o OUT_DIR] [-r]"
while getopts s:m:n:f:co:r opt; do
  case $opt in
    s) SECONDS_BUDGET=$OPTARG ;;
    m) MODELS=$OPTARG ;;
    n) SEEDS=$OPTARG ;;
    f) FIRST_SEED=$OPTARG ;;
    c) CURVE=1 ;;
    o) OUT=$OPTARG ;;
    r) REPORT_ONLY=1 ;;
    *) echo "$usage" >&2; exit 2 ;;
  esac
done
case $SEEDS in
  '' | *[!0-9]* | 0) echo "$0: -n wants a whole number of seeds, 1 or more (got '$SEEDS')" >&2; exit 2 ;;
esac
case $FIRST_SEED in
  '' | *[!0-9]*) echo "$0: -f wants a whole number (got '$FIRST_SEED')" >&2; exit 2 ;;
esac
SHARED=${SHARED:-../shared}
PYTHON=${PYTHON:-/usr/bin/python3}
RAW=$OUT/raw.jsonl
if [ "$REPORT_ONLY" = 1 ]; then
  test -s "$RAW" || { echo "$0: -r: no results in $RAW" >&2; exit 1; }
else
  PEER=$SHARED/peers/torch_lm.py
  SHAKESPEARE=$SHARED/data/tinyshakespeare/input.txt
  for f in ./lmlab "$PEER" "$SHAKESPEARE"; do
    test -e "$f" || { echo "$0: $f not found (run from the build directory; set SHARED)" >&2; exit 1; }
  done
  "$PYTHON" -c 'import torch' 2>/dev/null || { echo "$0: PyTorch missing: apt-get install python3-torch" >&2; exit 1; }
  BUDGETS=$("$PYTHON" -c "import sys; s=float(sys.argv[1]); assert s > 0; \
  print(' '.join(f'{s*f:g}' for f in ((0.125, 0.25, 0.5, 1) if sys.argv[2] == '1' else (1,))))" \
    "$SECONDS_BUDGET" "$CURVE") || { echo "$0: -s wants a positive number of seconds" >&2; exit 2; }
  mkdir -p "$OUT"
  : > "$RAW"

  for model in $MODELS; do
    for budget in $BUDGETS; do
      seed=$FIRST_SEED
      while [ "$seed" -lt $((FIRST_SEED + SEEDS)) ]; do
        echo "B1 $model, ${budget} s, seed $seed: PyTorch" >&2
        json=$("$PYTHON" "$PEER" --model "$model" --data "$SHAKESPEARE" --level char --layers 2 \
               --hidden 128 --emb 128 --ctx 50 --batch 50 --optimizer adam --lr 2e-3 --clip 5 \
               --steps 1000000000 --time-budget "$budget" --threads 1 --blas-threads 2 \
               --eval-batch 1 --seed "$seed" --json 2>/dev/null)
        printf '{"model":"%s","side":"torch","budget":%s,"seed":%s,"result":%s}\n' \
          "$model" "$budget" "$seed" "$json" >> "$RAW"
        echo "B1 $model, ${budget} s, seed $seed: lmlab" >&2
        # eval_tokens only shortens the per-epoch checks; the final score covers all of valid
        json=$(./lmlab train --model "$model" --train "$SHAKESPEARE" --level char --set layers=2 \
               --set hidden=128 --set emb=128 --set context=50 --set batch=50 --set optimizer=adam \
               --set lr=2e-3 --set clip=5 --set seconds="$budget" --set eval_tokens=2000 \
               --set threads=2 --set seed="$seed" -o "$OUT/model-$model-$budget-$seed" --force \
               --json -q | tr -d '\n')
        printf '{"model":"%s","side":"lmlab","budget":%s,"seed":%s,"result":%s}\n' \
          "$model" "$budget" "$seed" "$json" >> "$RAW"
        seed=$((seed + 1))
      done
    done
  done
fi

"$PYTHON" - "$RAW" "$OUT" <<'PY'
import json, os, shutil, subprocess, sys
from statistics import mean
raw, out = sys.argv[1], sys.argv[2]
runs = {}
for line in open(raw):
    r = json.loads(line)
    runs.setdefault((r["model"], r["budget"]), {}).setdefault(r["side"], {})[r["seed"]] = r["result"]

def fmt(xs):
    return " / ".join(f"{x:.4f}" for x in xs)

print("B1, validation nats/char (whole validation text), each side trained for the budget")
print("on its own clock; means over seeds, steps are means too")
print()
print("| model | budget s | seeds | lmlab steps | lmlab valid | PyTorch steps | PyTorch valid "
      "| lmlab − PyTorch (means) | seeds lmlab lower |")
print("| --- | ---: | ---: | ---: | --- | ---: | --- | ---: | ---: |")
for (model, budget), s in runs.items():
    seeds = sorted(set(s["lmlab"]) & set(s["torch"]))
    l = [s["lmlab"][k] for k in seeds]
    t = [s["torch"][k] for k in seeds]
    lv, tv = [r["valid_loss"] for r in l], [r["valid_loss"] for r in t]
    wins = sum(a < b for a, b in zip(lv, tv))
    many = len(seeds) > 1
    print(f"| {model} | {budget:g} | {len(seeds)} | {mean(r['steps'] for r in l):,.0f} | "
          f"{mean(lv):.4f}{' (' + fmt(lv) + ')' if many else ''} | "
          f"{mean(r['steps'] for r in t):,.0f} | "
          f"{mean(tv):.4f}{' (' + fmt(tv) + ')' if many else ''} | "
          f"{mean(lv) - mean(tv):+.4f} | {wins} of {len(seeds)} |")

budgets = sorted({b for (_, b) in runs})
if len(budgets) > 1:
    # The model each side would keep if it validated at these same wall-clock checkpoints
    # and kept the best (early stopping), seed by seed: the runs at smaller budgets are the
    # first seconds of the longer ones (same seed, same batches), so this is one training
    # run per seed looked at several times.
    print()
    print("Best validation loss over the budgets up to each one (the same checkpoints on both "
          "sides)")
    print()
    print("| model | up to s | lmlab best | PyTorch best | lmlab − PyTorch (means) "
          "| seeds lmlab lower |")
    print("| --- | ---: | --- | --- | ---: | ---: |")
    for m in sorted({m for (m, _) in runs}):
        best = {"lmlab": {}, "torch": {}}
        for b in budgets:
            s = runs.get((m, b))
            if s is None:
                continue
            for side in best:
                for k, r in s[side].items():
                    best[side][k] = min(best[side].get(k, float("inf")), r["valid_loss"])
            seeds = sorted(set(best["lmlab"]) & set(best["torch"]))
            lv = [best["lmlab"][k] for k in seeds]
            tv = [best["torch"][k] for k in seeds]
            wins = sum(a < b2 for a, b2 in zip(lv, tv))
            many = len(seeds) > 1
            print(f"| {m} | {b:g} | {mean(lv):.4f}{' (' + fmt(lv) + ')' if many else ''} | "
                  f"{mean(tv):.4f}{' (' + fmt(tv) + ')' if many else ''} | "
                  f"{mean(lv) - mean(tv):+.4f} | {wins} of {len(seeds)} |")

    dat = os.path.join(out, "curve.dat")
    models = sorted({m for (m, _) in runs})
    with open(dat, "w") as f:
        f.write("# budget_s  lmlab_mean_valid  torch_mean_valid  (one block per model, two blank "
                "lines apart)\n")
        for m in models:
            f.write(f"# {m}\n")
            for b in budgets:
                s = runs.get((m, b))
                if s is None:
                    continue
                f.write(f"{b:g}\t{mean(r['valid_loss'] for r in s['lmlab'].values()):.6f}\t"
                        f"{mean(r['valid_loss'] for r in s['torch'].values()):.6f}\n")
            f.write("\n\n")
    plots = []
    for i, m in enumerate(models):
        plots.append(f"'curve.dat' index {i} using 1:2 with linespoints lw 2 pt 7 title 'lmlab {m}'")
        plots.append(f"'curve.dat' index {i} using 1:3 with linespoints lw 2 pt 5 dt 2 "
                     f"title 'PyTorch {m}'")
    gp = os.path.join(out, "curve.gp")
    with open(gp, "w") as f:
        f.write("# Written by bench/recurrent-quality.sh; re-render: gnuplot curve.gp in this folder\n"
                "set terminal pngcairo size 1000,600 noenhanced font 'DejaVu Sans,13'\n"
                "set output 'curve.png'\n"
                "set title 'B1 validation loss after the same training wall-clock'\n"
                "set xlabel 'training seconds (log scale)'\nset ylabel 'validation nats/char'\n"
                "set logscale x 2\nset grid\nset key top right\n"
                "set xtics (" + ", ".join(f"{b:g}" for b in budgets) + ")\n"
                f"set xrange [{budgets[0] / 1.3:g}:{budgets[-1] * 1.3:g}]\n"
                "plot " + ", \\\n     ".join(plots) + "\n")
    gnuplot = shutil.which("gnuplot")
    if gnuplot and subprocess.run([gnuplot, "curve.gp"], cwd=out).returncode == 0:
        print(f"\nfigure: {os.path.join(out, 'curve.png')} (data curve.dat, script curve.gp)")
    else:
        print(f"\nfigure not drawn (gnuplot missing or failed); data in {dat}, script {gp}")
PY
