"""The example app's middleware stack, wired by hand in plain Starlette (measure ``http``).

Same middleware objects (imported from ``example_app``), same options (read from
its ``config/spoc.toml`` and ``config/settings.py`` with ``tomllib`` and ``runpy``,
no spoc_asgi involved), same order, same routes, same cache and logging setup.
Its two request functions run in :class:`RequestFunction`, the least a hand-wired
app needs to call a ``fn(request)``. Serve it with ``uvicorn bench.handwired:app``.
"""

from __future__ import annotations

import logging.config
import runpy
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from example_app import BASE_DIR, middleware, views
from example_app.ratelimit import RateLimiter
from spoc_asgi.backends.memory import MemoryCache
from spoc_asgi.body_limit import DEFAULT_MAX_BODY_SIZE, BodySizeLimit

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SETTINGS: dict[str, Any] = runpy.run_path(str(BASE_DIR / "config" / "settings.py"))
with (BASE_DIR / "config" / "spoc.toml").open("rb") as file:
    OPTIONS: dict[str, Any] = tomllib.load(file)["spoc"]["config"]["middleware"]


class RequestFunction:
    """Call a sync ``fn(request)``; a returned ``Response`` answers instead of the app."""

    def __init__(self, app: ASGIApp, func: Callable[[Request], Any]) -> None:
        self.app = app
        self.func = func

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            result = self.func(Request(scope, receive))
            if isinstance(result, Response):
                await result(scope, receive, send)
                return
        await self.app(scope, receive, send)


def api_key_auth() -> middleware.ApiKeyAuth:
    auth = middleware.ApiKeyAuth()
    auth.configure(**SETTINGS["MIDDLEWARE_CONFIG"]["api_key_auth"])
    return auth


MIDDLEWARE = [
    Middleware(BodySizeLimit, max_body_size=DEFAULT_MAX_BODY_SIZE),  # [spoc] max_body_size
    Middleware(middleware.RequestIdMiddleware),
    Middleware(RequestFunction, func=middleware.log_request),
    Middleware(middleware.TimingMiddleware),
    middleware.gzip,
    Middleware(CORSMiddleware, **OPTIONS["CORSMiddleware"]),
    Middleware(RequestFunction, func=api_key_auth()),
    Middleware(RateLimiter, **OPTIONS["ratelimit"]),
]


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
    # What the example's configure_logging hook and its memory cache backend do.
    logging.config.dictConfig(SETTINGS["LOGGING_CONFIG"])
    if "memory" not in SETTINGS["CACHE_CONFIG"]:
        raise RuntimeError("bench.handwired mirrors the example's memory cache: unset REDIS_URL")
    cache = MemoryCache(**SETTINGS["CACHE_CONFIG"]["memory"])
    await cache.connect()
    try:
        yield {"cache": cache}
    finally:
        await cache.disconnect()


app = Starlette(routes=views.routes, middleware=MIDDLEWARE, lifespan=lifespan)
