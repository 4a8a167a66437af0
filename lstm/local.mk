# lstm/: the LSTM cell and class (issue 4).
liblmlab_a_SOURCES += \
	lstm/lm-lstm-cell.c lstm/lm-lstm-cell.h \
	lstm/lm-lstm.c lstm/lm-lstm.h \
	$(NULL)
