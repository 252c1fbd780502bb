"""Turn the ``hooks`` group into lifespan steps (docs/hooks.md).

Every accepted shape becomes one thing: a factory of an async context manager
that starts the hook on enter and stops it on exit. The lifespan then only has to
enter them in order and exit them in reverse.

Accepted shapes:

* a function, sync or async, taking no argument or the app: runs at startup
  (if it returns an async context manager, that is entered and exited too);
* a function marked ``@on_shutdown`` or named ``shutdown``/``on_shutdown``: runs at shutdown;
* an async generator function or async context manager factory (an
  ``@asynccontextmanager`` function, or a class with ``__aenter__``/``__aexit__``)
  taking the app, or no argument; a mapping it yields joins the lifespan state;
* an object (instance, module, or a class instantiated with its options) with
  ``startup`` and/or ``shutdown`` methods.

Sync functions run in a worker thread so a slow one cannot freeze the event loop.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, NamedTuple

from spoc_asgi.framework import Framework
from spoc_asgi.markers import is_shutdown_hook
from spoc_asgi.shapes import (
    accepts_positional,
    apply_options,
    call_in_place,
    check_arguments,
    instantiate,
    shape_error,
)

HookFactory = Callable[[Any], AbstractAsyncContextManager[Mapping[str, Any] | None]]

EXPECTED_SHAPES = (
    "a function taking no argument or the app, an async generator / async context "
    "manager factory taking the app, or an object with startup/shutdown methods"
)


class Step(NamedTuple):
    """One thing the lifespan starts and stops: a hook, a backend or a caller's lifespan.

    ``open(app)`` returns an async context manager: entered at startup (a mapping it
    yields joins the lifespan state), exited at shutdown, both in the lifespan's task.
    A wrapper that changes how a step runs (once across processes, say) is another such
    factory around ``open``: ``Step(kind, uri, wrap(step.open))``; hooks-group steps are
    made in :func:`adapt`.
    """

    kind: str  # "hook", "backend" or "lifespan": used in messages
    uri: str
    open: HookFactory
    start_timeout: float | None = None  # bounds the enter instead of hook_timeout
    detail: str = ""  # e.g. a backend's redacted repr, naming its server in every message

    @property
    def label(self) -> str:
        label = f"{self.kind} {self.uri!r}"
        return f"{label} ({self.detail})" if self.detail else label


def bind_app(func: Callable[..., Any], label: str, grace: float) -> Callable[[Any], Awaitable[Any]]:
    """``call(app)``: awaits ``func`` with the app if it takes one argument, else with none
    (a sync ``func`` in a worker thread, see :func:`~spoc_asgi.shapes.run_sync`). The
    signature is read once, here: ``inspect.signature`` is too slow for every startup."""
    if accepts_positional(func, 1):
        return lambda app: call_in_place(func, app, name=label, grace=grace)
    return lambda app: call_in_place(func, name=label, grace=grace)


def _startup_function(call: Callable[[Any], Awaitable[Any]]) -> HookFactory:
    @asynccontextmanager
    async def run(app: Any) -> AsyncIterator[Mapping[str, Any] | None]:
        result = await call(app)
        if isinstance(result, AbstractAsyncContextManager) or hasattr(result, "__aenter__"):
            async with result as state:
                yield state if isinstance(state, Mapping) else None
        else:
            yield None

    return run


def _startup_shutdown(
    startup: Callable[[Any], Awaitable[Any]] | None,
    shutdown: Callable[[Any], Awaitable[Any]] | None,
) -> HookFactory:
    @asynccontextmanager
    async def run(app: Any) -> AsyncIterator[None]:
        if startup is not None:
            await startup(app)
        try:
            yield None
        finally:  # also when the lifespan ends by an error: it started, so it stops
            if shutdown is not None:
                await shutdown(app)

    return run


def _methods(obj: Any, label: str, grace: float) -> HookFactory:
    startup, shutdown = getattr(obj, "startup", None), getattr(obj, "shutdown", None)
    return _startup_shutdown(
        bind_app(startup, label, grace) if callable(startup) else None,
        bind_app(shutdown, label, grace) if callable(shutdown) else None,
    )


def _has_lifecycle_methods(obj: Any) -> bool:
    return callable(getattr(obj, "startup", None)) or callable(getattr(obj, "shutdown", None))


def _context_factory(factory: Callable[..., Any], options: Mapping[str, Any]) -> HookFactory:
    """Enter ``factory(app, **options)``, or ``factory(**options)`` if it takes no app."""
    takes_app = accepts_positional(factory, 1)

    @asynccontextmanager
    async def run(app: Any) -> AsyncIterator[Mapping[str, Any] | None]:
        context = factory(app, **options) if takes_app else factory(**options)
        async with context as state:
            yield state if isinstance(state, Mapping) else None

    return run


def _is_context_factory(obj: Any) -> bool:
    if inspect.isclass(obj):
        return hasattr(obj, "__aenter__") and hasattr(obj, "__aexit__")
    # inspect.unwrap sees through @asynccontextmanager to the generator function.
    return inspect.isasyncgenfunction(inspect.unwrap(obj)) if callable(obj) else False


def adapt(framework: Framework, uri: str, obj: Any) -> Step:
    """One hooks-group entry as a lifespan :class:`Step`."""
    group = "hooks"
    # A sync hook that overruns is waited for as long again (docs/hooks.md).
    label, grace = f"hook {uri!r}", framework.config.hook_timeout
    source = framework.sources[group].get(uri)
    options = framework.options_for(group, uri)
    if _is_context_factory(obj):
        if not _takes_app_or_nothing(obj):
            raise shape_error("spoc.E017", group, uri, obj, EXPECTED_SHAPES, source)
        if inspect.isclass(obj):
            app_argument = (None,) if accepts_positional(obj, 1) else ()
            check_arguments(obj, app_argument, options, group=group, uri=uri, source=source)
        else:  # options are for classes; a function is entered as is
            apply_options(obj, options, group=group, uri=uri, source=source)
            options = {}
        if inspect.isasyncgenfunction(obj):
            obj = asynccontextmanager(obj)
        return Step("hook", uri, _context_factory(obj, options))
    if inspect.isclass(obj):
        if not _has_lifecycle_methods(obj):
            raise shape_error("spoc.E017", group, uri, obj, EXPECTED_SHAPES, source)
        obj = instantiate(obj, options, group=group, uri=uri, source=source)
        return Step("hook", uri, _methods(obj, label, grace))
    if not inspect.isroutine(obj) and _has_lifecycle_methods(obj):
        apply_options(obj, options, group=group, uri=uri, source=source)
        return Step("hook", uri, _methods(obj, label, grace))
    if inspect.isgeneratorfunction(obj):
        # Called, it would only build a generator: its body would never run.
        raise shape_error("spoc.E017", group, uri, obj, EXPECTED_SHAPES, source)
    if callable(obj) and _takes_app_or_nothing(obj):  # a function, a partial, ...
        apply_options(obj, options, group=group, uri=uri, source=source)
        if is_shutdown_hook(obj):
            return Step("hook", uri, _startup_shutdown(None, bind_app(obj, label, grace)))
        return Step("hook", uri, _startup_function(bind_app(obj, label, grace)))
    raise shape_error("spoc.E017", group, uri, obj, EXPECTED_SHAPES, source)


def _takes_app_or_nothing(func: Callable[..., Any]) -> bool:
    return accepts_positional(func, 0) or accepts_positional(func, 1)
