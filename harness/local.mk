# harness/: the lmlab command.
bin_PROGRAMS += lmlab
lmlab_SOURCES = \
	harness/lmlab.c \
	harness/lm-cli.h \
	harness/cmd-corpus.c \
	harness/lm-json.c harness/lm-json.h \
	harness/cmd-model.c \
	harness/cmd-ngram.c \
	harness/lm-progress.c harness/lm-progress.h \
	$(NULL)
lmlab_LDADD = $(LMLAB_LIBS)

# The commit lmlab was built from, for environment stamps; rewritten only when it
# changes so that it does not force a rebuild.
BUILT_SOURCES += harness/lm-git.h
CLEANFILES += harness/lm-git.h
harness/lm-git.h: FORCE
	@$(MKDIR_P) harness; \
	commit=`git -C $(srcdir) describe --always --dirty 2>/dev/null || echo unknown`; \
	echo "#define LMLAB_GIT_COMMIT \"$$commit\"" > $@.tmp; \
	if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi
FORCE:
.PHONY: FORCE
lmlab_SOURCES += harness/cmd-metrics.c
liblmlab_a_SOURCES += harness/lm-textmetrics.c harness/lm-textmetrics.h

# lmlab compare / plot (issue 6): experiment files, running, interpolation, figures, report.
lmlab_SOURCES += harness/cmd-compare.c
liblmlab_a_SOURCES += \
	harness/lm-json.c \
	harness/lm-experiment.c harness/lm-experiment.h \
	harness/lm-run-result.c harness/lm-run-result.h \
	harness/lm-interpolate.c harness/lm-interpolate.h \
	harness/lm-compare.c harness/lm-compare.h \
	harness/lm-figures.c harness/lm-figures.h \
	harness/lm-report.c harness/lm-report.h \
	$(NULL)
# The built-in default experiment is examples/kjv-default.ini, compiled in as a string.
nodist_liblmlab_a_SOURCES = harness/lm-default-experiment.h
BUILT_SOURCES += harness/lm-default-experiment.h
CLEANFILES += harness/lm-default-experiment.h
harness/lm-default-experiment.h: $(srcdir)/examples/kjv-default.ini
	$(AM_V_GEN)$(MKDIR_P) harness && \
	sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/"/' -e 's/$$/\\n"/' $(srcdir)/examples/kjv-default.ini > $@.tmp && \
	mv $@.tmp $@
# Generated headers, also for `make lmlab` alone (BUILT_SOURCES covers only all/check).
harness/lm-experiment.$(OBJEXT): harness/lm-default-experiment.h
harness/lm-report.$(OBJEXT): harness/lm-git.h
