"""Measure ``instructions``: the in-process rows counted in CPU instructions, not seconds.

``asgi``, ``adapter`` and ``functions`` time the same apps in CPU seconds, and on a
shared 2-core VM a round still swings by several percent. Here each app runs in a
fresh interpreter under ``valgrind --tool=callgrind``, which counts the instructions
executed: the same count for the same code and inputs whatever else the machine does.
Each app serves ``SMALL`` and then ``LARGE`` requests in two runs; the difference over
``LARGE - SMALL`` is its instructions per request, with startup, imports and warm-up
cancelled out. The ratio is baseline / subject, so above 1 is better for spoc_asgi, as
with requests/s.

The ``peers`` pair counts the uvicorn server process of the peers apps (spoc_asgi and
hand-wired Starlette, SQLite + memory, see :mod:`bench.peers`) the same way, over
HTTP: one keep-alive client sends the wrk script's mix of requests in turn, after
``ROWS`` requests that fill the cache. Startup, warm-up and shutdown cancel out.
PostgreSQL + Redis are left out: there the count moves with when replies arrive
(each time a read finds no data yet, the event loop runs once more), by some 10%.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

from starlette.types import ASGIApp

from bench import asgi, stack
from bench.harness import Row, Settings, new_loop, skipped
from bench.http import REPO, free_port
from bench.peers import HAND, PEERS, SPOC, environment
from bench.peers.shared import API_KEY, FRESH_EVERY, ROWS
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


def get_items(port: int, requests: int) -> None:
    """``requests`` GETs over one keep-alive connection: the wrk script's mix, in turn."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        reader = sock.makefile("rb")
        for counter in range(1, requests + 1):
            fresh = "cache-control: no-cache\r\n" if counter % FRESH_EVERY == 0 else ""
            sock.sendall(
                f"GET /items/{counter % ROWS + 1} HTTP/1.1\r\nhost: peers\r\n"
                f"x-api-key: {API_KEY}\r\n{fresh}\r\n".encode()
            )
            status, length = reader.readline(), 0
            if b" 200 " not in status:
                raise RuntimeError(f"the peers app answered {status!r}")
            while (line := reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            reader.read(length)


NO_LIMIT = f"{SPOC}, max_body_size = 0"


def without_body_limit(tmp: str) -> str:
    """A copy of the spoc_asgi peers project with ``[spoc] max_body_size = 0``."""
    project = Path(tmp) / "spoc-no-limit"
    if not project.exists():  # one copy for both runs
        shutil.copytree(Path(__file__).parent / "peers" / "spoc", project)
        toml = project / "config" / "spoc.toml"
        toml.write_text("[spoc]\nmax_body_size = 0\n\n" + toml.read_text(), encoding="utf-8")
    return str(project)


def served_count(name: str, requests: int, tmp: str) -> int:
    """Instructions of a uvicorn server of peers app ``name``, start to exit."""
    port = free_port()
    env = {**os.environ, **environment("sqlite", name, tmp), "PYTHONHASHSEED": "0"}
    if name == NO_LIMIT:
        env["PEERS_SPOC_DIR"] = without_body_limit(tmp)
    command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]
    command += [sys.executable, "-m", "uvicorn", PEERS.get(name, PEERS[SPOC]), f"--port={port}"]
    command += ["--host=127.0.0.1", "--no-access-log", "--log-level=warning"]
    server = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 300  # an interpreter under valgrind starts slowly
        while True:
            try:
                get_items(port, ROWS)  # warm-up: every item in the cache
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        get_items(port, requests)
    finally:
        server.terminate()
        try:
            _, stderr = server.communicate(timeout=600)
        except subprocess.TimeoutExpired:
            server.kill()
            server.communicate()
            raise
    found = COLLECTED.search(stderr)
    if found is None:
        raise RuntimeError(f"no instruction count in valgrind's output:\n{stderr[-2000:]}")
    return int(found.group(1))


def served_per_request(name: str, small: int, large: int) -> float:
    with tempfile.TemporaryDirectory(prefix="spoc-bench-instructions-") as tmp:
        return (served_count(name, large, tmp) - served_count(name, small, tmp)) / (large - small)


def measure_instructions(settings: Settings) -> list[Row]:
    if shutil.which("valgrind") is None:
        reason = "valgrind is not installed (apt-get install -y valgrind)"
        return [skipped(MEASURE, asgi.SPOC, asgi.HAND, reason)]
    small, large = settings.pick(SMALL, 20), settings.pick(LARGE, 60)
    pairs = PAIRS[1:2] if settings.quick else PAIRS  # quick: the two smallest apps only
    counts = {name: per_request(name, small, large) for _, *names, _ in pairs for name in names}
    rows = [
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
    if settings.quick:  # two servers under valgrind take minutes
        return rows
    names = (SPOC, NO_LIMIT, HAND)
    served = {name: served_per_request(name, small, large) for name in names}
    # The hand-wired app has no body limit: spoc_asgi without its default one is the
    # like-for-like comparison, reported beside the default.
    rows += [
        Row(
            MEASURE,
            f"peers under uvicorn: {name}, SQLite + memory",
            HAND,
            "instr/req",
            served[name],
            served[HAND],
            served[HAND] / served[name],
            1.0,
            note="the server process, over HTTP, after every item is cached"
            if name == SPOC
            else "",
        )
        for name in names[:2]
    ]
    return rows


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]))
