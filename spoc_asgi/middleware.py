"""Turn the ``middleware`` group into pure ASGI middleware (docs/middleware.md).

First listed = outermost. Four entry shapes are accepted:

1. an ASGI middleware class, built as ``cls(app, **options)``;
2. a ``starlette.middleware.Middleware`` (configured options are merged into it);
3. a request function ``fn(request)``, sync or async;
4. a class whose instances are request functions (``process(request)`` or
   ``__call__(request)``), instantiated once.

A class whose ``__init__`` takes the app, or whose ``__call__`` takes
``(scope, receive, send)``, is shape 1 even if it also has a ``process`` method.

Request functions run inside
:class:`~spoc_asgi.request_functions.RequestFunctionMiddleware`, pure ASGI.
"""

from __future__ import annotations

import inspect
from typing import Any

from starlette.middleware import Middleware
from starlette.types import ASGIApp, Receive, Scope, Send

from spoc_asgi.config import PluginSource
from spoc_asgi.framework import Framework
from spoc_asgi.markers import is_blocking
from spoc_asgi.request_functions import (
    RequestFunction,
    RequestFunctionMiddleware,
    request_function_of,
)
from spoc_asgi.shapes import (
    accepts_positional,
    apply_options,
    check_arguments,
    instantiate,
    options_error,
    positional_count,
    shape_error,
)

GROUP = "middleware"
EXPECTED_SHAPES = (
    "an ASGI middleware class cls(app, **options), a starlette Middleware, "
    "a request function fn(request), or a class with process(request) or __call__(request)"
)


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


def adapt(framework: Framework, uri: str, obj: Any) -> Middleware:
    """One middleware-group entry as a Starlette ``Middleware`` of pure ASGI."""
    group = GROUP
    options = framework.options_for(group, uri)
    source = framework.sources[group].get(uri)
    if isinstance(obj, Middleware):
        cls, args, kwargs = obj
        return Middleware(_Prebuilt(cls, args, {**kwargs, **options}, uri, source))
    if is_asgi_middleware_class(obj):
        return Middleware(_Prebuilt(obj, (), options, uri, source))
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


class _Prebuilt:
    """What a configured middleware's ``Middleware`` entry builds: one instance, made now.

    Starlette builds the middleware stack lazily, on the first call, which under
    uvicorn is the lifespan: a constructor raising there reads as "lifespan
    unsupported" and the app serves without its hooks. So the middleware is built
    here, once, around a :class:`_Next` standing for the layer inside it; when Starlette
    builds its stack, the instance is handed over and the layer joined up.
    """

    def __init__(
        self,
        cls: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        uri: str,
        source: PluginSource | None,
    ) -> None:
        self.cls, self.args, self.kwargs = cls, args, kwargs
        self.next = _Next()
        if inspect.isclass(cls):
            check_arguments(cls, (self.next, *args), kwargs, group=GROUP, uri=uri, source=source)
        try:
            self.instance: ASGIApp = cls(self.next, *args, **kwargs)
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
            raise options_error(GROUP, uri, "failed with", kwargs, source, reason) from exc
        # How the CLI names this layer: after the middleware, not this wrapper.
        self.__module__ = getattr(cls, "__module__", __name__)
        self.__qualname__ = getattr(cls, "__qualname__", repr(cls))

    def __call__(self, app: ASGIApp) -> ASGIApp:
        if self.next.app is not _unjoined and self.next.app is not app:
            another: ASGIApp = self.cls(app, *self.args, **self.kwargs)
            return another  # a second stack needs an instance of its own
        self.next.app = app
        if getattr(self.instance, "app", None) is self.next:
            self.instance.app = app  # type: ignore[attr-defined]  # the usual ``self.app = app``: no extra hop per request
        return self.instance


async def _unjoined(scope: Scope, receive: Receive, send: Send) -> None:
    raise RuntimeError("a middleware was called before Starlette built its stack")


class _Next:
    """The layer inside a prebuilt middleware, known once Starlette builds its stack."""

    def __init__(self) -> None:
        self.app: ASGIApp = _unjoined

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)
