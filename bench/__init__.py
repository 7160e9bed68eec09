"""Benchmarks, run by hand: ``.venv/bin/python -m bench.webhook_intake --help``."""
