"""Measure ``instructions``: the in-process rows counted in CPU instructions, not seconds.

``asgi``, ``adapter`` and ``functions`` time the same apps in CPU seconds, and on a
shared 2-core VM a round still swings by several percent. Here each app runs in a
fresh interpreter under ``valgrind --tool=callgrind``, which counts the instructions
executed: the same count for the same code and inputs whatever else the machine does.
Each app serves ``SMALL`` and then ``LARGE`` requests in two runs; the difference over
``LARGE - SMALL`` is its instructions per request, with startup, imports and warm-up
cancelled out. The ratio is baseline / subject, so above 1 is better for spoc_asgi, as
with requests/s.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from contextlib import ExitStack

from starlette.types import ASGIApp

from bench import asgi, stack
from bench.harness import Row, Settings, new_loop, skipped
from spoc_asgi import create_app
from spoc_asgi.request_functions import RequestFunctionMiddleware

MEASURE = "instructions"
SMALL, LARGE = 500, 2_500
COLLECTED = re.compile(r"Collected : (\d+)")


def _spoc(functions: list[str]) -> Callable[[ExitStack], ASGIApp]:
    return lambda stack_: create_app(stack_.enter_context(asgi.spoc_project(functions)))


APPS: dict[str, Callable[[ExitStack], ASGIApp]] = {
    asgi.SPOC: _spoc(asgi.ONE_FUNCTION),
    asgi.HAND: lambda _: asgi.hand_wired(stack.ApiKeyMiddleware),
    asgi.ADAPTER: lambda _: RequestFunctionMiddleware(asgi.trivial_app, func=stack.api_key),
    asgi.HAND_ASGI: lambda _: stack.ApiKeyMiddleware(asgi.trivial_app),
    asgi.SPOC_3: _spoc(asgi.THREE_FUNCTIONS),
    asgi.HAND_3: lambda _: asgi.hand_wired(*stack.TAG_CLASSES),
}
# (measure of the seconds-based row, subject, baseline, target of that row)
PAIRS = (
    ("asgi", asgi.SPOC, asgi.HAND, 0.97),
    ("adapter", asgi.ADAPTER, asgi.HAND_ASGI, 0.9),
    ("functions", asgi.SPOC_3, asgi.HAND_3, 0.95),
)


def serve(name: str, requests: int) -> None:
    """In the child: build app ``name``, start its lifespan, serve ``requests``."""
    loop = new_loop()
    with ExitStack() as exits:
        app = APPS[name](exits)
        lifespans = [app] if hasattr(app, "router") else []  # the Starlette apps
        exits.enter_context(asgi.running(loop, lifespans))
        asgi.check_ok(loop, app)
        asgi.batch(loop, app)(requests)


def count(name: str, requests: int) -> int:
    done = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            "-m",
            "bench.instructions",
            name,
            str(requests),
        ],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONHASHSEED": "0"},  # the same dict layouts in every run
    )
    found = COLLECTED.search(done.stderr) if done.returncode == 0 else None
    if found is None:
        raise RuntimeError(f"no instruction count in valgrind's output:\n{done.stderr[-2000:]}")
    return int(found.group(1))


def per_request(name: str, small: int, large: int) -> float:
    return (count(name, large) - count(name, small)) / (large - small)


def measure_instructions(settings: Settings) -> list[Row]:
    if shutil.which("valgrind") is None:
        reason = "valgrind is not installed (apt-get install -y valgrind)"
        return [skipped(MEASURE, asgi.SPOC, asgi.HAND, reason)]
    small, large = settings.pick(SMALL, 20), settings.pick(LARGE, 60)
    pairs = PAIRS[1:2] if settings.quick else PAIRS  # quick: the two smallest apps only
    counts = {name: per_request(name, small, large) for _, *names, _ in pairs for name in names}
    return [
        Row(
            MEASURE,
            f"{measure}: {subject}",
            baseline,
            "instr/req",
            counts[subject],
            counts[baseline],
            counts[baseline] / counts[subject],
            target,
            note=f"callgrind, ({large} - {small} requests) / {large - small}" if index == 0 else "",
        )
        for index, (measure, subject, baseline, target) in enumerate(pairs)
    ]


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]))
