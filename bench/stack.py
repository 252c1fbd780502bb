"""The middleware stack of the in-process benchmarks, and its hand-written twins.

Five small pure ASGI middleware classes, of the kind every app has, and one
request function (an API-key check). Both apps compared in measure ``asgi`` use
these very objects; only the request function is wired differently: by
spoc_asgi's adapter, by a hand-written pure ASGI class, or as a
``BaseHTTPMiddleware`` (the baseline spoc_asgi must beat; it lives here only).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from starlette.datastructures import Headers
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

API_KEY = "bench-key"


class ServerHeader:
    """Adds a ``server`` header to every response."""

    def __init__(self, app: ASGIApp, value: str = "bench") -> None:
        self.app = app
        self.header = (b"server", value.encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), self.header]
            await send(message)

        await self.app(scope, receive, send_with_header)


class RequestCounter:
    """Counts requests (a metrics middleware, minus the exporter)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.count = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.count += 1
        await self.app(scope, receive, send)


class ScopeState:
    """Puts a value into the request state, as session or tenant middleware does."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope.setdefault("state", {})["tenant"] = "default"
        await self.app(scope, receive, send)


class PathGuard:
    """Answers 404 under a blocked prefix without reaching the app."""

    def __init__(self, app: ASGIApp, blocked: str = "/internal") -> None:
        self.app = app
        self.blocked = blocked

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self.blocked):
            await PlainTextResponse("Not Found", status_code=404)(scope, receive, send)
            return
        await self.app(scope, receive, send)


class Timing:
    """Adds a ``server-timing`` header with the time the app took to start answering."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()

        async def send_with_timing(message: Message) -> None:
            if message["type"] == "http.response.start":
                elapsed = (time.perf_counter() - began) * 1000
                header = (b"server-timing", f"app;dur={elapsed:.3f}".encode())
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        await self.app(scope, receive, send_with_timing)


ASGI_CLASSES: list[type] = [ServerHeader, RequestCounter, ScopeState, PathGuard, Timing]


def api_key(request: Request) -> Response | None:
    """The request function: a sync API-key check (``None`` means go on)."""
    if request.headers.get("x-api-key") != API_KEY:
        return PlainTextResponse("Unauthorized", status_code=401)
    return None


class ApiKeyMiddleware:
    """``api_key`` written by hand as pure ASGI: what the adapter must cost no more than."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and Headers(scope=scope).get("x-api-key") != API_KEY:
            await PlainTextResponse("Unauthorized", status_code=401)(scope, receive, send)
            return
        await self.app(scope, receive, send)


class ApiKeyRequestMiddleware:
    """Hand-written pure ASGI that calls ``api_key`` itself, with a ``Request``.

    The least any wrapper of a request function must do; the gap between this and
    :class:`ApiKeyMiddleware` is the price of the request-function shape itself.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refused = api_key(Request(scope, receive))
            if refused is not None:
                await refused(scope, receive, send)
                return
        await self.app(scope, receive, send)


class ApiKeyBaseHTTP(BaseHTTPMiddleware):
    """``api_key`` as a ``BaseHTTPMiddleware``: the usual way, and the baseline to beat."""

    async def dispatch(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        refused = api_key(request)
        if refused is not None:
            return refused
        return await call_next(request)


# Measure ``functions``: three request functions in a row, each setting one state key,
# and their hand-written pure ASGI twins writing ``scope["state"]``.


def tag_user(request: Request) -> None:
    request.state.user = "ada"


def tag_tenant(request: Request) -> None:
    request.state.tenant = "t1"


def tag_locale(request: Request) -> None:
    request.state.locale = "en"


TAG_FUNCTIONS = [tag_user, tag_tenant, tag_locale]


class _Tag:
    key = ""
    value = ""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope.setdefault("state", {})[self.key] = self.value
        await self.app(scope, receive, send)


class TagUser(_Tag):
    key, value = "user", "ada"


class TagTenant(_Tag):
    key, value = "tenant", "t1"


class TagLocale(_Tag):
    key, value = "locale", "en"


TAG_CLASSES: list[type] = [TagUser, TagTenant, TagLocale]


async def home(request: Request) -> Response:
    return PlainTextResponse("ok")


routes = [Route("/", home)]
