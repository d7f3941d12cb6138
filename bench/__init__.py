"""Benchmarks: scripts that print figures for docs/performance.md. Not tests; nothing here asserts.

Run one with `python -m bench.<name> --help`; `make bench` runs all three with their defaults.
"""
