# harness/: the lmlab command.
bin_PROGRAMS += lmlab
lmlab_SOURCES = \
	harness/lmlab.c \
	harness/lm-cli.h \
	harness/cmd-corpus.c \
	$(NULL)
lmlab_LDADD = $(LMLAB_LIBS)
