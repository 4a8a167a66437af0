# transformer/: the GPT-style decoder (lm_transformer_class).
liblmlab_a_SOURCES += \
	transformer/lm-transformer.c transformer/lm-transformer.h \
	transformer/transformer-block.c transformer/transformer-block.h \
	$(NULL)
