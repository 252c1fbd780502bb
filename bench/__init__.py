"""Benchmarks: spoc_asgi against the hand-wired Starlette and raw libraries it replaces.

Run ``python -m bench`` (or ``make bench``); see docs/performance.md.
"""
