# bench/: benchmark scripts; results are recorded in docs/benchmarks.md.
EXTRA_DIST += bench
