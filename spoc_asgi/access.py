"""Typed access to an app's backends: ``database(request)``, ``cache(request)``.

``request.state.database`` is ``Any`` to a type checker; these return the backend as
the type it is, and check it: a missing backend or one of another type is a
``SpocError`` that says which, and one used outside the lifespan raises
``BackendNotReadyError`` (see docs/backends.md, "Typed access").
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from spoc_asgi.backends import PLURALS, Cache, NotReady
from spoc_asgi.errors import SpocError

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import HTTPConnection

    from spoc_asgi.backends.sql import SQLDatabase

__all__ = ["backend", "cache", "database"]

T = TypeVar("T")

# (backend class, kind) pairs already checked: isinstance() against a runtime-checkable
# Protocol such as Cache inspects every member (~11 µs), too much for every request.
_CHECKED: set[tuple[type, type]] = set()


def backend(
    source: HTTPConnection | Starlette, group: str, kind: type[T], uri: str | None = None
) -> T:
    """The ``group`` backend (its first, or the one named ``uri``), checked to be a ``kind``.

    ``source`` is a request or websocket (its lifespan state) or the app (``app.state``).
    """
    state = source.state
    try:
        found: Any = getattr(state, group) if uri is None else getattr(state, PLURALS[group])[uri]
    except (AttributeError, KeyError):
        where = f"{group} backend {uri!r}" if uri is not None else f"{group} backend"
        raise SpocError(
            f"this app has no {where}: configure it under [spoc.plugins] {group} = [...], "
            f"and run the app with its lifespan"
        ) from None
    if isinstance(found, NotReady):
        found.connect()  # raises its BackendNotReadyError, which says why
    if (type(found), kind) in _CHECKED:
        return found  # type: ignore[no-any-return]
    if not isinstance(found, kind):
        raise SpocError(
            f"the {group} backend is a {type(found).__module__}.{type(found).__qualname__}, "
            f"not a {kind.__qualname__}: use spoc_asgi.backend(request, {group!r}, YourType)"
        )
    _CHECKED.add((type(found), kind))
    return found


def database(source: HTTPConnection | Starlette, uri: str | None = None) -> SQLDatabase:
    """The app's SQL database (``request.state.database``) as a ``SQLDatabase``."""
    try:
        from spoc_asgi.backends.sql import SQLDatabase
    except ImportError:  # without SQLAlchemy, no SQLDatabase can have been configured
        found = backend(source, "database", object, uri)
        raise SpocError(
            f"the database backend is a {type(found).__qualname__}, not a SQLDatabase "
            f'(SQLAlchemy is not installed: pip install "spoc_asgi[sql]")'
        ) from None
    return backend(source, "database", SQLDatabase, uri)


def cache(source: HTTPConnection | Starlette, uri: str | None = None) -> Cache:
    """The app's cache (``request.state.cache``), checked to have the ``Cache`` API."""
    return backend(source, "cache", Cache, uri)  # type: ignore[type-abstract]
