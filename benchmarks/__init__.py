"""Benchmarks, run from a checkout as modules: `.venv/bin/python -m benchmarks.<name>` (see the Makefile)."""
