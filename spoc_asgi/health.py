"""Liveness and readiness probes, Kubernetes style (docs/deployment.md#probes).

Opt in with ``routes = ["spoc_asgi.health.routes"]``:

* ``GET /livez``: 200 while the process can answer at all; it calls no backend, so a
  slow database never gets a healthy process restarted;
* ``GET /readyz``: 200 only after startup completed and while every backend answers
  its ``ping()`` within ``ping_timeout``; otherwise 503, with a JSON body naming the
  failing backends (by group and URI, nothing else). From the first moment of
  shutdown it answers 503, so that a load balancer stops sending requests.

``[spoc.health] drain_seconds`` (or ``SPOC_DRAIN_SECONDS``; default 0: off) makes
that moment SIGTERM itself: readiness answers 503 at once while the server keeps
serving for that many seconds, then the server's own SIGTERM handler runs and it
shuts down as usual. Mistakes in ``[spoc.health]`` are ``spoc.E053``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from spoc_asgi.checks import CheckMessage
from spoc_asgi.config import seconds_value
from spoc_asgi.coordination.settings import key_line
from spoc_asgi.framework import Framework
from spoc_asgi.hooks import Step

logger = logging.getLogger("spoc_asgi")

LIVE_PATH = "/livez"
READY_PATH = "/readyz"
_KEYS = {"drain_seconds": 0.0, "ping_timeout": 1.0}
DRAIN_ENV = "SPOC_DRAIN_SECONDS"
_NO_STORE = {"Cache-Control": "no-store"}


@dataclass
class Readiness:
    """What ``/readyz`` reports besides the backends: set by the lifespan step below."""

    ping_timeout: float = 1.0
    draining_since: float | None = None  # time.monotonic() of SIGTERM or shutdown

    def drain(self) -> None:
        if self.draining_since is None:
            self.draining_since = time.monotonic()


async def livez(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"}, headers=_NO_STORE)


async def readyz(request: Request) -> JSONResponse:
    state = request.app.state
    runtime = getattr(state, "spoc_runtime", None)
    readiness = getattr(state, "spoc_readiness", None)
    if not isinstance(readiness, Readiness):
        readiness = Readiness()
    if readiness.draining_since is not None:
        return _unready("draining")
    if runtime is None or runtime.state is None:
        return _unready("starting")
    checks = await ping_all(runtime.backends, readiness.ping_timeout)
    failing = [name for name, status in checks.items() if status not in ("ok", "no ping")]
    if readiness.draining_since is not None:  # SIGTERM came while the pings ran
        return _unready("draining", checks)
    if failing:
        return _unready("unavailable", checks, failing)
    return JSONResponse({"status": "ready", "checks": checks}, headers=_NO_STORE)


def _unready(
    status: str, checks: Mapping[str, str] | None = None, failing: list[str] | None = None
) -> JSONResponse:
    body: dict[str, Any] = {"status": status}
    if failing:
        body["failing"] = failing
    if checks is not None:
        body["checks"] = dict(checks)
    return JSONResponse(body, status_code=503, headers=_NO_STORE)


async def ping_all(backends: Any, seconds: float) -> dict[str, str]:
    """``"group uri" -> "ok" | "failed" | "timeout" | "no ping"``, all pinged at once.

    Only these words leave the process: an exception's text may hold a URL or a key.
    """
    results: dict[str, str] = {}

    async def one(name: str, ping: Callable[[], Any]) -> None:
        results[name] = "timeout"
        with anyio.move_on_after(seconds):
            try:
                answer = ping()
                if hasattr(answer, "__await__"):
                    answer = await answer
                results[name] = "ok" if answer is not False else "failed"
            except Exception:
                results[name] = "failed"

    async with anyio.create_task_group() as task_group:
        for group, uri, backend in backends:
            name = f"{group} {uri}"
            ping = getattr(backend, "ping", None)
            if callable(ping):
                task_group.start_soon(one, name, ping)
            else:
                results[name] = "no ping"
    return {name: results[name] for name in sorted(results)}


routes: list[BaseRoute] = [
    Route(LIVE_PATH, livez, methods=["GET"], name="spoc_livez"),
    Route(READY_PATH, readyz, methods=["GET"], name="spoc_readyz"),
]


# -- the lifespan side ------------------------------------------------------------------


def health_steps(framework: Framework) -> list[Step]:
    """The readiness step, when the probes are among the app's routes (else nothing)."""
    configured: list[Any] = list(framework.plugins.get("routes", {}).values())
    options = _read_options(framework)
    if not any(obj is routes for obj in configured):
        return []
    return [Step("hook", "spoc_asgi.health", _readiness_step(**options))]


def _read_options(framework: Framework) -> dict[str, float]:
    table: Any = framework.config.project.get("health", {})
    values = dict(_KEYS)
    if not isinstance(table, dict):
        _error(framework, f"[spoc.health] must be a table, not {type(table).__name__}", None)
        return values
    for key, value in table.items():
        if key not in _KEYS:
            continue  # reported with every [spoc] key (spoc.W004/E023, SPOC_KEYS)
        least = "> 0" if key == "ping_timeout" else ">= 0"
        if seconds_value(value, allow_zero=key == "drain_seconds") is None:
            _error(framework, f"{key} must be a number of seconds ({least}), not {value!r}", key)
            continue
        values[key] = float(value)
    raw = os.environ.get(DRAIN_ENV)
    if raw is not None:  # the environment wins, as SPOC_MODE does over [spoc] mode
        try:
            seconds: object = float(raw)
        except ValueError:
            seconds = raw
        if seconds_value(seconds, allow_zero=True) is None:
            message = f"{DRAIN_ENV} must be a number of seconds (>= 0), not {raw!r}"
            framework.reporter.error(
                CheckMessage("spoc.E053", message, key=f"environment variable {DRAIN_ENV}")
            )
        else:
            values["drain_seconds"] = float(raw)
    return values


def _error(framework: Framework, message: str, key: str | None) -> None:
    path = framework.config.toml_path
    framework.reporter.error(
        CheckMessage(
            "spoc.E053",
            message,
            file=path,
            key=f"spoc.health.{key}" if key else "spoc.health",
            line=key_line(path, "spoc.health", key) if key else None,
        )
    )


def _readiness_step(drain_seconds: float, ping_timeout: float) -> Callable[[Any], Any]:
    @asynccontextmanager
    async def run(app: Any) -> AsyncIterator[None]:
        readiness = Readiness(ping_timeout=ping_timeout)
        app.state.spoc_readiness = readiness
        try:
            if drain_seconds > 0:
                async with _drain_on_sigterm(readiness, drain_seconds):
                    yield None
            else:
                yield None
        finally:
            readiness.drain()  # shutdown has begun: 503 from here on

    return run


@asynccontextmanager
async def _drain_on_sigterm(readiness: Readiness, seconds: float) -> AsyncIterator[None]:
    """Chain a SIGTERM handler in front of the server's: mark draining, wait ``seconds``,
    then call the server's handler. Needs a server that handles SIGTERM with a Python
    signal handler installed before the lifespan starts (uvicorn >= 0.29 and gunicorn's
    uvicorn worker do); otherwise draining stays off, with a warning."""
    previous = signal.getsignal(signal.SIGTERM)
    if threading.current_thread() is not threading.main_thread() or not callable(previous):
        logger.warning(
            "drain_seconds is set, but the server has no Python SIGTERM handler to run after "
            "the drain: readiness turns 503 only when the shutdown begins"
        )
        yield
        return
    server_handler: Callable[[int, FrameType | None], Any] = previous
    loop = asyncio.get_running_loop()
    signalled = anyio.Event()

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        if readiness.draining_since is not None and signalled.is_set():
            server_handler(signum, frame)  # a second SIGTERM: no more waiting
            return
        readiness.drain()
        loop.call_soon_threadsafe(signalled.set)

    async def hand_over() -> None:
        await signalled.wait()
        logger.info("SIGTERM: readiness is 503; the server stops in %gs (drain_seconds)", seconds)
        await anyio.sleep(seconds)
        server_handler(signal.SIGTERM, None)

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        async with anyio.create_task_group() as task_group:
            task_group.start_soon(hand_over)
            try:
                yield
            finally:
                task_group.cancel_scope.cancel()
    finally:
        if signal.getsignal(signal.SIGTERM) is on_sigterm:
            signal.signal(signal.SIGTERM, previous)
