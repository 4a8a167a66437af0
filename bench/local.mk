# bench/: benchmark scripts; results are recorded in docs/benchmarks.md. The C programs
# are built from the model folders' local.mk (noinst) and distributed as their sources.
EXTRA_DIST += \
	bench/check-bleu-nltk.py \
	bench/ngram-ptb.sh \
	bench/recurrent-agree.py \
	bench/recurrent-quality.sh \
	bench/recurrent-speed.sh \
	bench/transformer-speed.sh \
	bench/transformer-torch-check.py \
	$(NULL)

# bench/sgemm-peak: the BLAS's GFLOP/s on a large square product and on B2's output layer,
# the yardstick for "fraction of the sgemm peak" in docs/benchmarks.md.
noinst_PROGRAMS += bench/sgemm-peak
bench_sgemm_peak_SOURCES = bench/sgemm-peak.c
bench_sgemm_peak_LDADD = $(LMLAB_LIBS)
