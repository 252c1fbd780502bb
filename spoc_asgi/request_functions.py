"""Request functions as pure ASGI: ``fn(request)`` before the app (docs/middleware.md).

:class:`RequestFunctionMiddleware` is a plain ASGI callable: one ``Request`` per
request, no task groups, no streams. This is what keeps request functions as cheap
as hand-written middleware (Starlette's task-based base class for HTTP middleware
is never used).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncGenerator, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request, empty_send
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from spoc_asgi.markers import is_blocking
from spoc_asgi.shapes import accepts_positional, is_async_callable

RequestFunction = Callable[[Request], Any]


class _Request(Request):
    """A ``Request`` whose body, once read in any way, stays readable downstream.

    ``Request.body()`` keeps what it read, but ``stream()`` (and ``form()``, which
    reads through it) would leave the app nothing; here they read through
    ``body()`` too, so :class:`RequestFunctionMiddleware` can replay the bytes.

    One is built for every request, so construction is kept to two attribute
    writes: the defaults ``Request.__init__`` would set per instance live on the
    class (a test keeps them in step with Starlette's).
    """

    _send = staticmethod(empty_send)
    _stream_consumed = False
    _is_disconnected = False
    _form = None

    def __init__(self, scope: Scope, receive: Receive) -> None:
        self.scope = scope
        self._receive = receive

    async def stream(self) -> AsyncGenerator[bytes, None]:
        if not hasattr(self, "_body"):
            chunks = [chunk async for chunk in super().stream()]
            self._body = b"".join(chunks)
        yield self._body
        yield b""


class RequestFunctionMiddleware:
    """Run ``func(request)`` before the app; a returned ``Response`` short-circuits.

    Returning the request (or any ``Request``) or ``None`` goes on to the app.
    ``PermissionError`` becomes 403 and ``HTTPException`` its own status; anything
    else propagates to Starlette's error handling (500, traceback only in debug).
    How to call ``func`` is decided once, here, not per request.
    """

    def __init__(
        self, app: ASGIApp, func: RequestFunction, uri: str = "", blocking: bool = False
    ) -> None:
        self.app = app
        self.func = func
        self.uri = uri
        self.is_async = is_async_callable(func)
        self.in_thread = not self.is_async and (blocking or is_blocking(func))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = _Request(scope, receive)
        try:
            if self.is_async:
                result = await self.func(request)
            elif self.in_thread:
                result = await run_in_threadpool(self.func, request)
            else:
                result = self.func(request)  # sync and non-blocking: inline, by contract
        except PermissionError as exc:
            result = _forbidden(exc)
        except HTTPException as exc:
            result = _http_exception_response(exc)
        if result is not None and result is not request:
            if isinstance(result, Response):
                await result(scope, receive, send)
                return
            if not isinstance(result, Request):
                raise TypeError(
                    f"middleware {self.uri or self.func!r} returned {type(result).__name__}; "
                    f"a request function returns the request, None or a Response"
                )
        if hasattr(request, "_body"):
            # The function read the body: hand the app the same bytes again.
            receive = _replay(request._body, receive)
        await self.app(scope, receive, send)

    def __repr__(self) -> str:
        return f"RequestFunctionMiddleware({self.uri or self.func!r})"


def _http_exception_response(exc: HTTPException) -> Response:
    # As Starlette's own handler: 204 and 304 must not carry a body.
    if exc.status_code in {204, 304}:
        return Response(status_code=exc.status_code, headers=exc.headers)
    return PlainTextResponse(exc.detail, status_code=exc.status_code, headers=exc.headers)


def _forbidden(exc: PermissionError) -> Response:
    # A PermissionError raised on purpose carries a message meant for the client; one
    # from the OS (it has an errno) may name files, so it is not shown.
    message = str(exc) if exc.errno is None and exc.args else "Forbidden"
    return PlainTextResponse(message, status_code=403)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()  # e.g. http.disconnect, for streaming responses
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def request_function_of(obj: Any) -> RequestFunction | None:
    """The ``fn(request)`` an object offers, or None when it offers none."""
    process = getattr(obj, "process", None)
    if callable(process) and accepts_positional(process, 1):
        return process  # type: ignore[no-any-return]
    if inspect.isroutine(obj) or isinstance(obj, functools.partial):
        return obj if accepts_positional(obj, 1) else None
    call = getattr(obj, "__call__", None)  # noqa: B004 - the bound method carries its markers
    if callable(call) and accepts_positional(call, 1):
        return call  # type: ignore[no-any-return]
    return None
