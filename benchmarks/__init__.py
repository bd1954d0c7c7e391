"""Benchmark drivers, run as scripts from the checkout root (``python benchmarks/NAME.py``; the
Makefile's bench targets call them); the tests import them as ``benchmarks.NAME``."""
