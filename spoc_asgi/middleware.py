"""Turn the ``middleware`` group into pure ASGI middleware (SPEC section 5).

First listed = outermost. Four entry shapes are accepted:

1. an ASGI middleware class, built as ``cls(app, **options)``;
2. a ``starlette.middleware.Middleware`` (configured options are merged into it);
3. a request function ``fn(request)``, sync or async;
4. a class whose instances are request functions (``process(request)`` or
   ``__call__(request)``), instantiated once.

Request functions run inside :class:`RequestFunctionMiddleware`, a plain ASGI
callable: one ``Request`` per request, no task groups, no streams. This is what
keeps them as cheap as hand-written middleware (``BaseHTTPMiddleware`` is not used).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from spoc_asgi.framework import Framework
from spoc_asgi.markers import is_blocking
from spoc_asgi.shapes import (
    accepts_positional,
    instantiate,
    is_async_callable,
    positional_count,
    shape_error,
)

RequestFunction = Callable[[Request], Any]

EXPECTED_SHAPES = (
    "an ASGI middleware class cls(app, **options), a starlette Middleware, "
    "a request function fn(request), or a class with process(request) or __call__(request)"
)


class RequestFunctionMiddleware:
    """Run ``func(request)`` before the app; a returned ``Response`` short-circuits.

    ``PermissionError`` becomes 403 and ``HTTPException`` its own status; anything
    else propagates to Starlette's error handling (500, traceback only in debug).
    """

    def __init__(self, app: ASGIApp, func: RequestFunction, uri: str = "") -> None:
        self.app = app
        self.func = func
        self.uri = uri
        self.is_async = is_async_callable(func)
        self.in_thread = not self.is_async and is_blocking(func)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            if self.is_async:
                result = await self.func(request)
            elif self.in_thread:
                result = await run_in_threadpool(self.func, request)
            else:
                result = self.func(request)  # sync and non-blocking: inline, by contract
        except PermissionError as exc:
            result = PlainTextResponse(str(exc) or "Forbidden", status_code=403)
        except HTTPException as exc:
            result = PlainTextResponse(exc.detail, status_code=exc.status_code, headers=exc.headers)
        if isinstance(result, Response):
            await result(scope, receive, send)
            return
        if hasattr(request, "_body"):
            # The function read the body: hand the app the same bytes again.
            receive = _replay(request._body, receive)
        await self.app(scope, receive, send)

    def __repr__(self) -> str:
        return f"RequestFunctionMiddleware({self.uri or self.func!r})"


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
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
    if callable(obj) and accepts_positional(obj, 1):
        return obj  # type: ignore[no-any-return]
    return None


def adapt(framework: Framework, uri: str, obj: Any) -> Middleware:
    """One middleware-group entry as a Starlette ``Middleware`` of pure ASGI."""
    group = "middleware"
    options = framework.options_for(group, uri)
    source = framework.sources[group].get(uri)
    if isinstance(obj, Middleware):
        cls, args, kwargs = obj
        return Middleware(cls, *args, **{**kwargs, **options})
    if is_asgi_middleware_class(obj):
        return Middleware(obj, **options)
    if inspect.isclass(obj):
        if has_request_method(obj):
            instance = instantiate(obj, options, group=group, uri=uri, source=source)
            func = request_function_of(instance)
            if func is not None:
                return Middleware(RequestFunctionMiddleware, func=func, uri=uri)
        raise shape_error("spoc.E016", group, uri, obj, EXPECTED_SHAPES, source)
    func = request_function_of(obj)
    if func is None:
        raise shape_error("spoc.E016", group, uri, obj, EXPECTED_SHAPES, source)
    configure = getattr(obj, "configure", None)
    if options and callable(configure):
        configure(**options)
    return Middleware(RequestFunctionMiddleware, func=func, uri=uri)


def build_middleware(framework: Framework) -> list[Middleware]:
    return [
        adapt(framework, uri, obj) for uri, obj in framework.plugins.get("middleware", {}).items()
    ]
