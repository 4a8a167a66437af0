#!/bin/sh
# One command from a fresh clone on Debian 12: install the dependencies (apt-get),
# generate the build system, configure and build in ./build, make the default corpus
# (King James Bible from the bible-kjv package) and run the main job on it: the default
# comparison of all five model families (about 3 minutes on 2 cores).
set -eu
cd "$(dirname "$0")/.."
scripts/install-deps.sh
[ -x configure ] || ./autogen.sh
mkdir -p build
cd build
[ -f Makefile ] || ../configure
make -j"$(nproc)"
echo
echo "== lmlab compare (the default comparison on the default corpus)"
./lmlab compare -o ../runs/kjv-default
