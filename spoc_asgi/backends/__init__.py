"""Database and cache backends: their shape, how they are built and where they are published.

A backend is any object with ``connect()`` and ``disconnect()`` (sync or async;
sync ones run in a worker thread). The ``database`` and ``cache`` groups are
instantiated at build time (so a bad option fails ``create_app``), connected at
startup before the hooks and closed at shutdown after them. Outside the lifespan,
``app.state.database`` & co. are placeholders that raise
:class:`~spoc_asgi.errors.BackendNotReadyError` instead of misbehaving.
"""

from __future__ import annotations

import inspect
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from typing import Any, Protocol, runtime_checkable

from spoc_asgi.errors import BackendNotReadyError, SpocError
from spoc_asgi.framework import Framework
from spoc_asgi.hooks import Step
from spoc_asgi.redaction import redact_text
from spoc_asgi.shapes import (
    accepts_keyword,
    apply_options,
    call_in_place,
    instantiate,
    shape_error,
)

BACKEND_GROUPS = ("database", "cache")
PLURALS = {"database": "databases", "cache": "caches"}
EXPECTED_SHAPE = "a class or instance with connect() and disconnect() methods"


@runtime_checkable
class Backend(Protocol):
    def connect(self) -> Any: ...
    def disconnect(self) -> Any: ...


@runtime_checkable
class Cache(Backend, Protocol):
    """The cache API both built-in caches implement (values are JSON types)."""

    async def get(self, key: str, default: Any = None) -> Any: ...
    async def set(self, key: str, value: Any, ttl: float | None = None) -> None: ...
    async def delete(self, key: str) -> bool: ...
    async def get_many(self, keys: list[str]) -> dict[str, Any]: ...
    async def set_many(self, mapping: Mapping[str, Any], ttl: float | None = None) -> None: ...
    async def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int: ...
    async def clear(self) -> None: ...
    async def ping(self) -> bool: ...


class NotReady:
    """Stands in for a backend outside the lifespan; any use raises a clear error."""

    def __init__(self, group: str, uri: str, reason: str) -> None:
        self._group, self._uri, self._reason = group, uri, reason

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise BackendNotReadyError(
            f"the {self._group} backend {self._uri!r} is not connected ({self._reason}): "
            f"backends are connected by the app's lifespan. Serve the app with lifespan on, "
            f"or in tests use `spoc_asgi.testing.lifespan_client(app)` or "
            f"`with TestClient(app)` (as a context manager)."
        )

    def __repr__(self) -> str:
        return f"<{self._group} {self._uri!r}: not connected ({self._reason})>"

    def __bool__(self) -> bool:
        return False


def is_backend(obj: Any) -> bool:
    return callable(getattr(obj, "connect", None)) and callable(getattr(obj, "disconnect", None))


def build_backend(framework: Framework, group: str, uri: str, obj: Any) -> Any:
    """One database/cache entry as a backend instance (its options applied)."""
    source = framework.sources[group].get(uri)
    options = framework.options_for(group, uri)
    if inspect.isclass(obj):
        if not is_backend(obj):
            raise shape_error("spoc.E018", group, uri, obj, EXPECTED_SHAPE, source)
        configure = getattr(obj, "configure", None)
        target = configure if callable(configure) else obj
        if "base_dir" not in options and accepts_keyword(target, "base_dir"):
            options = {**options, "base_dir": framework.base_dir}
        return instantiate(obj, options, group=group, uri=uri, source=source)
    if not is_backend(obj):
        raise shape_error("spoc.E018", group, uri, obj, EXPECTED_SHAPE, source)
    apply_options(obj, options, group=group, uri=uri, source=source)
    return obj


class Backends:
    """The app's backends, by group then URI, in configured order."""

    def __init__(self, groups: dict[str, OrderedDict[str, Any]]) -> None:
        self.groups = groups

    def __iter__(self) -> Iterator[tuple[str, str, Any]]:
        for group, backends in self.groups.items():
            for uri, backend in backends.items():
                yield group, uri, backend

    def steps(self, grace: float) -> list[Step]:
        """One lifespan step per backend; ``grace`` is for a sync one that overran."""
        return [
            Step("backend", uri, _lifecycle(uri, backend, grace), detail=_shown(backend))
            for _, uri, backend in self
        ]

    def state(self) -> dict[str, Any]:
        """What the app and each request see once connected."""
        return self._layout(lambda group, uri, backend: backend)

    def placeholders(self, reason: str) -> dict[str, Any]:
        """The same names, each a :class:`NotReady` that says ``reason``."""
        return self._layout(lambda group, uri, backend: NotReady(group, uri, reason))

    def _layout(self, value: Callable[[str, str, Any], Any]) -> dict[str, Any]:
        # ``database`` is the first backend of its group; ``databases`` all, by URI.
        state: dict[str, Any] = {}
        for group, backends in self.groups.items():
            by_uri = OrderedDict((uri, value(group, uri, b)) for uri, b in backends.items())
            state[group] = next(iter(by_uri.values()))
            state[PLURALS[group]] = by_uri
        return state

    @contextmanager
    def override(self, replacements: Mapping[str, Any]) -> Iterator[None]:
        """Swap backends for a while: keys are a group (its first backend) or a URI."""
        saved = {group: OrderedDict(backends) for group, backends in self.groups.items()}
        try:
            for key, backend in replacements.items():
                self._replace(key, backend)
            yield
        finally:
            self.groups.clear()
            self.groups.update(saved)

    def _replace(self, key: str, backend: Any) -> None:
        if inspect.isclass(backend):
            raise SpocError(
                f"override for {key!r} is the class {backend.__qualname__}: pass an instance"
            )
        if not is_backend(backend):
            raise SpocError(f"override for {key!r} is not a backend: {EXPECTED_SHAPE}")
        if key in BACKEND_GROUPS:
            backends = self.groups.setdefault(key, OrderedDict())
            first = next(iter(backends), key)
            backends[first] = backend
            return
        for backends in self.groups.values():
            if key in backends:
                backends[key] = backend
                return
        raise SpocError(f"no backend to override at {key!r}; known: {[u for _, u, _ in self]}")

    def describe(self) -> list[str]:
        return [f"{group}={redact_text(repr(backend))}" for group, _, backend in self]


def _lifecycle(uri: str, backend: Any, grace: float) -> Any:
    name = f"backend {uri!r}"

    @asynccontextmanager
    async def run(app: Any) -> AsyncIterator[None]:
        await call_in_place(backend.connect, name=name, grace=grace)
        try:
            yield None
        finally:  # also when the lifespan ends by an error: it connected, so it closes
            await call_in_place(backend.disconnect, name=name, grace=grace)

    return run


def _shown(backend: Any) -> str:
    """The backend's repr, secrets masked, for messages: a startup timeout then names
    the server that did not answer (``SQLDatabase(url='postgresql+asyncpg://app:***@db/app')``)."""
    try:
        shown = repr(backend)
    except Exception:  # a third-party backend's __repr__ is no reason to fail startup
        return ""
    if shown.startswith("<") or len(shown) > 200:  # object.__repr__, or too long to help
        return ""
    return redact_text(shown)
