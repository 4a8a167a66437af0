#!/bin/sh
# Install what lmlab needs to build, test and run on Debian 12 (as root, or with sudo).
#   build:  gcc, make, autoconf, automake, pkg-config, GLib 2 (>= 2.74), OpenBLAS
#   run:    gnuplot (figures), bible-kjv (the default corpus)
set -eu
packages="build-essential autoconf automake pkg-config libglib2.0-dev libopenblas-dev gnuplot-nox bible-kjv"
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
missing=""
for p in $packages; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -z "$missing" ]; then
  echo "install-deps: all packages present"
  exit 0
fi
echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends $missing
