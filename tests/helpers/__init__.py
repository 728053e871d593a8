"""Helpers shared by tests in several folders (and by the benchmarks, where they need the same thing).

Importable as ``helpers`` because pytest puts ``tests/`` on ``sys.path`` (``pythonpath`` in
pyproject.toml); a benchmark adds ``tests/`` to its path itself.
"""
