# gru/: the GRU cell and class (issue 4).
liblmlab_a_SOURCES += \
	gru/lm-gru-cell.c gru/lm-gru-cell.h \
	gru/lm-gru.c gru/lm-gru.h \
	$(NULL)
