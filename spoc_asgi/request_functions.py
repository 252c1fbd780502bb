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
from starlette.datastructures import Headers, State
from starlette.exceptions import HTTPException
from starlette.requests import Request, empty_send
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from spoc_asgi.markers import is_blocking
from spoc_asgi.shapes import accepts_positional, is_async_callable

RequestFunction = Callable[[Request], Any]


class RequestState(State):
    """``request.state`` whose attributes are the ``scope["state"]`` dict itself.

    Starlette's ``State`` keeps the dict in ``_state`` and writes through a Python
    ``__setattr__``; here the dict is the instance's ``__dict__``, so setting and
    reading an attribute is the interpreter's own dict access, and later layers,
    Starlette's ``Request`` and the endpoint see the same keys. ``_state`` stays
    available for what ``State`` builds on it (``state["key"]``, ``len``, ``iter``).
    """

    __setattr__ = object.__setattr__  # type: ignore[assignment]
    __delattr__ = object.__delattr__

    def __init__(self, state: dict[str, Any] | None = None) -> None:
        object.__setattr__(self, "__dict__", {} if state is None else state)

    @property
    def _state(self) -> dict[str, Any]:  # type: ignore[override]
        return self.__dict__


_new = object.__new__


class _StateOnFirstRead:
    """``request.state``, made on first read and then kept as an instance attribute.

    Starlette's ``state`` and ``headers`` are properties doing ``hasattr``, build and
    store on every read. These descriptors have no ``__set__``: after the first read
    the attribute is a plain instance attribute, one dict lookup.
    """

    def __get__(self, request: Request | None, owner: type[Any] | None = None) -> Any:
        if request is None:
            return self
        state = _new(RequestState)
        # As HTTPConnection.state: the dict lives in the scope, made if missing.
        state.__dict__ = request.scope.setdefault("state", {})
        # An instance attribute (this descriptor has no __set__), stored without making
        # the instance's __dict__, which costs more than the rest of the layer's work.
        request.state = state  # type: ignore[misc]
        return state


class _HeadersOnFirstRead:
    """``request.headers``, made on first read (see :class:`_StateOnFirstRead`).

    ``Headers(scope=scope)`` copies ``scope["headers"]`` into a new list and stores it
    back in the scope, so that its ``_list`` is a list; when the server already sent a
    list (uvicorn, hypercorn, httpx's transport do), the same ``Headers`` is made
    without the copy. ``tests/test_middleware.py`` checks that the two are the
    same object state on every Starlette of the supported range.
    """

    def __get__(self, request: Request | None, owner: type[Any] | None = None) -> Any:
        if request is None:
            return self
        raw = request.scope["headers"]
        if type(raw) is list:
            headers = _new(Headers)
            headers._list = raw
        else:
            headers = Headers(scope=request.scope)
        request.headers = headers  # type: ignore[misc]  # as state, above
        return headers


class _Request(Request):
    """A ``Request`` whose body, once read in any way, stays readable downstream.

    ``Request.body()`` keeps what it read, but ``stream()`` (and ``form()``, which
    reads through it) would leave the app nothing; here they read through
    ``body()`` too, so :class:`RequestFunctionMiddleware` can replay the bytes.

    One is built per request and layer, so construction is kept to two attribute
    writes: the defaults ``Request.__init__`` would set per instance live on the
    class (a test keeps them in step with Starlette's). ``state`` and ``headers`` are
    made on first read, as Starlette makes them, and then read as plain attributes.
    """

    _send = staticmethod(empty_send)
    _stream_consumed = False
    _is_disconnected = False
    _form = None
    state = _StateOnFirstRead()
    headers = _HeadersOnFirstRead()

    def __init__(self, scope: Scope, receive: Receive) -> None:
        self.scope = scope
        self._receive = receive

    async def stream(self) -> AsyncGenerator[bytes, None]:
        if not hasattr(self, "_body"):
            chunks = [chunk async for chunk in super().stream()]
            self._body = b"".join(chunks)
        yield self._body
        yield b""


# How a request function is called, decided once when the layer is built.
INLINE, AWAIT, THREAD = 0, 1, 2


class RequestFunctionMiddleware:
    """Run request functions before the app; a returned ``Response`` short-circuits.

    Built around another ``RequestFunctionMiddleware``, it takes over that one's
    functions: a run of consecutive request functions is one layer, with one
    ``Request`` shared by the run, called in listed order (docs/middleware.md,
    "Request functions: the rules"). Each function returns the request or
    ``None`` to go on, or a ``Response`` to answer instead of everything after it.
    An exception goes through the app's exception handlers as from a route
    (:func:`handled`), else ``PermissionError`` becomes 403 and ``HTTPException``
    its own status; anything else propagates to Starlette's error handling.
    """

    def __init__(
        self, app: ASGIApp, func: RequestFunction, uri: str = "", blocking: bool = False
    ) -> None:
        if is_async_callable(func):
            how = AWAIT
        else:
            how = THREAD if blocking or is_blocking(func) else INLINE
        step = (func, how, uri or repr(func))
        if type(app) is RequestFunctionMiddleware:
            self.app: ASGIApp = app.app
            self.steps: tuple[tuple[RequestFunction, int, str], ...] = (step, *app.steps)
        else:
            self.app = app
            self.steps = (step,)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # A coroutine, unlike BodySizeLimit: the functions are user code, so they run
        # when the layer is awaited, in the awaiting task's context, as Starlette's
        # middleware do (docs/performance.md, "What a layer costs").
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = _new(_Request)  # _Request.__init__, inline: once per request
        request.scope = scope
        request._receive = receive
        for func, how, name in self.steps:
            try:
                if how == INLINE:
                    result = func(request)  # sync and not marked blocking: inline, by contract
                elif how == AWAIT:
                    result = await func(request)
                else:
                    result = await run_in_threadpool(func, request)
            except Exception as exc:
                result = await handled(exc, request)
                if result is None:
                    raise
            if result is None or result is request:
                continue
            if isinstance(result, Response):
                await result(scope, receive, send)
                return
            raise TypeError(_bad_result(name, result))
        if hasattr(request, "_body"):  # not `in __dict__`: that would make the dict
            # A function read the body: hand the app the same bytes again.
            receive = _replay(request._body, receive)
        await self.app(scope, receive, send)

    def __repr__(self) -> str:
        return f"RequestFunctionMiddleware({', '.join(name for _, _, name in self.steps)})"


def _bad_result(name: str, result: object) -> str:
    if isinstance(result, Request):
        return (
            f"middleware {name} returned a different Request; a request function cannot "
            "replace the request (the app is called with the ASGI scope, not this object): "
            "return the request it was given, None or a Response, set request.state, "
            "or write an ASGI middleware class to pass the app a new scope"
        )
    return (
        f"middleware {name} returned {type(result).__name__}; "
        "a request function returns the request, None or a Response"
    )


async def handled(exc: Exception, request: Request) -> Response | None:
    """The response for an exception a request function raised, or None to re-raise.

    The app's own exception handlers come first, looked up as Starlette's
    ``ExceptionMiddleware`` does (status code for an ``HTTPException``, then the
    exception's classes in MRO order; ``500``/``Exception`` belong to the server error
    layer, which is outside this one anyway). The app is ``scope["app"]``: the app
    built by ``create_app``, or the host an ``install()`` put the group into.
    """
    handler = _handler_for(exc, getattr(request.scope.get("app"), "exception_handlers", None))
    if handler is not None:
        if is_async_callable(handler):
            response = await handler(request, exc)
        else:
            response = await run_in_threadpool(handler, request, exc)
        return response  # type: ignore[no-any-return]
    if isinstance(exc, PermissionError):
        return _forbidden(exc)
    if isinstance(exc, HTTPException):
        return _http_exception_response(exc)
    return None


def _handler_for(exc: Exception, handlers: dict[Any, Any] | None) -> Any:
    if not handlers:
        return None
    if isinstance(exc, HTTPException) and exc.status_code != 500:
        handler = handlers.get(exc.status_code)
        if handler is not None:
            return handler
    for cls in type(exc).__mro__:
        if cls is Exception:
            return None
        if cls in handlers:
            return handlers[cls]
    return None


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
