"""Backends on the lifespan (docs/backends.md): building, order, threads, injection."""

from __future__ import annotations

import importlib
import threading
from collections import OrderedDict
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from spoc_asgi import BackendNotReadyError, ConfigurationError, SpocError, create_app
from spoc_asgi.testing import lifespan_client
from tests.conftest import Project

BACKENDS = """
import threading

EVENTS = []
THREADS = {}


class AsyncDatabase:
    def __init__(self, url="sqlite://default", base_dir=None):
        self.url = url
        self.base_dir = base_dir
        self.connected = False

    async def connect(self):
        EVENTS.append(f"connect {self.url}")
        self.connected = True

    async def disconnect(self):
        EVENTS.append(f"disconnect {self.url}")
        self.connected = False

    async def query(self):
        return f"rows from {self.url}"


class OtherDatabase(AsyncDatabase):
    pass


class SyncCache:
    def __init__(self):
        self.size = 0
        self.connected = False

    def configure(self, size=1):
        self.size = size

    def connect(self):
        THREADS["connect"] = threading.get_ident()
        EVENTS.append(f"connect cache {self.size}")
        self.connected = True

    def disconnect(self):
        THREADS["disconnect"] = threading.get_ident()
        EVENTS.append("disconnect cache")
        self.connected = False


class BrokenCache(SyncCache):
    def connect(self):
        EVENTS.append("connect broken")
        raise ConnectionRefusedError("cache server is down")


class Instance:
    def __init__(self):
        self.options = {}

    def configure(self, **options):
        self.options = options

    async def connect(self):
        EVENTS.append("connect instance")

    async def disconnect(self):
        EVENTS.append("disconnect instance")


INSTANCE = Instance()


class NoDisconnect:
    def connect(self):
        pass


async def check_backends(app):
    THREADS["loop"] = threading.get_ident()
    EVENTS.append(f"hook up, database connected={app.state.database.connected}")


async def shutdown(app):
    EVENTS.append(f"hook down, database connected={app.state.database.connected}")


async def failing_hook():
    EVENTS.append("failing hook")
    raise RuntimeError("hook failed")
"""


def build(
    project: Project,
    plugins: dict[str, list[str]],
    extra: str = "",
    **kwargs: Any,
) -> tuple[Starlette, Any]:
    module = project.module(BACKENDS)
    resolved = {group: [f"{module}.{name}" for name in names] for group, names in plugins.items()}
    project.settings(f"PLUGINS = {resolved!r}\n{extra}")
    app = create_app(project.base_dir, **kwargs)
    return app, importlib.import_module(module)


async def describe(request: Request) -> JSONResponse:
    database = request.state.database
    return JSONResponse(
        {
            "database": await database.query(),
            "databases": list(request.state.databases),
            "cache": type(request.state.cache).__name__,
            "same_as_app": database is request.app.state.database,
        }
    )


ROUTES = [Route("/", describe), Mount("/api", routes=[Route("/inner", describe)])]

TWO_DATABASES_AND_A_CACHE = {
    "database": ["AsyncDatabase", "OtherDatabase"],
    "cache": ["SyncCache"],
    "hooks": ["check_backends", "shutdown"],
}

OPTIONS = """
DATABASE_CONFIG = {"AsyncDatabase": {"url": "db://one"}, "OtherDatabase": {"url": "db://two"}}
CACHE_CONFIG = {"SyncCache": {"size": 5}}
"""


# -- lifecycle order ---------------------------------------------------------------------


def test_backends_connect_before_hooks_and_disconnect_after(project: Project) -> None:
    app, module = build(project, TWO_DATABASES_AND_A_CACHE, OPTIONS)
    with TestClient(app):
        assert module.EVENTS == [
            "connect db://one",
            "connect db://two",
            "connect cache 5",
            "hook up, database connected=True",
        ]
    assert module.EVENTS[4:] == [
        "hook down, database connected=True",
        "disconnect cache",
        "disconnect db://two",
        "disconnect db://one",
    ]


async def test_sync_backend_methods_run_in_a_worker_thread(project: Project) -> None:
    app, module = build(project, TWO_DATABASES_AND_A_CACHE, OPTIONS)
    async with lifespan_client(app):
        pass
    loop_thread = threading.get_ident()  # lifespan_client runs the app on this loop
    assert module.THREADS["loop"] == loop_thread
    assert module.THREADS["connect"] != loop_thread
    assert module.THREADS["disconnect"] != loop_thread


# -- injection -------------------------------------------------------------------------


async def test_backends_are_in_app_state_and_request_state(project: Project) -> None:
    app, module = build(project, TWO_DATABASES_AND_A_CACHE, OPTIONS, routes=ROUTES)
    uris = [f"{module.__name__}.AsyncDatabase", f"{module.__name__}.OtherDatabase"]
    async with lifespan_client(app) as client:
        state = app.state
        assert isinstance(state.database, module.AsyncDatabase)
        assert state.database.url == "db://one"
        assert isinstance(state.databases, OrderedDict)
        assert list(state.databases) == uris
        assert state.databases[uris[1]].url == "db://two"
        assert state.cache is state.caches[f"{module.__name__}.SyncCache"]
        assert state.cache.size == 5
        outer = (await client.get("/")).json()
        inner = (await client.get("/api/inner")).json()
    expected = {
        "database": "rows from db://one",
        "databases": uris,
        "cache": "SyncCache",
        "same_as_app": True,
    }
    assert outer == expected
    assert inner == expected  # also inside a Mount


def test_request_state_has_backends_with_test_client(project: Project) -> None:
    app, _ = build(project, TWO_DATABASES_AND_A_CACHE, OPTIONS, routes=ROUTES)
    with TestClient(app) as client:
        assert client.get("/api/inner").json()["database"] == "rows from db://one"


def test_backend_before_startup_raises_a_clear_error(project: Project) -> None:
    app, module = build(project, TWO_DATABASES_AND_A_CACHE, OPTIONS)
    with pytest.raises(BackendNotReadyError) as caught:
        app.state.database.query  # noqa: B018
    assert isinstance(caught.value, SpocError)
    assert not isinstance(caught.value, AttributeError)
    message = str(caught.value)
    assert f"{module.__name__}.AsyncDatabase" in message
    assert "lifespan" in message
    uri = f"{module.__name__}.OtherDatabase"
    with pytest.raises(BackendNotReadyError):
        app.state.databases[uri].query  # noqa: B018
    with pytest.raises(BackendNotReadyError):
        app.state.cache.get  # noqa: B018
    assert not app.state.database  # a placeholder is falsy, for `if app.state.database:`


def test_backend_after_shutdown_raises_a_clear_error(project: Project) -> None:
    app, _ = build(project, TWO_DATABASES_AND_A_CACHE, OPTIONS)
    with TestClient(app):
        database = app.state.database
        assert database.connected
    with pytest.raises(BackendNotReadyError, match="shut down"):
        app.state.database.query  # noqa: B018
    assert not database.connected


def test_no_backend_configured_means_no_backend_attribute(project: Project) -> None:
    app, _ = build(project, {"hooks": []})
    with TestClient(app):
        assert not hasattr(app.state, "database")
        assert app.state.framework.base_dir == project.base_dir


# -- failures --------------------------------------------------------------------------


def test_failing_connect_stops_startup_and_closes_what_connected(project: Project) -> None:
    plugins = {
        "database": ["AsyncDatabase"],
        "cache": ["BrokenCache"],
        "hooks": ["check_backends"],
    }
    app, module = build(project, plugins)
    with pytest.raises(SpocError) as caught:
        TestClient(app).__enter__()
    message = str(caught.value)
    assert f"backend '{module.__name__}.BrokenCache'" in message
    assert "ConnectionRefusedError: cache server is down" in message
    assert module.EVENTS == [
        "connect sqlite://default",
        "connect broken",
        "disconnect sqlite://default",
    ]
    with pytest.raises(BackendNotReadyError, match="startup failed"):
        app.state.database.query  # noqa: B018


def test_failing_hook_closes_the_backends(project: Project) -> None:
    plugins = {"database": ["AsyncDatabase"], "cache": ["SyncCache"], "hooks": ["failing_hook"]}
    app, module = build(project, plugins)
    with pytest.raises(SpocError, match=rf"hook '{module.__name__}\.failing_hook'"):
        TestClient(app).__enter__()
    assert module.EVENTS == [
        "connect sqlite://default",
        "connect cache 1",
        "failing hook",
        "disconnect cache",
        "disconnect sqlite://default",
    ]


# -- building --------------------------------------------------------------------------


def test_instance_is_configured_with_its_options(project: Project) -> None:
    app, module = build(
        project, {"cache": ["INSTANCE"]}, "CACHE_CONFIG = {'INSTANCE': {'max_size': 10}}"
    )
    assert module.INSTANCE.options == {"max_size": 10}
    with TestClient(app):
        assert app.state.cache is module.INSTANCE


def test_base_dir_is_given_to_backends_that_take_it(project: Project) -> None:
    app, _ = build(project, {"database": ["AsyncDatabase"]})
    assert app.state.spoc_runtime.backends.groups["database"]
    with TestClient(app):
        assert app.state.database.base_dir == project.base_dir


@pytest.mark.parametrize("name", ["NoDisconnect", "check_backends"])
def test_entry_of_no_known_shape_is_a_configuration_error(project: Project, name: str) -> None:
    module = project.module(BACKENDS)
    project.settings(f"PLUGINS = {{'cache': ['{module}.{name}']}}")
    with pytest.raises(ConfigurationError) as caught:
        create_app(project.base_dir)
    assert caught.value.id == "spoc.E018"
    assert caught.value.check.key == "cache"
    assert f"{module}.{name}" in str(caught.value)
    assert "connect() and disconnect()" in str(caught.value)


def test_rejected_backend_options_are_a_configuration_error(project: Project) -> None:
    module = project.module(BACKENDS)
    project.settings(
        f"PLUGINS = {{'database': ['{module}.AsyncDatabase']}}\n"
        "DATABASE_CONFIG = {'AsyncDatabase': {'password': 'hunter2', 'colour': 'red'}}\n"
    )
    with pytest.raises(ConfigurationError) as caught:
        create_app(project.base_dir)
    assert caught.value.id == "spoc.E021"
    assert f"{module}.AsyncDatabase" in str(caught.value)
    assert "hunter2" not in str(caught.value)  # option names only, never values


# -- built-in backends against the real services ---------------------------------------


async def database_ping(request: Request) -> JSONResponse:
    row = await request.state.database.fetch_one("select 1 as one")
    return JSONResponse({"row": row, "cache": await request.state.cache.ping()})


@pytest.mark.postgres
@pytest.mark.redis
async def test_builtin_backends_on_real_services(
    project: Project, postgres_url: str, redis_url: str
) -> None:
    pytest.importorskip("asyncpg")
    pytest.importorskip("redis")
    project.settings(
        "PLUGINS = {'database': ['spoc_asgi.backends.sql.SQLDatabase'],\n"
        "           'cache': ['spoc_asgi.backends.redis.RedisCache']}\n"
        f"DATABASE_CONFIG = {{'sql': {{'url': {postgres_url!r}}}}}\n"
        f"CACHE_CONFIG = {{'redis': {{'url': {redis_url!r}}}}}\n"
    )
    app = create_app(project.base_dir, routes=[Route("/", database_ping)])
    async with lifespan_client(app) as client:
        assert (await client.get("/")).json() == {"row": {"one": 1}, "cache": True}
    with pytest.raises(BackendNotReadyError):
        await app.state.database.fetch_one("select 1")


@pytest.mark.parametrize(
    ("configure", "expected"),
    [
        ("", "cannot take its options"),
        ("    def configure(self, size=1):\n        self.size = size\n", "rejected its options"),
    ],
    ids=["no-configure", "configure-rejects"],
)
def test_options_for_a_backend_instance_that_cannot_take_them_fail_at_build_time(
    project: Project, configure: str, expected: str
) -> None:
    module = project.module(
        "class Store:\n"
        "    def connect(self):\n        pass\n"
        "    def disconnect(self):\n        pass\n"
        f"{configure}\n"
        "store = Store()\n"
    )
    project.toml(
        f'[spoc.plugins]\ncache = ["{module}.store"]\n[spoc.config.cache.store]\nsizee = 10\n'
    )
    with pytest.raises(ConfigurationError) as caught:
        create_app(project.base_dir)
    assert caught.value.id == "spoc.E021"
    assert f"{module}.store" in str(caught.value)
    assert expected in str(caught.value)
