"""Fixtures for the whole test suite (this file also puts the project root on sys.path)."""

from collections.abc import AsyncIterator

import httpx
import pytest
from myapp.asgi import BASE_DIR
from starlette.applications import Starlette

from spoc_asgi import create_app
from spoc_asgi.backends.memory import MemoryCache
from spoc_asgi.backends.sql import SQLDatabase
from spoc_asgi.testing import lifespan_client


@pytest.fixture
def app() -> Starlette:
    return create_app(BASE_DIR)  # a fresh app per test: no state shared between tests


@pytest.fixture
def test_backends() -> dict[str, object]:
    """In-process stand-ins: an in-memory SQLite database and a memory cache."""
    return {"database": SQLDatabase(url="sqlite+aiosqlite://"), "cache": MemoryCache()}


@pytest.fixture
async def client(
    app: Starlette, test_backends: dict[str, object]
) -> AsyncIterator[httpx.AsyncClient]:
    # Startup runs here (backends connect, hooks run); shutdown when the test ends.
    async with lifespan_client(app, overrides=test_backends) as client:
        yield client
