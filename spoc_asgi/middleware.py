"""Turn the ``middleware`` group into pure ASGI middleware (SPEC section 5).

First listed = outermost. Four entry shapes are accepted:

1. an ASGI middleware class, built as ``cls(app, **options)``;
2. a ``starlette.middleware.Middleware`` (configured options are merged into it);
3. a request function ``fn(request)``, sync or async;
4. a class whose instances are request functions (``process(request)`` or
   ``__call__(request)``), instantiated once.

A class whose ``__init__`` takes the app, or whose ``__call__`` takes
``(scope, receive, send)``, is shape 1 even if it also has a ``process`` method.

Request functions run inside :class:`RequestFunctionMiddleware`, a plain ASGI
callable: one ``Request`` per request, no task groups, no streams. This is what
keeps them as cheap as hand-written middleware (Starlette's task-based base class for
HTTP middleware is never used).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncGenerator, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request, empty_send
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from spoc_asgi import compat
from spoc_asgi.framework import Framework
from spoc_asgi.importer import PluginSource
from spoc_asgi.markers import is_blocking
from spoc_asgi.shapes import (
    accepts_positional,
    apply_options,
    check_arguments,
    instantiate,
    is_async_callable,
    options_error,
    positional_count,
    shape_error,
)

RequestFunction = Callable[[Request], Any]

EXPECTED_SHAPES = (
    "an ASGI middleware class cls(app, **options), a starlette Middleware, "
    "a request function fn(request), or a class with process(request) or __call__(request)"
)


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


def is_asgi_middleware_class(obj: Any) -> bool:
    """A class taking the app in ``__init__``, or with ``__call__(scope, receive, send)``."""
    if not inspect.isclass(obj):
        return False
    call = inspect.getattr_static(obj, "__call__", None)
    if inspect.isfunction(call) and accepts_positional(call, 4):  # self, scope, receive, send
        return True
    init = inspect.getattr_static(obj, "__init__", None)
    if not inspect.isfunction(init):
        return False
    names = list(inspect.signature(init).parameters)
    if len(names) >= 2 and names[1] == "app":
        return True
    # A required positional argument is the app, unless instances are request functions.
    return positional_count(init)[0] >= 2 and not has_request_method(obj)


def has_request_method(cls: type[Any]) -> bool:
    """Whether instances are request functions: ``process``/``__call__`` take (self, request)."""
    return any(
        inspect.isfunction(method) and accepts_positional(method, 2)
        for method in (
            inspect.getattr_static(cls, "process", None),
            inspect.getattr_static(cls, "__call__", None),
        )
    )


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


def adapt(framework: Framework, uri: str, obj: Any) -> Middleware:
    """One middleware-group entry as a Starlette ``Middleware`` of pure ASGI."""
    group = "middleware"
    options = framework.options_for(group, uri)
    source = framework.sources[group].get(uri)
    if isinstance(obj, Middleware):
        cls, args, kwargs = obj
        kwargs = {**kwargs, **options}
        _check_middleware_arguments(cls, args, kwargs, uri, source)
        return compat.middleware(cls, *args, **kwargs)
    if is_asgi_middleware_class(obj):
        _check_middleware_arguments(obj, (), options, uri, source)
        return compat.middleware(obj, **options)
    if inspect.isclass(obj):
        if has_request_method(obj):
            instance = instantiate(obj, options, group=group, uri=uri, source=source)
            func = request_function_of(instance)
            if func is not None:
                return _request_function(func, uri, is_blocking(obj))
        raise shape_error("spoc.E016", group, uri, obj, EXPECTED_SHAPES, source)
    func = request_function_of(obj)
    if func is None:
        raise shape_error("spoc.E016", group, uri, obj, EXPECTED_SHAPES, source)
    apply_options(obj, options, group=group, uri=uri, source=source)
    return _request_function(func, uri, is_blocking(obj))


def _request_function(func: RequestFunction, uri: str, blocking: bool) -> Middleware:
    return Middleware(RequestFunctionMiddleware, func=func, uri=uri, blocking=blocking)


def _check_middleware_arguments(
    cls: Any, args: tuple[Any, ...], kwargs: dict[str, Any], uri: str, source: PluginSource | None
) -> None:
    """Fail at build time (spoc.E021) on options the middleware would reject.

    Starlette builds the middleware stack lazily, on the first call, which under
    uvicorn is the lifespan: a constructor raising there reads as "lifespan
    unsupported" and the app serves without its hooks. So the signature is checked
    and the middleware is built once, around a stand-in app, now.
    """
    if inspect.isclass(cls):
        check_arguments(cls, (_no_app, *args), kwargs, group="middleware", uri=uri, source=source)
    try:
        cls(_no_app, *args, **kwargs)
    except Exception as exc:
        reason = f"{type(exc).__name__}: {exc}"
        raise options_error("middleware", uri, "failed with", kwargs, source, reason) from exc


async def _no_app(scope: Scope, receive: Receive, send: Send) -> None:  # pragma: no cover
    """Stands for the wrapped app when a middleware is built to check its options."""


def build_middleware(framework: Framework) -> list[Middleware]:
    return [
        adapt(framework, uri, obj) for uri, obj in framework.plugins.get("middleware", {}).items()
    ]
