# rnn/: the stacked recurrent model every recurrent class shares, and the Elman cell (issue 4).
liblmlab_a_SOURCES += \
	rnn/lm-recurrent.c rnn/lm-recurrent.h \
	rnn/lm-rnn-cell.c rnn/lm-rnn-cell.h \
	rnn/lm-rnn.c rnn/lm-rnn.h \
	$(NULL)

# bench/recurrent-agree: dumps weights, batches, losses and gradients for
# bench/recurrent-agree.py, which checks them against PyTorch.
noinst_PROGRAMS += bench/recurrent-agree
bench_recurrent_agree_SOURCES = bench/recurrent-agree.c
bench_recurrent_agree_LDADD = $(LMLAB_LIBS)
