"""Decorators that tell spoc_asgi how to run a plugin function."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar, overload

F = TypeVar("F", bound=Any)

BLOCKING_ATTR = "__spoc_blocking__"
SHUTDOWN_ATTR = "__spoc_shutdown__"
ONCE_ATTR = "__spoc_once__"
LEADER_ATTR = "__spoc_leader__"
SHUTDOWN_NAMES = frozenset({"shutdown", "on_shutdown"})


def blocking(func: F) -> F:
    """Mark a sync request function as blocking: it then runs in a worker thread."""
    setattr(func, BLOCKING_ATTR, True)
    return func


def on_shutdown(func: F) -> F:
    """Mark a hooks-group function to run at shutdown instead of startup."""
    setattr(func, SHUTDOWN_ATTR, True)
    return func


class OnceOptions(NamedTuple):
    """How a ``@once`` hook waits: ``timeout`` seconds at most (None: ``wait_seconds``
    of ``[spoc.coordination]``)."""

    timeout: float | None = None


@overload
def once(func: F, /) -> F: ...
@overload
def once(*, timeout: float | None = None) -> Callable[[F], F]: ...
def once(func: Any = None, /, *, timeout: float | None = None) -> Any:
    """Run a hook's startup in exactly one process of the deployment (docs/deployment.md).

    Usable bare (``@once``) or with options (``@once(timeout=600)``).
    """
    options = OnceOptions(timeout=timeout)

    def mark(target: F) -> F:
        setattr(target, ONCE_ATTR, options)
        return target

    return mark(func) if func is not None else mark


def leader(func: F) -> F:
    """Run a long-running ``async def fn(app)`` in exactly one process of the deployment
    at a time, with failover (docs/deployment.md)."""
    setattr(func, LEADER_ATTR, True)
    return func


def is_blocking(func: object) -> bool:
    return bool(getattr(func, BLOCKING_ATTR, False))


def is_shutdown_hook(func: object) -> bool:
    return (
        bool(getattr(func, SHUTDOWN_ATTR, False)) or getattr(func, "__name__", "") in SHUTDOWN_NAMES
    )


def once_options(obj: object) -> OnceOptions | None:
    options = _marker(obj, ONCE_ATTR)
    return options if isinstance(options, OnceOptions) else None


def is_leader(obj: object) -> bool:
    return _marker(obj, LEADER_ATTR) is True


def is_coordinated(obj: object) -> bool:
    """Marked ``@once`` or ``@leader``: its step runs through the coordinator."""
    return once_options(obj) is not None or is_leader(obj)


def _marker(obj: object, name: str) -> object:
    try:
        return getattr(obj, name, None)
    except Exception:  # an object whose __getattr__ raises carries no marker
        return None
