"""Benchmarks: clusterdns against a C reference server (see run.py)."""
