#!/usr/bin/env python3
"""Compare `lmlab metrics bleu|rouge` with reference implementations on random data.

    python3 bench/check-bleu-nltk.py [--lmlab BUILD/lmlab] [--seed 1] [--corpora 20]

BLEU is compared with NLTK's nltk.translate.bleu_score.corpus_bleu (Debian:
apt-get install python3-nltk; use the system /usr/bin/python3 if another python3 comes
first on PATH) for max-n 1..4, no smoothing, method1 (= --smooth floor) and method3
(= --smooth exp), one and two references. sacreBLEU and rouge-score are used when
importable; otherwise the script compares with short transcriptions of their published
algorithms below (sacrebleu/metrics/bleu.py compute_bleu, rouge_score/rouge_scorer.py
_score_ngrams and _score_lcs), and says so. The C test suite does not need any of this.

Prints the largest absolute difference per comparison and exits 1 if any exceeds
5e-5 (agreement to 4 decimal places).
"""
import argparse
import collections
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import warnings

try:
    from nltk.translate.bleu_score import SmoothingFunction, corpus_bleu
    import nltk
except ImportError:
    sys.exit("check-bleu-nltk: NLTK not found: apt-get install python3-nltk and run this "
             "with /usr/bin/python3")

try:
    import sacrebleu  # noqa: F401
    HAVE_SACREBLEU = True
except ImportError:
    HAVE_SACREBLEU = False
try:
    from rouge_score import rouge_scorer  # noqa: F401
    HAVE_ROUGE_SCORE = True
except ImportError:
    HAVE_ROUGE_SCORE = False

TOLERANCE = 5e-5


def random_pair(rng, vocab):
    """A reference and a noisy copy of it: substitutions, deletions, insertions,
    and now and then a much shorter or an empty hypothesis."""
    ref = [rng.choice(vocab) for _ in range(rng.randint(1, 25))]
    hyp = []
    for word in ref:
        r = rng.random()
        if r < 0.15:
            hyp.append(rng.choice(vocab))
        elif r < 0.25:
            continue
        elif r < 0.32:
            hyp.extend([word, rng.choice(vocab)])
        else:
            hyp.append(word)
    r = rng.random()
    if r < 0.05:
        hyp = []
    elif r < 0.15:
        hyp = hyp[: rng.randint(0, 3)]
    return hyp, ref


def write_lines(path, sentences):
    with open(path, "w", encoding="utf-8") as f:
        for s in sentences:
            f.write(" ".join(s) + "\n")


def lmlab_json(binary, args):
    out = subprocess.run([binary, "metrics"] + args + ["--json"], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


# ---- transcriptions, used only when the real packages are absent ------------------

def ngram_counts(tokens, n):
    return collections.Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def sacrebleu_transcribed(hyps, refsets, max_n, smooth, eps=0.1, effective=False):
    """sacreBLEU's corpus statistics and compute_bleu, score in [0, 1]."""
    correct, total = [0] * max_n, [0] * max_n
    sys_len = ref_len = 0
    for hyp, refs in zip(hyps, refsets):
        sys_len += len(hyp)
        closest_diff = closest_len = None
        ref_ngrams = collections.Counter()
        for ref in refs:
            diff = abs(len(hyp) - len(ref))
            if closest_diff is None or diff < closest_diff:
                closest_diff, closest_len = diff, len(ref)
            elif diff == closest_diff and len(ref) < closest_len:
                closest_len = len(ref)
            for n in range(1, max_n + 1):
                for g, c in ngram_counts(ref, n).items():
                    ref_ngrams[g] = max(ref_ngrams[g], c)
        ref_len += closest_len
        for n in range(1, max_n + 1):
            for g, c in ngram_counts(hyp, n).items():
                correct[n - 1] += min(c, ref_ngrams.get(g, 0))
                total[n - 1] += c
    precisions = [0.0] * max_n
    smooth_mteval, eff_order = 1.0, max_n
    for n in range(1, max_n + 1):
        if total[n - 1] == 0:
            break
        if effective:
            eff_order = n
        if correct[n - 1] == 0:
            if smooth == "exp":
                smooth_mteval *= 2
                precisions[n - 1] = 1.0 / (smooth_mteval * total[n - 1])
            elif smooth == "floor":
                precisions[n - 1] = eps / total[n - 1]
        else:
            precisions[n - 1] = correct[n - 1] / total[n - 1]
    bp = 1.0 if sys_len >= ref_len else (math.exp(1 - ref_len / sys_len) if sys_len else 0.0)
    if any(p == 0 for p in precisions[:eff_order]):
        return 0.0
    return bp * math.exp(sum(math.log(p) for p in precisions[:eff_order]) / eff_order)


def fmeasure(p, r):
    return 2 * p * r / (p + r) if p + r > 0 else 0.0


def rouge_transcribed(hyps, refs):
    """rouge-score's rouge1/rouge2/rougeL per pair (whitespace tokens), macro mean."""
    sums = {k: [0.0, 0.0, 0.0] for k in ("rouge1", "rouge2", "rougeL")}
    for hyp, ref in zip(hyps, refs):
        scores = {}
        for n in (1, 2):
            t, p = ngram_counts(ref, n), ngram_counts(hyp, n)
            hits = sum(min(c, p[g]) for g, c in t.items())
            prec = hits / max(sum(p.values()), 1)
            rec = hits / max(sum(t.values()), 1)
            scores["rouge%d" % n] = (prec, rec, fmeasure(prec, rec))
        if not hyp or not ref:
            scores["rougeL"] = (0.0, 0.0, 0.0)
        else:
            table = [[0] * (len(hyp) + 1) for _ in range(len(ref) + 1)]
            for i in range(1, len(ref) + 1):
                for j in range(1, len(hyp) + 1):
                    table[i][j] = (table[i - 1][j - 1] + 1 if ref[i - 1] == hyp[j - 1]
                                   else max(table[i - 1][j], table[i][j - 1]))
            lcs = table[-1][-1]
            prec, rec = lcs / len(hyp), lcs / len(ref)
            scores["rougeL"] = (prec, rec, fmeasure(prec, rec))
        for k, v in scores.items():
            for i in range(3):
                sums[k][i] += v[i]
    return {k: [x / len(hyps) for x in v] for k, v in sums.items()}


class WhitespaceTokenizer:
    def tokenize(self, text):
        return text.split()


def rouge_score_real(hyps, refs):
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=False,
                                      tokenizer=WhitespaceTokenizer())
    sums = {k: [0.0, 0.0, 0.0] for k in ("rouge1", "rouge2", "rougeL")}
    for hyp, ref in zip(hyps, refs):
        s = scorer.score(" ".join(ref), " ".join(hyp))
        for k in sums:
            sums[k][0] += s[k].precision
            sums[k][1] += s[k].recall
            sums[k][2] += s[k].fmeasure
    return {k: [x / len(hyps) for x in v] for k, v in sums.items()}


def sacrebleu_real(hyps, refsets, max_n, smooth, eps=0.1, effective=False):
    from sacrebleu.metrics import BLEU
    n_refs = len(refsets[0])
    streams = [[" ".join(refs[k]) for refs in refsets] for k in range(n_refs)]
    bleu = BLEU(tokenize="none", smooth_method=smooth,
                smooth_value=eps if smooth == "floor" else None,
                max_ngram_order=max_n, effective_order=effective)
    return bleu.corpus_score([" ".join(h) for h in hyps], streams).score / 100


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lmlab", default=os.environ.get("LMLAB_BIN", "./lmlab"))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--corpora", type=int, default=20, help="random corpora of many lines")
    ap.add_argument("--lines", type=int, default=300, help="lines per corpus")
    ap.add_argument("--singles", type=int, default=300, help="one-line corpora")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    warnings.simplefilter("ignore")  # NLTK warns on every zero precision

    worst = collections.defaultdict(float)
    counts = collections.Counter()
    zero_bleu = 0
    cases = [(args.lines, rng.choice([6, 12, 30, 200])) for _ in range(args.corpora)]
    cases += [(1, rng.choice([3, 6, 12])) for _ in range(args.singles)]
    nltk_smooth = {"none": None, "floor": SmoothingFunction(epsilon=0.1).method1,
                   "exp": SmoothingFunction().method3}
    sacre = sacrebleu_real if HAVE_SACREBLEU else sacrebleu_transcribed
    rouge = rouge_score_real if HAVE_ROUGE_SCORE else rouge_transcribed
    with tempfile.TemporaryDirectory(prefix="lmlab-bleu-") as tmp:
        hyp_path, ref_path, ref2_path = (os.path.join(tmp, n) for n in
                                         ("hyp.txt", "ref.txt", "ref2.txt"))
        for n_lines, vocab_size in cases:
            vocab = ["w%d" % i for i in range(vocab_size)]
            pairs = [random_pair(rng, vocab) for _ in range(n_lines)]
            hyps = [h for h, _ in pairs]
            refs = [r for _, r in pairs]
            refs2 = [random_pair(rng, vocab)[0] or ["w0"] for _ in range(n_lines)]
            write_lines(hyp_path, hyps)
            write_lines(ref_path, refs)
            write_lines(ref2_path, refs2)
            for n_refs in (1, 2):
                refsets = [[r] for r in refs] if n_refs == 1 else \
                    [[a, b] for a, b in zip(refs, refs2)]
                ref_args = ["--ref", ref_path] + (["--ref", ref2_path] if n_refs == 2 else [])
                for max_n in (1, 2, 3, 4):
                    weights = (1.0 / max_n,) * max_n
                    for smooth, fn in nltk_smooth.items():
                        got = lmlab_json(args.lmlab, ["bleu", "--hyp", hyp_path, "--max-n",
                                                      str(max_n), "--smooth", smooth]
                                         + ref_args)["bleu"]
                        want = corpus_bleu(refsets, hyps, weights=weights,
                                           smoothing_function=fn)
                        key = "NLTK corpus_bleu, smoothing %s" % smooth
                        worst[key] = max(worst[key], abs(got - want))
                        counts[key] += 1
                        zero_bleu += want < 1e-12
                    for smooth in ("none", "exp", "floor"):
                        for effective in (False, True):
                            extra = ["--effective-order"] if effective else []
                            got = lmlab_json(args.lmlab, ["bleu", "--hyp", hyp_path,
                                                          "--max-n", str(max_n), "--smooth",
                                                          smooth, "--flavour", "sacrebleu"]
                                             + extra + ref_args)["bleu"]
                            want = sacre(hyps, refsets, max_n, smooth, effective=effective)
                            key = "sacreBLEU%s, smooth %s%s" % (
                                "" if HAVE_SACREBLEU else " (transcribed)", smooth,
                                ", effective order" if effective else "")
                            worst[key] = max(worst[key], abs(got - want))
                            counts[key] += 1
            got = lmlab_json(args.lmlab, ["rouge", "--hyp", hyp_path, "--ref", ref_path])
            want = rouge(hyps, refs)
            for k in ("rouge1", "rouge2", "rougeL"):
                for i, field in enumerate(("precision", "recall", "f1")):
                    key = "rouge-score%s %s %s" % (
                        "" if HAVE_ROUGE_SCORE else " (transcribed)", k, field)
                    worst[key] = max(worst[key], abs(got[k][field] - want[k][i]))
                    counts[key] += 1

    print("NLTK %s; sacreBLEU %s; rouge-score %s" % (
        nltk.__version__, "installed" if HAVE_SACREBLEU else "not installed (transcription)",
        "installed" if HAVE_ROUGE_SCORE else "not installed (transcription)"))
    print("%d corpora of %d lines and %d one-line corpora, seed %d; %d NLTK scores were 0"
          % (args.corpora, args.lines, args.singles, args.seed, zero_bleu))
    failed = False
    for key in sorted(worst):
        bad = worst[key] > TOLERANCE
        failed |= bad
        print("%-60s %6d scores, max |diff| %.3g%s" % (key, counts[key], worst[key],
                                                        "  FAIL" if bad else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
