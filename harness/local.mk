# harness/: the lmlab command.
bin_PROGRAMS += lmlab
lmlab_SOURCES = \
	harness/lmlab.c \
	harness/lm-cli.h \
	harness/cmd-corpus.c \
	harness/lm-json.c harness/lm-json.h \
	$(NULL)
lmlab_LDADD = $(LMLAB_LIBS)
