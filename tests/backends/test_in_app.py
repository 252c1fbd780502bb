"""The built-in backends configured by a project and run by the app's lifespan."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from spoc_asgi import BackendNotReadyError, ConfigurationError, create_app
from spoc_asgi.backends.memory import MemoryCache
from spoc_asgi.backends.redis import RedisCache
from spoc_asgi.backends.sql import SQLDatabase
from tests.backends.conftest import free_port, unique
from tests.conftest import Project

SQL = "spoc_asgi.backends.sql.SQLDatabase"
REDIS = "spoc_asgi.backends.redis.RedisCache"
MEMORY = "spoc_asgi.backends.memory.MemoryCache"


async def hits(request: Request) -> JSONResponse:
    count = await request.state.cache.incr("hits")
    row = await request.state.database.fetch_one("SELECT CAST(:n AS INTEGER) AS n", {"n": count})
    return JSONResponse(row)


ROUTES = [Route("/hits", hits)]


def write_settings(project: Project, database: dict[str, Any], cache: dict[str, Any]) -> None:
    project.settings(
        f"""
        PLUGINS = {{"database": [{SQL!r}], "cache": [{REDIS!r}, {MEMORY!r}]}}
        DATABASE_CONFIG = {{"sql": {database!r}}}
        CACHE_CONFIG = {cache!r}
        """
    )


@pytest.mark.redis
@pytest.mark.parametrize(
    "dialect", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_backends_from_settings_serve_requests_and_close_at_shutdown(
    project: Project, redis_url: str, dialect: str, request: pytest.FixtureRequest
) -> None:
    # No url for SQLite: the default file under the base dir.
    database = {"url": request.getfixturevalue("postgres_url")} if dialect == "postgres" else {}
    prefix = unique("app") + ":"
    write_settings(
        project,
        database,
        {"redis": {"url": redis_url, "prefix": prefix}, "memory": {"max_size": 10}},
    )
    app = create_app(project.base_dir, routes=ROUTES)

    with TestClient(app) as client:
        portal = client.portal
        assert portal is not None  # the lifespan's event loop
        database_backend, cache = app.state.database, app.state.cache
        try:
            assert isinstance(database_backend, SQLDatabase)
            assert isinstance(cache, RedisCache) and cache.prefix == prefix
            assert list(app.state.caches) == [REDIS, MEMORY]
            assert app.state.caches[MEMORY].max_size == 10
            one = portal.call(database_backend.fetch_one, "SELECT 1 AS one")
            assert one == {"one": 1}
            assert client.get("/hits").json() == {"n": 1}
            assert client.get("/hits").json() == {"n": 2}
            assert portal.call(cache.get, "hits") == 2
        finally:
            portal.call(cache.clear)

    if dialect == "sqlite":
        assert (project.base_dir / "spoc.sqlite3").is_file()
    with pytest.raises(BackendNotReadyError):
        database_backend.engine  # noqa: B018 - the engine was disposed
    with pytest.raises(BackendNotReadyError):
        asyncio.run(cache.get("hits"))  # the client was closed
    with pytest.raises(BackendNotReadyError):
        app.state.database.fetch_one("SELECT 1")


def test_options_from_toml_reach_the_backends(project: Project) -> None:
    project.toml(
        f"""
        [spoc.plugins]
        database = ["{SQL}"]
        cache = ["{MEMORY}"]

        [spoc.config.database]
        sql = {{ url = "sqlite+aiosqlite:///db/app.sqlite3" }}

        [spoc.config.cache]
        memory = {{ max_size = 2, prefix = "toml:", default_ttl = 30 }}
        """
    )
    app = create_app(project.base_dir)
    with TestClient(app) as client:
        cache = app.state.cache
        assert isinstance(cache, MemoryCache)
        assert (cache.max_size, cache.prefix, cache.default_ttl) == (2, "toml:", 30.0)
        assert client.portal is not None
        assert client.portal.call(app.state.database.ping) is True
    assert (project.base_dir / "db" / "app.sqlite3").is_file()


@pytest.mark.parametrize(
    ("group", "options", "expected"),
    [
        ("cache", {"memory": {"max_size": 0}}, "max_size must be a positive integer"),
        ("cache", {"redis": {"on_error": "open"}}, "on_error must be one of"),
        ("cache", {"redis": {"url": "http://:s3cret@h/0"}}, "is not a Redis URL"),
        ("database", {"sql": {"url": "postgresql://u:s3cret@h/db"}}, "synchronous driver"),
        ("database", {"sql": {"pool_sise": 5}}, "pool_sise"),
    ],
)
def test_a_bad_option_fails_create_app_naming_the_plugin(
    project: Project, group: str, options: dict[str, Any], expected: str
) -> None:
    write_settings(
        project,
        options.get("sql", {}) if group == "database" else {},
        options if group == "cache" else {},
    )
    with pytest.raises(ConfigurationError) as raised:
        create_app(project.base_dir)
    message = str(raised.value)
    assert raised.value.id == "spoc.E021"
    assert expected in message
    assert (SQL if group == "database" else ("RedisCache" if "redis" in options else MEMORY)) in (
        message
    )
    assert "settings.py" in message
    assert "s3cret" not in message


@pytest.mark.postgres
def test_a_failing_cache_stops_startup_and_closes_the_database(
    project: Project, postgres_url: str
) -> None:
    closed = f"redis://:s3cret@127.0.0.1:{free_port()}/0"
    write_settings(project, {"url": postgres_url}, {"redis": {"url": closed}})
    app = create_app(project.base_dir)
    database_backend = app.state.spoc_runtime.backends.groups["database"][SQL]

    with pytest.raises(Exception) as raised, TestClient(app):
        pass

    message = str(raised.value) + str(raised.value.__cause__)
    assert REDIS in message
    assert "redis cache at redis://:***@127.0.0.1" in message
    assert "s3cret" not in message
    with pytest.raises(BackendNotReadyError):
        database_backend.engine  # noqa: B018 - connected first, closed on the way out
