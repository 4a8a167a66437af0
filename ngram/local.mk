# ngram/: count-based models (issue 3).
liblmlab_a_SOURCES += \
	ngram/lm-ngram-table.c ngram/lm-ngram-table.h \
	ngram/lm-ngram-estimate.c ngram/lm-ngram-estimate.h \
	$(NULL)
