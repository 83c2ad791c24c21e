"""Benchmark harness: `python -m bench` (or `make bench`) measures the stack on this machine."""
