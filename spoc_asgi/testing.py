"""Test helpers: run an app's lifespan around an ``httpx.AsyncClient`` (docs/testing.md).

::

    from spoc_asgi.testing import lifespan_client

    async def test_home(app):
        async with lifespan_client(app, overrides={"cache": MemoryCache()}) as client:
            assert (await client.get("/")).status_code == 200

The lifespan is driven by ``asgi-lifespan``'s ``LifespanManager`` (the ``testing``
extra), so no ``TestClient`` and no extra thread are involved: hooks run and
backends connect on the test's own event loop, and each request sees the lifespan
state (``request.state.database``) as it would under a server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp, Receive, Scope, Send

from spoc_asgi.errors import SpocError
from spoc_asgi.lifespan import Runtime

INSTALL_HINT = 'pip install "spoc_asgi[testing]"'

try:
    import httpx
    from asgi_lifespan import LifespanManager
except ImportError as exc:
    raise ImportError(
        f"spoc_asgi.testing needs the testing extra ({exc.name} is missing): {INSTALL_HINT}",
        name=exc.name,
    ) from exc

if TYPE_CHECKING:
    from starlette.testclient import TestClient

__all__ = [
    "LifespanManager",
    "asgi_client",
    "lifespan_client",
    "memory_backends",
    "override_backends",
    "run_lifespan",
    "starlette_test_client",
]


@contextmanager
def override_backends(app: Any, overrides: Mapping[str, Any] | None) -> Iterator[None]:
    """Replace some of a spoc app's backends while the block runs.

    Keys are a group (``"cache"``, ``"database"``: its first backend) or a backend's
    URI; values are backend instances. Enter this before the lifespan starts: the
    replacements are what gets connected, published and disconnected.
    """
    if not overrides:
        yield
        return
    runtime = getattr(getattr(app, "state", None), "spoc_runtime", None)
    if not isinstance(runtime, Runtime):
        raise SpocError(f"cannot override backends of {app!r}: it was not built by spoc_asgi")
    with runtime.backends.override(overrides):
        yield


@asynccontextmanager
async def run_lifespan(
    app: ASGIApp,
    *,
    overrides: Mapping[str, Any] | None = None,
    startup_timeout: float | None = None,
    shutdown_timeout: float | None = None,
) -> AsyncIterator[LifespanManager]:
    """Run ``app``'s lifespan for the block; yield the ``LifespanManager``.

    ``manager.app`` is the app to send requests to: it hands each request a copy of
    the lifespan state. A startup failure raises the app's own error (for a spoc
    app, a ``SpocError`` naming the hook or backend). The timeouts default to none,
    as spoc apps bound every step with ``hook_timeout`` already.
    """
    with override_backends(app, overrides):
        manager = LifespanManager(
            _per_request_state(app),
            startup_timeout=startup_timeout,
            shutdown_timeout=shutdown_timeout,
        )
        async with manager:
            yield manager


@asynccontextmanager
async def lifespan_client(
    app: ASGIApp,
    *,
    overrides: Mapping[str, Any] | None = None,
    base_url: str = "http://testserver",
    raise_app_exceptions: bool = True,
    startup_timeout: float | None = None,
    shutdown_timeout: float | None = None,
    **client_kwargs: Any,
) -> AsyncIterator[httpx.AsyncClient]:
    """An ``httpx.AsyncClient`` talking to ``app`` over ``ASGITransport``, inside its lifespan.

    ``overrides`` replaces backends without editing the configuration (see
    :func:`override_backends`); other keyword arguments go to ``httpx.AsyncClient``.
    """
    async with (
        run_lifespan(
            app,
            overrides=overrides,
            startup_timeout=startup_timeout,
            shutdown_timeout=shutdown_timeout,
        ) as manager,
        asgi_client(
            manager.app,
            base_url=base_url,
            raise_app_exceptions=raise_app_exceptions,
            **client_kwargs,
        ) as client,
    ):
        yield client


@asynccontextmanager
async def asgi_client(
    app: ASGIApp,
    *,
    base_url: str = "http://testserver",
    raise_app_exceptions: bool = True,
    **client_kwargs: Any,
) -> AsyncIterator[httpx.AsyncClient]:
    """An ``httpx.AsyncClient`` talking to ``app`` over ``ASGITransport`` (no lifespan)."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_app_exceptions)
    async with httpx.AsyncClient(transport=transport, base_url=base_url, **client_kwargs) as client:
        yield client


def starlette_test_client(app: ASGIApp, **kwargs: Any) -> TestClient:
    """Starlette's ``TestClient`` for ``app`` (use it as a context manager to run the lifespan).

    Starlette 1.x's ``TestClient`` wants ``httpx2`` (the ``testing`` extra brings it);
    older versions use ``httpx``.
    """
    try:
        from starlette.testclient import TestClient
    except ImportError as exc:  # pragma: no cover - the extra brings a client library
        raise ImportError(f"starlette.testclient: {exc}; {INSTALL_HINT}") from exc
    return TestClient(app, **kwargs)


def memory_backends(app: Any) -> dict[str, Any]:
    """Overrides that run ``app`` without servers: for each of its backend groups, the
    first backend becomes an in-memory SQLite database or a ``MemoryCache``."""
    runtime = getattr(getattr(app, "state", None), "spoc_runtime", None)
    if not isinstance(runtime, Runtime):
        raise SpocError(f"cannot override backends of {app!r}: it was not built by spoc_asgi")
    overrides: dict[str, Any] = {}
    if "database" in runtime.backends.groups:
        from spoc_asgi.backends.sql import SQLDatabase

        overrides["database"] = SQLDatabase(url="sqlite+aiosqlite://")
    if "cache" in runtime.backends.groups:
        from spoc_asgi.backends.memory import MemoryCache

        overrides["cache"] = MemoryCache()
    return overrides


def _per_request_state(app: ASGIApp) -> ASGIApp:
    """Give each request a shallow copy of the lifespan state, as ASGI servers do.

    ``LifespanManager`` hands every request the one shared dict, so a value one
    request set on ``request.state`` would leak into the next.
    """

    async def app_with_own_state(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan" and "state" in scope:
            scope["state"] = dict(scope["state"])
        await app(scope, receive, send)

    return app_with_own_state
