# tests/: one GTest program per module, run under automake's TAP driver with glibc's
# heap checks (MALLOC_CHECK_, a random MALLOC_PERTURB_; see tests/run-test.sh).
LOG_DRIVER = env AM_TAP_AWK='$(AWK)' $(SHELL) $(top_srcdir)/build-aux/tap-driver.sh
LOG_COMPILER = $(SHELL) $(top_srcdir)/tests/run-test.sh
AM_TESTS_ENVIRONMENT = \
	G_TEST_SRCDIR=$(abs_top_srcdir)/tests \
	G_TEST_BUILDDIR=$(abs_top_builddir)/tests \
	LMLAB_SHARED_DATA=$${LMLAB_SHARED_DATA:-$(abs_top_srcdir)/../shared/data} \
	LMLAB_BIN=$(abs_top_builddir)/lmlab \
	$(NULL)
EXTRA_DIST += tests/run-test.sh tests/data tests/lm-test-util.h

lm_test_programs = \
	tests/test-rng \
	tests/test-config \
	tests/test-vocab \
	tests/test-corpus \
	tests/test-model \
	tests/test-cli \
	$(NULL)
lm_test_programs += \
	tests/test-sample \
	tests/test-eval \
	$(NULL)
check_PROGRAMS += $(lm_test_programs)
TESTS += $(lm_test_programs)

tests_test_rng_LDADD = $(LMLAB_LIBS)
tests_test_config_LDADD = $(LMLAB_LIBS)
tests_test_vocab_LDADD = $(LMLAB_LIBS)
tests_test_corpus_LDADD = $(LMLAB_LIBS)
tests_test_model_LDADD = $(LMLAB_LIBS)
tests_test_cli_LDADD = $(LMLAB_LIBS)
tests_test_cli_DEPENDENCIES = lmlab liblmlab.a
check_PROGRAMS += tests/test-checkpoint
TESTS += tests/test-checkpoint
tests_test_checkpoint_LDADD = $(LMLAB_LIBS)
tests_test_sample_LDADD = $(LMLAB_LIBS)
tests_test_eval_LDADD = $(LMLAB_LIBS)
lm_test_programs += tests/test-ops tests/test-params tests/test-optim
tests_test_ops_LDADD = $(LMLAB_LIBS)
tests_test_params_LDADD = $(LMLAB_LIBS)
tests_test_optim_LDADD = $(LMLAB_LIBS)
lm_test_programs += tests/test-train
tests_test_train_LDADD = $(LMLAB_LIBS)
tests_test_train_SOURCES = tests/test-train.c tests/lm-test-model.c tests/lm-test-model.h
lm_test_programs += tests/test-textmetrics
tests_test_textmetrics_LDADD = $(LMLAB_LIBS)
tests_test_textmetrics_DEPENDENCIES = lmlab liblmlab.a
check_PROGRAMS += tests/test-ngram
TESTS += tests/test-ngram
tests_test_ngram_LDADD = $(LMLAB_LIBS)
lm_test_programs += tests/test-recurrent
tests_test_recurrent_LDADD = $(LMLAB_LIBS)
lm_test_programs += tests/test-transformer
tests_test_transformer_LDADD = $(LMLAB_LIBS)
lm_test_programs += tests/test-compare
tests_test_compare_LDADD = $(LMLAB_LIBS)
tests_test_compare_SOURCES = tests/test-compare.c tests/lm-test-model.c tests/lm-test-model.h
tests_test_compare_DEPENDENCIES = lmlab liblmlab.a
lm_test_programs += tests/test-smallgemm
tests_test_smallgemm_LDADD = $(LMLAB_LIBS)
