"""Decorators that tell spoc_asgi how to run a plugin function."""

from __future__ import annotations

from typing import Any, TypeVar

F = TypeVar("F", bound=Any)

BLOCKING_ATTR = "__spoc_blocking__"
SHUTDOWN_ATTR = "__spoc_shutdown__"
SHUTDOWN_NAMES = frozenset({"shutdown", "on_shutdown"})


def blocking(func: F) -> F:
    """Mark a sync request function as blocking: it then runs in a worker thread."""
    setattr(func, BLOCKING_ATTR, True)
    return func


def on_shutdown(func: F) -> F:
    """Mark a hooks-group function to run at shutdown instead of startup."""
    setattr(func, SHUTDOWN_ATTR, True)
    return func


def is_blocking(func: object) -> bool:
    return bool(getattr(func, BLOCKING_ATTR, False))


def is_shutdown_hook(func: object) -> bool:
    return (
        bool(getattr(func, SHUTDOWN_ATTR, False)) or getattr(func, "__name__", "") in SHUTDOWN_NAMES
    )
