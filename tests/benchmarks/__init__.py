"""Benchmark scripts (run as modules; pytest does not collect bench_*.py)."""
