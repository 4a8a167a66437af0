#!/bin/sh
# Run one GTest program for automake's TAP driver: TAP output, keep going after a
# failure, and glibc's heap checks with a random perturbation byte on every run.
MALLOC_CHECK_=3
MALLOC_PERTURB_=$(awk 'BEGIN { srand (); print int (1 + rand () * 254) }')
export MALLOC_CHECK_ MALLOC_PERTURB_
exec "$@" --tap -k
