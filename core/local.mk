# core/: the shared interface and everything models share.
liblmlab_a_SOURCES += \
	core/lm-error.c core/lm-error.h \
	core/lm-rng.c core/lm-rng.h \
	core/lm-config.c core/lm-config.h \
	core/lm-vocab.c core/lm-vocab.h \
	core/lm-corpus.c core/lm-corpus.h \
	core/lm-model.c core/lm-model.h \
	core/lm-registry.c core/lm-registry.h \
	core/lm-blas.c core/lm-blas.h \
	$(NULL)
liblmlab_a_SOURCES += core/lm-checkpoint.c core/lm-checkpoint.h
liblmlab_a_SOURCES += \
	core/lm-sample.c core/lm-sample.h \
	core/lm-eval.c core/lm-eval.h \
	$(NULL)
liblmlab_a_SOURCES += \
	core/lm-ops.c core/lm-ops.h \
	core/lm-params.c core/lm-params.h \
	core/lm-optim.c core/lm-optim.h \
	core/lm-parallel.c core/lm-parallel.h \
	core/lm-memory.c core/lm-memory.h \
	$(NULL)
liblmlab_a_SOURCES += core/lm-train.c core/lm-train.h
liblmlab_a_SOURCES += core/lm-ops-simd.h
liblmlab_a_SOURCES += core/lm-smallgemm.c core/lm-smallgemm.h
