"""Reporting: accuracy.json/.md, benchmarks.md with plots, and the verdict."""
