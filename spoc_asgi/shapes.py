"""Recognise what a loaded plugin object is, and make instances of plugin classes.

The middleware, hooks and backend adapters all ask the same questions of an
object (how many positional arguments does it take? is it async?), so the answers
live here, once.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import anyio.to_thread

from spoc_asgi.checks import CheckMessage
from spoc_asgi.errors import ConfigurationError
from spoc_asgi.importer import PluginSource

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
    """Await an async callable; run a sync one in a worker thread (never block the loop)."""
    if is_async_callable(func):
        return await func(*args)
    # abandon_on_cancel: a hook timeout must be able to give up on a stuck thread.
    result = await anyio.to_thread.run_sync(functools.partial(func, *args), abandon_on_cancel=True)
    if inspect.isawaitable(result):
        return await result
    return result


def instantiate(
    cls: type[Any],
    options: dict[str, Any],
    *,
    group: str,
    uri: str,
    source: PluginSource | None,
) -> Any:
    """Make the plugin instance: ``cls()`` + ``configure(**options)`` if it has one,
    else ``cls(**options)``. A rejected option is a configuration error (spoc.E021)."""
    try:
        if callable(getattr(cls, "configure", None)):
            instance = cls()
            instance.configure(**options)
            return instance
        return cls(**options)
    except TypeError as exc:
        raise ConfigurationError(
            CheckMessage(
                "spoc.E021",
                f"plugin {uri!r} in group {group!r} rejected its options {sorted(options)}: {exc}",
                file=source.file if source else None,
                key=group,
                uri=uri,
                line=source.line if source else None,
            )
        ) from exc


def shape_error(
    check_id: str, group: str, uri: str, obj: Any, expected: str, source: PluginSource | None
) -> ConfigurationError:
    kind = type(obj).__name__ if not inspect.isclass(obj) else f"class {obj.__qualname__}"
    return ConfigurationError(
        CheckMessage(
            check_id,
            f"{group} entry {uri!r} is a {kind}, which is not {expected}",
            file=source.file if source else None,
            key=group,
            uri=uri,
            line=source.line if source else None,
        )
    )
