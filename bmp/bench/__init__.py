"""Benchmarks: ``python -m bmp.bench NAME`` runs ``bmp.bench.NAME.main(argv)`` and prints its result as a final
JSON line.

Each benchmark module exposes ``main(argv: list[str]) -> dict``. Speed and memory targets live here, not in tests.
"""
