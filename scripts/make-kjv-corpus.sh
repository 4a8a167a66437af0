#!/bin/sh
# Make lmlab's default corpus: the King James Bible from Debian's bible-kjv package as
# plain text, one verse per line, with the verse references ("Ge1:1 ") stripped.
# Usage: make-kjv-corpus.sh [BIBLE-PROGRAM] OUTPUT
# The output is generated at build time and never committed.
set -eu
if [ $# -eq 2 ]; then bible=$1; out=$2; else bible=bible; out=$1; fi
if ! command -v "$bible" >/dev/null 2>&1; then
  echo "make-kjv-corpus: '$bible' not found: apt-get install bible-kjv" >&2
  exit 1
fi
tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT
# `bible -f` prints "Ref text" per verse; some verses wrap onto continuation lines that
# begin with whitespace. Join those, strip the reference, squeeze spaces.
"$bible" -f Gen1:1-Rev22:21 </dev/null | awk '
  /^[^ \t]/ { if (verse != "") print verse; sub(/^[^ ]+ +/, ""); verse = $0; next }
  { sub(/^[ \t]+/, ""); verse = verse " " $0 }
  END { if (verse != "") print verse }
' | sed -e 's/[[:space:]]\+/ /g' -e 's/ $//' > "$tmp"
lines=$(wc -l < "$tmp")
if [ "$lines" -lt 30000 ]; then
  echo "make-kjv-corpus: only $lines verses came out of '$bible'; expected 31,102" >&2
  exit 1
fi
mv "$tmp" "$out"
trap - EXIT
echo "make-kjv-corpus: wrote $out ($lines verses)" >&2
