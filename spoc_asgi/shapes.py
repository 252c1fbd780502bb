"""Recognise what a loaded plugin object is, and make instances of plugin classes.

The middleware, hooks and backend adapters all ask the same questions of an
object (how many positional arguments does it take? is it async?), so the answers
live here, once.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import threading
from collections.abc import Callable
from typing import Any

import anyio
import anyio.from_thread

from spoc_asgi.checks import CheckMessage
from spoc_asgi.config import PluginSource
from spoc_asgi.errors import ConfigurationError

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


async def call_in_place(func: Callable[..., Any], *args: Any) -> Any:
    """Await an async callable; run a sync one in a worker thread (never block the loop).

    Used for hooks and backends, which run at startup and shutdown only.
    """
    if is_async_callable(func):
        return await func(*args)
    result = await run_in_daemon_thread(func, *args)
    if inspect.isawaitable(result):
        return await result
    return result


async def run_in_daemon_thread(func: Callable[..., Any], *args: Any) -> Any:
    """Run a sync callable in a thread of its own; cancelling the caller abandons it.

    A hook that overruns its timeout is given up on, so its thread must neither be
    waited for nor keep the process alive at exit: anyio's worker threads are not
    daemons, this one is. Context variables are copied, as anyio does.
    """
    context = contextvars.copy_context()
    outcome: list[tuple[bool, Any]] = []
    async with anyio.from_thread.BlockingPortal() as portal:
        finished = anyio.Event()

        def work() -> None:
            try:
                outcome.append((True, context.run(func, *args)))
            except BaseException as exc:
                outcome.append((False, exc))
            # The caller may have given up and closed the portal: nobody is waiting then.
            with contextlib.suppress(RuntimeError):
                portal.call(finished.set)

        name = f"spoc_asgi: {getattr(func, '__qualname__', func)!r}"
        threading.Thread(target=work, name=name, daemon=True).start()
        await finished.wait()
    succeeded, value = outcome[0]
    if not succeeded:
        raise value
    return value


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
