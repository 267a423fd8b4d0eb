"""Importable test helpers (also by worker subprocesses: PYTHONPATH=<repo>/tests)."""
