# bench/: benchmark scripts; results are recorded in docs/benchmarks.md. The C programs
# are built from the model folders' local.mk (noinst) and distributed as their sources.
EXTRA_DIST += \
	bench/check-bleu-nltk.py \
	bench/ngram-ptb.sh \
	bench/recurrent-agree.py \
	bench/recurrent-speed.sh \
	bench/transformer-speed.sh \
	bench/transformer-torch-check.py \
	$(NULL)
