"""The pytest plugin: fixtures for a spoc app, its lifespan, and clients (docs/testing.md).

Registered through the ``pytest11`` entry point, so it is active wherever spoc_asgi is
installed; it imports nothing heavy until a fixture is used, and the fixtures that
need the ``testing`` extra say how to install it.

Fixtures (all function-scoped; override any of them in a ``conftest.py``):

* ``spoc_base_dir``: the project to build, the ``spoc_base_dir`` ini option (relative
  to the rootdir) or the rootdir;
* ``spoc_app``: ``create_app(spoc_base_dir)``, built afresh for each test, not started;
* ``spoc_overrides``: the backends to swap in, from the ``spoc_memory`` and
  ``spoc_overrides`` markers;
* ``spoc_lifespan``: ``spoc_app``'s lifespan running (async; needs the testing extra);
* ``spoc_started_app``: ``spoc_app``, once ``spoc_lifespan`` has started it;
* ``spoc_client``: an ``httpx.AsyncClient`` for ``spoc_app`` inside that lifespan;
* ``spoc_test_client``: a Starlette ``TestClient`` entered as a context manager (sync;
  it runs the lifespan itself, in its own thread, so do not combine it with the above).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import httpx
    from starlette.applications import Starlette
    from starlette.testclient import TestClient

try:  # async fixtures are pytest-asyncio's when it is installed (in any asyncio_mode)
    from pytest_asyncio import fixture as async_fixture
except ImportError:  # pragma: no cover - then anyio's plugin runs them (@pytest.mark.anyio)
    async_fixture = pytest.fixture  # type: ignore[assignment]

INI_BASE_DIR = "spoc_base_dir"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        INI_BASE_DIR,
        "the spoc_asgi project the spoc_app fixture builds (relative to the rootdir)",
        default=None,
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "spoc_memory: run the test's spoc app on an in-memory SQLite database and a "
        "MemoryCache instead of its configured database and cache",
    )
    config.addinivalue_line(
        "markers",
        "spoc_overrides(mapping=None, **backends): swap backends of the test's spoc app; "
        "keys are a group or a backend URI, values a backend instance",
    )


@pytest.fixture
def spoc_base_dir(pytestconfig: pytest.Config) -> Path:
    configured = pytestconfig.getini(INI_BASE_DIR)
    if not configured:
        return Path(pytestconfig.rootpath)
    return Path(pytestconfig.rootpath) / str(configured)


@pytest.fixture
def spoc_app(spoc_base_dir: Path) -> Starlette:
    from spoc_asgi.app import create_app

    return create_app(spoc_base_dir)


@pytest.fixture
def spoc_overrides(request: pytest.FixtureRequest, spoc_app: Any) -> dict[str, Any]:
    """The backends the markers ask for; an override of this fixture replaces them."""
    overrides: dict[str, Any] = {}
    if request.node.get_closest_marker("spoc_memory") is not None:
        overrides.update(memory_backends(spoc_app))
    for marker in reversed(list(request.node.iter_markers("spoc_overrides"))):
        mapping: Mapping[str, Any] = marker.args[0] if marker.args else {}
        overrides.update(mapping)
        overrides.update(marker.kwargs)
    return overrides


@async_fixture
async def spoc_lifespan(spoc_app: Any, spoc_overrides: dict[str, Any]) -> AsyncIterator[Any]:
    """``spoc_app``'s lifespan, running for the test: the ``asgi_lifespan.LifespanManager``,
    whose ``.app`` is what to send requests to (each gets its own copy of the state)."""
    from spoc_asgi.testing import run_lifespan

    async with run_lifespan(spoc_app, overrides=spoc_overrides) as manager:
        yield manager


@pytest.fixture
def spoc_started_app(spoc_lifespan: Any, spoc_app: Starlette) -> Starlette:
    """``spoc_app`` with its lifespan running: ``app.state.database`` is connected."""
    return spoc_app


@async_fixture
async def spoc_client(spoc_lifespan: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An ``httpx.AsyncClient`` on ``spoc_app`` over ``ASGITransport``, lifespan running."""
    from spoc_asgi.testing import asgi_client

    async with asgi_client(spoc_lifespan.app) as client:
        yield client


@pytest.fixture
def spoc_test_client(spoc_app: Any, spoc_overrides: dict[str, Any]) -> Iterator[TestClient]:
    """Starlette's ``TestClient`` on ``spoc_app``, entered, so its lifespan runs."""
    from spoc_asgi.testing import override_backends, starlette_test_client

    with override_backends(spoc_app, spoc_overrides), starlette_test_client(spoc_app) as client:
        yield client


def memory_backends(app: Any) -> dict[str, Any]:
    """An in-memory SQLite database and a MemoryCache, for the groups ``app`` has."""
    from spoc_asgi.testing import memory_backends as build

    return build(app)
