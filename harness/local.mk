# harness/: the lmlab command.
bin_PROGRAMS += lmlab
lmlab_SOURCES = \
	harness/lmlab.c \
	harness/lm-cli.h \
	harness/cmd-corpus.c \
	harness/lm-json.c harness/lm-json.h \
	harness/cmd-model.c \
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
