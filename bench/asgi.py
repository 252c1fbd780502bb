"""Measures ``asgi`` and ``adapter``: requests per second, in process, no HTTP.

Each app is called directly with a prebuilt scope and trivial ``receive``/``send``,
so what is timed is the middleware stack and the routing, nothing else.
"""

from __future__ import annotations

import asyncio
import functools
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Scope

from bench import stack
from bench.harness import (
    Batch,
    Row,
    Settings,
    close_loop,
    compared,
    cpu_clock,
    interleave,
    new_loop,
)
from spoc_asgi import create_app
from spoc_asgi.request_functions import RequestFunctionMiddleware

SCOPE: Scope = {
    "type": "http",
    "asgi": {"version": "3.0", "spec_version": "2.4"},
    "http_version": "1.1",
    "method": "GET",
    "scheme": "http",
    "path": "/",
    "raw_path": b"/",
    "root_path": "",
    "query_string": b"",
    "headers": [
        (b"host", b"bench.local"),
        (b"user-agent", b"bench"),
        (b"accept", b"*/*"),
        (b"x-api-key", stack.API_KEY.encode()),
    ],
    "client": ("127.0.0.1", 50000),
    "server": ("127.0.0.1", 8000),
    "state": {},
}
REQUEST: Message = {"type": "http.request", "body": b"", "more_body": False}


async def receive() -> Message:
    return REQUEST


async def send(message: Message) -> None:
    return None


def batch(loop: asyncio.AbstractEventLoop, app: ASGIApp) -> Batch:
    async def run(n: int) -> None:
        for _ in range(n):
            await app(SCOPE.copy(), receive, send)

    def timed(n: int) -> float:
        began = cpu_clock()
        loop.run_until_complete(run(n))
        return cpu_clock() - began

    return timed


def check_ok(loop: asyncio.AbstractEventLoop, app: ASGIApp) -> None:
    """Fail loudly if a variant does not answer 200: a benchmark of 401s proves nothing."""
    sent: list[Message] = []

    async def record(message: Message) -> None:
        sent.append(message)

    loop.run_until_complete(app(SCOPE.copy(), receive, record))
    status = sent[0].get("status") if sent else None
    if status != 200:
        raise RuntimeError(f"{app!r} answered {status}, not 200: {sent}")


PLUGINS_MODULE = """
from bench.stack import (
    PathGuard, RequestCounter, ScopeState, ServerHeader, Timing, api_key, routes,
    tag_locale, tag_tenant, tag_user,
)
"""

ONE_FUNCTION = ["api_key"]
THREE_FUNCTIONS = [func.__name__ for func in stack.TAG_FUNCTIONS]


@contextmanager
def spoc_project(functions: list[str] = ONE_FUNCTION) -> Iterator[Path]:
    """A throwaway base dir: spoc.toml listing the stack, and a plugins module."""
    with tempfile.TemporaryDirectory(prefix="spoc-bench-") as tmp:
        base = Path(tmp)
        module = "spoc_bench_plugins"
        (base / f"{module}.py").write_text(textwrap.dedent(PLUGINS_MODULE), encoding="utf-8")
        names = [cls.__name__ for cls in stack.ASGI_CLASSES] + functions
        middleware = ", ".join(f'"{module}.{name}"' for name in names)
        (base / "spoc.toml").write_text(
            f'[spoc.plugins]\nmiddleware = [{middleware}]\nroutes = ["{module}.routes"]\n',
            encoding="utf-8",
        )
        sys.path.insert(0, tmp)
        try:
            yield base
        finally:
            sys.path.remove(tmp)
            sys.modules.pop(module, None)


def hand_wired(*inner: type[Any]) -> Starlette:
    middleware = [Middleware(cls) for cls in [*stack.ASGI_CLASSES, *inner]]
    return Starlette(routes=stack.routes, middleware=middleware)


def measure_asgi(settings: Settings) -> list[Row]:
    rounds = settings.pick(21, 2)
    n = settings.pick(4_000, 200)
    sizes = {
        SPOC: n,
        HAND: n,
        HAND_REQUEST: n,
        BASE_HTTP: max(n // 10, 50),  # some 15x slower: same wall time per batch
    }
    loop = new_loop()
    try:
        with spoc_project() as base:
            apps = {
                SPOC: create_app(base),
                HAND: hand_wired(stack.ApiKeyMiddleware),
                HAND_REQUEST: hand_wired(stack.ApiKeyRequestMiddleware),
                BASE_HTTP: hand_wired(stack.ApiKeyBaseHTTP),
            }
            for app in apps.values():
                check_ok(loop, app)
            batches = {name: batch(loop, app) for name, app in apps.items()}
            samples = interleave(batches, sizes, rounds)
    finally:
        close_loop(loop)
    row = functools.partial(compared, "asgi", samples, unit="req/s")
    return [
        row(SPOC, HAND, target=0.97, note=ASGI_NOTE),
        row(SPOC, HAND_REQUEST, target=None, note=HAND_REQUEST_NOTE),
        row(SPOC, BASE_HTTP, target=1.0),
        row(HAND, BASE_HTTP, target=None),
    ]


SPOC = "spoc create_app"
HAND = "hand-wired Starlette"
HAND_REQUEST = "hand-wired, fn(Request)"
BASE_HTTP = "BaseHTTPMiddleware"
ASGI_NOTE = (
    "5 pure ASGI classes + api_key(request); hand-wired uses a pure ASGI twin of api_key "
    "reading Headers(scope=...)"
)
HAND_REQUEST_NOTE = (
    "hand-wired with a hand-written ASGI class calling api_key(Request(scope, receive)): "
    "what is left is spoc_asgi's own cost"
)


async def trivial_app(scope: Scope, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def measure_adapter(settings: Settings) -> list[Row]:
    rounds = settings.pick(21, 2)
    n = settings.pick(30_000, 1_000)
    loop = new_loop()
    try:
        apps: dict[str, ASGIApp] = {
            ADAPTER: RequestFunctionMiddleware(
                trivial_app, func=stack.api_key, uri="bench.stack.api_key"
            ),
            HAND_ASGI: stack.ApiKeyMiddleware(trivial_app),
            HAND_ASGI_REQUEST: stack.ApiKeyRequestMiddleware(trivial_app),
        }
        for app in apps.values():
            check_ok(loop, app)
        samples = interleave({name: batch(loop, app) for name, app in apps.items()}, n, rounds)
    finally:
        close_loop(loop)
    row = functools.partial(compared, "adapter", samples, unit="req/s")
    return [
        row(ADAPTER, HAND_ASGI, target=0.9, note="api_key(request) around a trivial ASGI app"),
        row(ADAPTER, HAND_ASGI_REQUEST, target=0.9),
    ]


def measure_functions(settings: Settings) -> list[Row]:
    """Three request functions in a row (one state key each) against three pure ASGI
    classes writing ``scope["state"]``: in the in-process stack, and alone."""
    rounds = settings.pick(21, 2)
    n = settings.pick(4_000, 200)
    alone_n = settings.pick(30_000, 1_000)
    loop = new_loop()
    try:
        with spoc_project(THREE_FUNCTIONS) as base:
            apps: dict[str, ASGIApp] = {
                SPOC_3: create_app(base),
                HAND_3: hand_wired(*stack.TAG_CLASSES),
                ADAPTER_3: functools.reduce(
                    lambda app, func: RequestFunctionMiddleware(app, func=func),
                    reversed(stack.TAG_FUNCTIONS),
                    trivial_app,
                ),
                HAND_ASGI_3: functools.reduce(
                    lambda app, cls: cls(app), reversed(stack.TAG_CLASSES), trivial_app
                ),
            }
            for app in apps.values():
                check_ok(loop, app)
            batches = {name: batch(loop, app) for name, app in apps.items()}
            sizes = {SPOC_3: n, HAND_3: n, ADAPTER_3: alone_n, HAND_ASGI_3: alone_n}
            samples = interleave(batches, sizes, rounds)
    finally:
        close_loop(loop)
    row = functools.partial(compared, "functions", samples, unit="req/s")
    return [
        row(SPOC_3, HAND_3, target=0.95, note=FUNCTIONS_NOTE),
        row(ADAPTER_3, HAND_ASGI_3, target=None, note="around a trivial ASGI app: the layer alone"),
    ]


SPOC_3 = "spoc, 3 request functions"
HAND_3 = "hand-wired, 3 ASGI classes"
ADAPTER_3 = "3 request functions alone"
HAND_ASGI_3 = "3 ASGI classes alone"
FUNCTIONS_NOTE = (
    "5 pure ASGI classes + tag_user, tag_tenant, tag_locale (request.state.<key> = ...); "
    'hand-wired: 3 pure ASGI classes writing scope["state"][<key>]'
)

ADAPTER = "RequestFunctionMiddleware"
HAND_ASGI = "hand-written ASGI"
HAND_ASGI_REQUEST = "hand-written, fn(Request)"
