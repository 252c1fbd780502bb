"""Measure ``peers_asgi``: the four peers apps called in process, no HTTP, no server.

The same apps as measure ``peers`` (SQLite + memory cache), each started with its
lifespan in this process and called with prebuilt scopes, as measure ``asgi`` calls
its apps: items 1 .. ``ROWS`` in turn, one request in ``FRESH_EVERY`` with
``cache-control: no-cache``. Timed in CPU seconds of this process (the SQLite driver's
thread included), so other programs on the machine weigh less than in ``peers``.
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
import tempfile
from collections.abc import Callable
from typing import Any

from bench.harness import (
    Lifespan,
    Row,
    Settings,
    close_loop,
    compared,
    cpu_clock,
    interleave,
    new_loop,
)
from bench.peers import PEERS, SPOC, TARGETS, environment
from bench.peers.shared import API_KEY, FRESH_EVERY, ROWS

Message = dict[str, Any]


def scopes() -> list[dict[str, Any]]:
    made = []
    for counter in range(1, ROWS * FRESH_EVERY + 1):
        path = f"/items/{counter % ROWS + 1}"
        headers = [(b"host", b"peers.local"), (b"x-api-key", API_KEY.encode())]
        if counter % FRESH_EVERY == 0:
            headers.append((b"cache-control", b"no-cache"))
        made.append(
            {
                "type": "http",
                "asgi": {"version": "3.0", "spec_version": "2.4"},
                "http_version": "1.1",
                "method": "GET",
                "scheme": "http",
                "path": path,
                "raw_path": path.encode(),
                "root_path": "",
                "query_string": b"",
                "headers": headers,
                "client": ("127.0.0.1", 50000),
                "server": ("127.0.0.1", 8000),
            }
        )
    return made


async def receive() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


def load(target: str, env: dict[str, str]) -> Any:
    """Import one app with its environment (each reads it when built and started)."""
    os.environ.update(env)
    module_name, _, attribute = target.partition(":")
    sys.modules.pop(module_name, None)
    return getattr(importlib.import_module(module_name), attribute)


def measure_peers_asgi(settings: Settings) -> list[Row]:
    rounds = settings.pick(15, 2)
    n = settings.pick(2_000, 100)
    loop = new_loop()
    saved = dict(os.environ)
    made = scopes()
    statuses: list[int] = []

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    def batch(app: Any, state: dict[str, Any]) -> Callable[[int], float]:
        position = 0

        async def run(count: int) -> None:
            nonlocal position
            for _ in range(count):
                position = (position + 1) % len(made)
                await app({**made[position], "state": state.copy()}, receive, send)

        def timed(count: int) -> float:
            began = cpu_clock()
            loop.run_until_complete(run(count))
            return cpu_clock() - began

        return timed

    try:
        with tempfile.TemporaryDirectory(prefix="spoc-bench-peers-asgi-") as tmp:
            apps: dict[str, tuple[Any, Lifespan]] = {}
            try:
                for name, target in PEERS.items():
                    app = load(target, environment("sqlite", name, tmp))
                    apps[name] = (app, Lifespan(loop, app))
                    loop.run_until_complete(apps[name][1].start())
                batches = {name: batch(app, life.state) for name, (app, life) in apps.items()}
                samples = interleave(batches, n, rounds)
            finally:
                for _, life in apps.values():
                    loop.run_until_complete(life.stop())
    finally:
        os.environ.clear()
        os.environ.update(saved)
        close_loop(loop)
    if set(statuses) != {200}:
        raise RuntimeError(f"a peers app answered {sorted(set(statuses))}, not only 200")
    row = functools.partial(compared, "peers_asgi", samples, SPOC, unit="req/s")
    note = (
        f"in process, SQLite + memory, {rounds} interleaved rounds of {n} requests; "
        f"items 1..{ROWS}, 1 in {FRESH_EVERY} from the database; CPU time"
    )
    return [
        row(peer, target=target, note=note if index == 0 else "")
        for index, (peer, target) in enumerate(TARGETS.items())
    ]
