"""Benchmarks of the zero-trust path: `make bench` (bench.run) and `make soak` (bench.soak)."""
