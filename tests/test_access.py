"""Typed access: spoc_asgi.database/cache/backend and the FastAPI dependencies."""

from __future__ import annotations

import inspect
import subprocess
import sys
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import spoc_asgi
from spoc_asgi import BackendNotReadyError, SpocError, create_app
from spoc_asgi.backends.memory import MemoryCache
from spoc_asgi.backends.sql import SQLDatabase
from spoc_asgi.fastapi import CacheDep, DatabaseDep, get_cache, get_database
from spoc_asgi.testing import lifespan_client, memory_backends
from tests.conftest import Project

BOTH = """
[spoc.plugins]
database = ["spoc_asgi.backends.sql.SQLDatabase"]
cache = ["spoc_asgi.backends.memory.MemoryCache"]
"""


async def kinds(request: Request) -> JSONResponse:
    return JSONResponse(
        {
            "database": type(spoc_asgi.database(request)).__name__,
            "cache": type(spoc_asgi.cache(request)).__name__,
            "by_uri": type(
                spoc_asgi.cache(request, "spoc_asgi.backends.memory.MemoryCache")
            ).__name__,
        }
    )


async def test_accessors_return_the_request_backends(project: Project) -> None:
    project.toml(BOTH)
    app = create_app(project.base_dir, routes=[Route("/", kinds)])
    async with lifespan_client(app, overrides=memory_backends(app)) as client:
        assert (await client.get("/")).json() == {
            "database": "SQLDatabase",
            "cache": "MemoryCache",
            "by_uri": "MemoryCache",
        }
        assert isinstance(spoc_asgi.database(app), SQLDatabase)  # app.state, in hooks


def test_before_startup_the_accessors_say_the_lifespan_has_not_run(project: Project) -> None:
    project.toml(BOTH)
    app = create_app(project.base_dir)
    with pytest.raises(BackendNotReadyError, match="not connected"):
        spoc_asgi.database(app)


def test_a_missing_group_or_uri_is_a_spoc_error(project: Project) -> None:
    project.toml('[spoc.plugins]\ncache = ["spoc_asgi.backends.memory.MemoryCache"]\n')
    app = create_app(project.base_dir)
    with pytest.raises(SpocError, match=r"no database backend: configure it under"):
        spoc_asgi.database(app)
    with pytest.raises(SpocError, match=r"no cache backend 'redis://x'"):
        spoc_asgi.cache(app, "redis://x")


async def test_a_backend_of_another_type_is_refused_by_name(project: Project) -> None:
    module = project.module(
        """
        class Store:
            async def connect(self): pass
            async def disconnect(self): pass
        """
    )
    project.toml(f'[spoc.plugins]\ndatabase = ["{module}.Store"]\ncache = ["{module}.Store"]\n')
    app = create_app(project.base_dir)
    async with lifespan_client(app):
        with pytest.raises(SpocError, match=rf"database backend is a {module}.Store, not a SQLD"):
            spoc_asgi.database(app)
        for _ in range(2):  # refused every time: only a type that passed is remembered
            with pytest.raises(SpocError, match="not a Cache"):
                spoc_asgi.cache(app)
        store_type = type(app.state.database)
        assert spoc_asgi.backend(app, "database", store_type) is app.state.database


async def test_fastapi_dependencies_hand_endpoints_the_backends(project: Project) -> None:
    project.toml(BOTH)
    api = FastAPI()

    @api.get("/count")
    async def count(db: DatabaseDep, cache: CacheDep) -> dict[str, Any]:
        row = await db.fetch_one("SELECT 41 + 1 AS n")
        return {"n": row["n"] if row else None, "hits": await cache.incr("hits")}

    spoc_asgi.install(api, project.base_dir)
    overrides = {"database": SQLDatabase(url="sqlite+aiosqlite://"), "cache": MemoryCache()}
    async with lifespan_client(api, overrides=overrides) as client:
        assert (await client.get("/count")).json() == {"n": 42, "hits": 1}
        assert (await client.get("/count")).json() == {"n": 42, "hits": 2}
    # Async, so FastAPI resolves them on the event loop: a plain def would cost a trip
    # through its thread pool on every request.
    assert inspect.iscoroutinefunction(get_cache)
    assert inspect.iscoroutinefunction(get_database)


def test_the_fastapi_module_needs_no_sqlalchemy_for_the_cache_dependency() -> None:
    code = (
        "import sys; sys.modules['sqlalchemy'] = None\n"
        "from spoc_asgi.fastapi import CacheDep, get_cache\n"
        "try:\n    from spoc_asgi.fastapi import DatabaseDep\n"
        "except ImportError as exc:\n    print('DatabaseDep:', exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "DatabaseDep: spoc_asgi.backends.sql.SQLDatabase needs SQLAlchemy" in done.stdout
