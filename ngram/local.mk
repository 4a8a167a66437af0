# ngram/: count-based models (issue 3).
liblmlab_a_SOURCES += \
	ngram/lm-ngram.c ngram/lm-ngram.h \
	ngram/lm-ngram-table.c ngram/lm-ngram-table.h \
	ngram/lm-ngram-estimate.c ngram/lm-ngram-estimate.h \
	ngram/lm-ngram-arpa.c ngram/lm-ngram-arpa.h \
	ngram/lm-ngram-prune.c ngram/lm-ngram-prune.h \
	$(NULL)
