# scripts/: the default corpus, made at build time from Debian's bible-kjv package.
dist_noinst_SCRIPTS += scripts/make-kjv-corpus.sh scripts/install-deps.sh scripts/quickstart.sh

if HAVE_BIBLE
all-local: data/kjv.txt
endif

data/kjv.txt: $(srcdir)/scripts/make-kjv-corpus.sh
	$(AM_V_GEN)$(MKDIR_P) data && $(SHELL) $(srcdir)/scripts/make-kjv-corpus.sh $(BIBLE) data/kjv.txt

CLEANFILES += data/kjv.txt

# Install the default corpus with the program when it was made.
install-data-local:
	if test -f data/kjv.txt; then \
	  $(MKDIR_P) "$(DESTDIR)$(pkgdatadir)" && \
	  $(INSTALL_DATA) data/kjv.txt "$(DESTDIR)$(pkgdatadir)/kjv.txt"; \
	fi
uninstall-local:
	rm -f "$(DESTDIR)$(pkgdatadir)/kjv.txt"
