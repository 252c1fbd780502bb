"""Measure ``lifespan``: startup + shutdown of an app with 100 async no-op hooks.

One cycle is the ASGI lifespan protocol, start to finish (startup, startup.complete,
shutdown, shutdown.complete), as a server drives it. The floor is awaiting the same
100 functions one after the other; an app with no hooks gives the fixed cost, so
the overhead per hook is ``(cycle(100 hooks) - cycle(0 hooks) - floor) / 100``.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from starlette.types import ASGIApp, Message

from bench.harness import (
    Batch,
    Row,
    Settings,
    close_loop,
    compared,
    cpu_clock,
    in_unit,
    interleave,
    new_loop,
)
from spoc_asgi import create_app

HOOKS = 100
MODULE = "spoc_bench_hooks"
SPOC = f"lifespan, {HOOKS} hooks"
EMPTY = "lifespan, 0 hooks"
BARE = f"{HOOKS} bare awaits"


async def lifespan_cycle(app: ASGIApp) -> None:
    """Drive one startup and shutdown through the ASGI lifespan protocol."""
    started = asyncio.Event()
    finished: list[str] = []

    async def receive() -> Message:
        if not finished:
            finished.append("startup")
            return {"type": "lifespan.startup"}
        await started.wait()
        return {"type": "lifespan.shutdown"}

    async def send(message: Message) -> None:
        if message["type"] == "lifespan.startup.complete":
            started.set()
        elif message["type"] != "lifespan.shutdown.complete":
            raise RuntimeError(f"lifespan failed: {message}")

    await app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive, send)


@contextmanager
def hooks_project() -> Iterator[tuple[Path, Path, list[Callable[[], Awaitable[None]]]]]:
    """Two base dirs (100 hooks, none) and the hook functions, imported."""
    with tempfile.TemporaryDirectory(prefix="spoc-bench-hooks-") as tmp:
        root = Path(tmp)
        body = "".join(f"async def hook_{i}():\n    pass\n" for i in range(HOOKS))
        (root / f"{MODULE}.py").write_text(body, encoding="utf-8")
        with_hooks, without = root / "hooks", root / "empty"
        with_hooks.mkdir()
        without.mkdir()
        listed = ", ".join(f'"{MODULE}.hook_{i}"' for i in range(HOOKS))
        (with_hooks / "spoc.toml").write_text(
            f"[spoc.plugins]\nhooks = [{listed}]\n", encoding="utf-8"
        )
        sys.path.insert(0, tmp)
        try:
            module = importlib.import_module(MODULE)
            yield with_hooks, without, [getattr(module, f"hook_{i}") for i in range(HOOKS)]
        finally:
            sys.path.remove(tmp)
            sys.modules.pop(MODULE, None)


def timed_loop(loop: asyncio.AbstractEventLoop, once: Callable[[], Awaitable[Any]]) -> Batch:
    async def run(n: int) -> None:
        for _ in range(n):
            await once()

    def batch(n: int) -> float:
        began = cpu_clock()
        loop.run_until_complete(run(n))
        return cpu_clock() - began

    return batch


def measure_lifespan(settings: Settings) -> list[Row]:
    rounds = settings.pick(11, 2)
    cycles = settings.pick(40, 3)
    loop = new_loop()
    try:
        with hooks_project() as (with_hooks, without, functions):
            app, empty = create_app(with_hooks), create_app(without)
            assert len(app.state.framework.plugins["hooks"]) == HOOKS

            async def bare() -> None:
                for function in functions:
                    await function()

            samples = interleave(
                {
                    SPOC: timed_loop(loop, lambda: lifespan_cycle(app)),
                    EMPTY: timed_loop(loop, lambda: lifespan_cycle(empty)),
                    BARE: timed_loop(loop, bare),
                },
                {SPOC: cycles, EMPTY: cycles * 10, BARE: cycles * 100},
                rounds,
            )
    finally:
        close_loop(loop)
    cycle, fixed, floor = (in_unit(samples.median(name), "µs") for name in (SPOC, EMPTY, BARE))
    per_hook = (cycle - fixed - floor) / HOOKS
    return [
        compared(
            "lifespan",
            samples,
            SPOC,
            BARE,
            unit="µs",
            target=None,
            note=(
                f"startup + shutdown; overhead {per_hook:.1f} µs per hook "
                f"(fixed cost of a lifespan with no hooks: {fixed:.0f} µs)"
            ),
        ),
        Row(
            "lifespan",
            "overhead per hook",
            "bare await per hook",
            "µs",
            per_hook,
            floor / HOOKS,
            note="(cycle(100) - cycle(0) - 100 bare awaits) / 100",
        ),
    ]
