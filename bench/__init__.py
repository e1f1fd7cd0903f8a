"""Benchmarks: scripts that measure and print, one per question, on the shared helpers in bench.lib.

Outside the app: bench imports the apps, nothing in the apps imports bench, and no script
imports another (import-linter contracts in pyproject.toml).
"""
