#!/bin/sh
# Generate configure and Makefile.in from configure.ac and Makefile.am.
set -e
srcdir=$(dirname "$0")
cd "$srcdir"
autoreconf --force --install --verbose >/dev/null
echo "autogen: now run ./configure"
