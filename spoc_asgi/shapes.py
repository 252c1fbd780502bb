"""Recognise what a loaded plugin object is, and make instances of plugin classes.

The middleware, hooks and backend adapters all ask the same questions of an
object (how many positional arguments does it take? is it async?), so the answers
live here, once.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import Callable
from typing import Any

import anyio
import anyio.to_thread

from spoc_asgi.checks import CheckMessage
from spoc_asgi.config import PluginSource
from spoc_asgi.errors import ConfigurationError
from spoc_asgi.logs import logger

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def positional_count(func: Callable[..., Any]) -> tuple[int, int]:
    """(required, maximum) positional arguments of ``func``; maximum is large for ``*args``."""
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        return (0, 0)
    required = maximum = 0
    for parameter in signature.parameters.values():
        if parameter.kind in _POSITIONAL:
            maximum += 1
            if parameter.default is inspect.Parameter.empty:
                required += 1
        elif parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            maximum = 1_000
    return required, maximum


def accepts_positional(func: Callable[..., Any], count: int) -> bool:
    required, maximum = positional_count(func)
    return required <= count <= maximum


def is_async_callable(obj: Any) -> bool:
    while isinstance(obj, functools.partial):
        obj = obj.func
    return inspect.iscoroutinefunction(obj) or (
        callable(obj) and inspect.iscoroutinefunction(type(obj).__call__)
    )


def accepts_keyword(func: Callable[..., Any], name: str) -> bool:
    try:
        parameters = inspect.signature(func).parameters
    except (TypeError, ValueError):
        return False
    return name in parameters or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()
    )


async def call_in_place(
    func: Callable[..., Any], *args: Any, name: str = "", grace: float = 0
) -> Any:
    """Await an async callable; run a sync one in a worker thread (never block the loop).

    Used for hooks and backends, which run at startup and shutdown only; ``name`` and
    ``grace`` are for :func:`run_sync`.
    """
    if is_async_callable(func):
        return await func(*args)
    result = await run_sync(func, *args, name=name, grace=grace)
    if inspect.isawaitable(result):
        return await result
    return result


async def run_sync(func: Callable[..., Any], *args: Any, name: str = "", grace: float = 0) -> Any:
    """Run a sync callable in an anyio worker thread (``anyio.from_thread`` works in it).

    A thread cannot be stopped. Cancelled (a hook_timeout ran out), the caller still
    waits up to ``grace`` seconds, shielded, for it to return, so that nothing it may use
    is torn down under it; after that it is left running and logged as an error.
    """
    from anyio import from_thread  # imported when a sync step first runs: ~5 ms

    returned = anyio.Event()

    def work() -> Any:
        try:
            return func(*args)
        finally:
            # The loop may be gone when a thread given up on returns at last.
            with contextlib.suppress(Exception):
                from_thread.run_sync(returned.set)

    try:
        return await anyio.to_thread.run_sync(work, abandon_on_cancel=True)
    except anyio.get_cancelled_exc_class():
        with anyio.CancelScope(shield=True), anyio.move_on_after(grace):
            await returned.wait()
        if not returned.is_set():
            logger.error(
                "%s is still running in its worker thread %gs after it was cancelled; "
                "going on without it (see docs/hooks.md, sync hooks)",
                name or getattr(func, "__qualname__", repr(func)),
                grace,
            )
        raise


def instantiate(
    cls: type[Any],
    options: dict[str, Any],
    *,
    group: str,
    uri: str,
    source: PluginSource | None,
) -> Any:
    """Make the plugin instance: ``cls()`` + ``configure(**options)`` if it has one,
    else ``cls(**options)``. Rejected options, or a constructor that raises on them,
    are a configuration error (spoc.E021)."""
    try:
        if callable(getattr(cls, "configure", None)):
            instance = cls()
            instance.configure(**options)
            return instance
        return cls(**options)
    except Exception as exc:
        reason = f"{type(exc).__name__}: {exc}"
        verb = "could not be created with"
        raise options_error(group, uri, verb, options, source, reason) from exc


def apply_options(
    obj: Any, options: dict[str, Any], *, group: str, uri: str, source: PluginSource | None
) -> None:
    """Hand options to a ready-made plugin through its ``configure(**options)``.

    Options for an object that has no ``configure`` would be silently lost, so they
    are an error (spoc.E021), as is a ``configure`` that rejects them.
    """
    if not options:
        return
    configure = getattr(obj, "configure", None)
    if not callable(configure):
        reason = "it is already built and has no configure(**options) method"
        raise options_error(group, uri, "cannot take", options, source, reason)
    try:
        configure(**options)
    except Exception as exc:
        reason = f"{type(exc).__name__}: {exc}"
        raise options_error(group, uri, "rejected", options, source, reason) from exc


def check_arguments(
    target: Callable[..., Any],
    args: tuple[Any, ...],
    options: dict[str, Any],
    *,
    group: str,
    uri: str,
    source: PluginSource | None,
) -> None:
    """Fail now (spoc.E021) if ``target(*args, **options)`` would be rejected later.

    Starlette instantiates middleware lazily, on the first request; checking the
    signature here keeps a mistyped option a build-time error.
    """
    try:
        inspect.signature(target).bind(*args, **options)
    except TypeError as exc:
        raise options_error(group, uri, "rejected", options, source, str(exc)) from exc
    except ValueError:  # no signature to check against (a builtin, say)
        return


def options_error(
    group: str,
    uri: str,
    verb: str,
    options: dict[str, Any],
    source: PluginSource | None,
    reason: str,
) -> ConfigurationError:
    # Only the option names are shown: values may be secrets.
    message = f"plugin {uri!r} in group {group!r} {verb} its options {sorted(options)}: {reason}"
    return ConfigurationError(CheckMessage.at("spoc.E021", message, source, key=group, uri=uri))


def shape_error(
    check_id: str, group: str, uri: str, obj: Any, expected: str, source: PluginSource | None
) -> ConfigurationError:
    kind = type(obj).__name__ if not inspect.isclass(obj) else f"class {obj.__qualname__}"
    message = f"{group} entry {uri!r} is a {kind}, which is not {expected}"
    return ConfigurationError(CheckMessage.at(check_id, message, source, key=group, uri=uri))
