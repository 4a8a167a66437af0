# transformer/: the GPT-style decoder (lm_transformer_class).
liblmlab_a_SOURCES += \
	transformer/lm-transformer.c transformer/lm-transformer.h \
	transformer/transformer-block.c transformer/transformer-block.h \
	$(NULL)

# bench/transformer-step: the training step alone, for profiling (not installed)
noinst_PROGRAMS += bench/transformer-step
bench_transformer_step_SOURCES = bench/transformer-step.c
bench_transformer_step_LDADD = $(LMLAB_LIBS)

# bench/transformer-dump: loss and gradients of one batch on given weights, for
# bench/transformer-torch-check.py
noinst_PROGRAMS += bench/transformer-dump
bench_transformer_dump_SOURCES = bench/transformer-dump.c
bench_transformer_dump_LDADD = $(LMLAB_LIBS)
