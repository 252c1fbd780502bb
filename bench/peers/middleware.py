"""The middleware of the spoc_asgi and hand-wired Starlette apps.

``Server``, ``Timing`` and ``NoSniff`` are pure ASGI classes, used as they are by
both. The two request functions are what a spoc_asgi user writes; their pure ASGI
twins (``RequestIdMiddleware``, ``ApiKeyMiddleware``) are what a Starlette user
writes by hand (Starlette's docs: "Pure ASGI Middleware").
"""

from __future__ import annotations

import time

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bench.peers.shared import API_KEY, NOSNIFF, SERVER, new_request_id, timing_header

UNAUTHORIZED = PlainTextResponse("Unauthorized", status_code=401)


class _AddHeader:
    header = (b"", b"")

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = self.header

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        await self.app(scope, receive, send_with_header)


class Server(_AddHeader):
    header = SERVER


class NoSniff(_AddHeader):
    header = NOSNIFF


class Timing:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()

        async def send_with_timing(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), timing_header(began)]
            await send(message)

        await self.app(scope, receive, send_with_timing)


# -- the two request functions (spoc_asgi) -----------------------------------------------


def tag_request_id(request: Request) -> None:
    request.state.request_id = request.headers.get("x-request-id") or new_request_id()


def check_api_key(request: Request) -> Response | None:
    if request.headers.get("x-api-key") != API_KEY:
        return UNAUTHORIZED
    return None


# -- their pure ASGI twins (hand-wired Starlette) --------------------------------------


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            given = Headers(scope=scope).get("x-request-id")
            scope.setdefault("state", {})["request_id"] = given or new_request_id()
        await self.app(scope, receive, send)


class ApiKeyMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and Headers(scope=scope).get("x-api-key") != API_KEY:
            await UNAUTHORIZED(scope, receive, send)
            return
        await self.app(scope, receive, send)
