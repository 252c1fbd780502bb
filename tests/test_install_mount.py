"""``install()`` into Starlette and FastAPI hosts; ``mount()`` of a spoc app (docs/mounting.md)."""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient
from starlette.types import ASGIApp, Receive, Scope, Send

import spoc_asgi
from spoc_asgi import BackendNotReadyError, SpocError, create_app
from spoc_asgi.testing import lifespan_client
from tests.conftest import Project

PLUGINS = """
from starlette.responses import JSONResponse
from starlette.routing import Route

import spoc_asgi

EVENTS = []


class Database:
    def __init__(self, label="spoc"):
        self.label = label

    async def connect(self):
        EVENTS.append(f"connect {self.label}")

    async def disconnect(self):
        EVENTS.append(f"disconnect {self.label}")


def spoc_middleware(request):
    EVENTS.append(f"spoc middleware {request.url.path}")


async def hook_up(app):
    EVENTS.append(f"hook up {app.state.database.label}")


@spoc_asgi.on_shutdown
async def hook_down(app):
    EVENTS.append("hook down")


async def spoc_page(request):
    return JSONResponse(
        {
            "database": request.state.database.label,
            "framework": str(request.state.framework.base_dir),
            "host": getattr(request.state, "host", None),
        }
    )


routes = [Route("/spoc", spoc_page)]
"""


def write_config(base_dir: Path, module: str, label: str) -> None:
    Project(base_dir).settings(
        f"""
        PLUGINS = {{
            "middleware": ["{module}.spoc_middleware"],
            "hooks": ["{module}.hook_up", "{module}.hook_down"],
            "database": ["{module}.Database"],
            "routes": ["{module}.routes"],
        }}
        DATABASE_CONFIG = {{"Database": {{"label": {label!r}}}}}
        """
    )


@pytest.fixture
def plugins(project: Project) -> Any:
    name = project.module(PLUGINS)
    write_config(project.base_dir, name, "spoc")
    return importlib.import_module(name)


class HostMiddleware:
    def __init__(self, app: ASGIApp, events: list[str]) -> None:
        self.app, self.events = app, events

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.events.append(f"host middleware {scope['path']}")
        await self.app(scope, receive, send)


def host_lifespan(events: list[str]) -> Any:
    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[dict[str, str]]:
        events.append("host up")
        yield {"host": "host state"}
        events.append("host down")

    return lifespan


async def host_page(request: Request) -> JSONResponse:
    return JSONResponse(
        {"host": request.state.host, "database": request.state.database.label},
    )


def starlette_host(events: list[str]) -> Starlette:
    return Starlette(
        routes=[Route("/host", host_page)],
        middleware=[Middleware(HostMiddleware, events=events)],
        lifespan=host_lifespan(events),
    )


def fastapi_host(events: list[str]) -> FastAPI:
    host = FastAPI(
        middleware=[Middleware(HostMiddleware, events=events)], lifespan=host_lifespan(events)
    )

    @host.get("/host")
    async def page(request: Request) -> dict[str, str]:
        return {"host": request.state.host, "database": request.state.database.label}

    return host


# -- install ---------------------------------------------------------------------------


@pytest.mark.parametrize("make_host", [starlette_host, fastapi_host], ids=["starlette", "fastapi"])
def test_install_extends_the_host_in_place(project: Project, plugins: Any, make_host: Any) -> None:
    events = plugins.EVENTS
    host = make_host(events)
    assert spoc_asgi.install(host, project.base_dir) is host
    assert host.state.framework.base_dir == project.base_dir
    with pytest.raises(BackendNotReadyError):
        host.state.database.label  # noqa: B018
    with TestClient(host) as client:
        # Backends, then hooks, then the host's own lifespan inside them.
        assert events == ["connect spoc", "hook up spoc", "host up"]
        assert host.state.database.label == "spoc"
        events.clear()
        assert client.get("/host").json() == {"host": "host state", "database": "spoc"}
        # Configured middleware is outside the host's own.
        assert events == ["spoc middleware /host", "host middleware /host"]
        spoc = client.get("/spoc").json()
        assert spoc["database"] == "spoc"
        assert spoc["host"] == "host state"
        events.clear()
    assert events == ["host down", "hook down", "disconnect spoc"]


async def test_install_into_fastapi_with_lifespan_client(project: Project, plugins: Any) -> None:
    host = fastapi_host(plugins.EVENTS)
    spoc_asgi.install(host, project.base_dir)
    async with lifespan_client(host) as client:
        assert (await client.get("/host")).json() == {"host": "host state", "database": "spoc"}
        assert (await client.get("/spoc")).status_code == 200
        assert (await client.get("/openapi.json")).status_code == 200  # FastAPI still works
    assert plugins.EVENTS[-1] == "disconnect spoc"


def test_install_routes_come_after_the_hosts(project: Project, plugins: Any) -> None:
    async def host_spoc(request: Request) -> PlainTextResponse:
        return PlainTextResponse("the host's own /spoc")

    host = Starlette(routes=[Route("/spoc", host_spoc)])
    spoc_asgi.install(host, project.base_dir)
    with TestClient(host) as client:
        assert client.get("/spoc").text == "the host's own /spoc"


@pytest.mark.parametrize("make_host", [starlette_host, fastapi_host], ids=["starlette", "fastapi"])
def test_install_refuses_a_host_that_has_served(
    project: Project, plugins: Any, make_host: Any
) -> None:
    host = make_host([])
    with TestClient(host):
        pass
    with pytest.raises(SpocError, match="before the host app has served"):
        spoc_asgi.install(host, project.base_dir)


# -- mount -----------------------------------------------------------------------------


def test_host_mount_alone_does_not_run_the_hooks(project: Project, plugins: Any) -> None:
    spoc_app = create_app(project.base_dir)
    host = starlette_host([])
    host.mount("/sub", spoc_app)
    with TestClient(host, raise_server_exceptions=False) as client:
        # The request reaches the mounted app, whose backend was never connected.
        assert client.get("/sub/spoc").status_code == 500
    # Starlette does not run a mounted app's lifespan: no backend, no hook.
    assert plugins.EVENTS == ["spoc middleware /sub/spoc"]


def test_host_mount_alone_answers_with_an_error_naming_the_fix(
    project: Project, plugins: Any
) -> None:
    host = starlette_host([])
    host.mount("/sub", create_app(project.base_dir))
    with TestClient(host) as client, pytest.raises(BackendNotReadyError) as caught:
        client.get("/sub/spoc")
    message = str(caught.value)
    assert "host.mount()" in message
    assert "spoc_asgi.mount(host, path, app)" in message
    assert "spoc_asgi.install(host, base_dir)" in message


def test_the_guard_leaves_the_request_path_once_the_lifespan_runs(
    project: Project, plugins: Any
) -> None:
    from spoc_asgi.app import _LifespanGuard

    app = create_app(project.base_dir)
    with TestClient(app) as client:
        assert client.get("/spoc").json()["database"] == "spoc"
        # Served with its lifespan, the app no longer pays for the guard per request.
        assert not isinstance(app.middleware_stack.app, _LifespanGuard)  # type: ignore[union-attr]
        assert client.get("/spoc").json()["database"] == "spoc"


def test_spoc_mount_runs_the_hooks_inside_the_hosts_lifespan(
    project: Project, plugins: Any
) -> None:
    events = plugins.EVENTS
    spoc_app = create_app(project.base_dir)
    host = Starlette(lifespan=host_lifespan(events))
    route = spoc_asgi.mount(host, "/sub", spoc_app, name="sub")
    assert route in host.routes
    with TestClient(host) as client:
        assert events == ["host up", "connect spoc", "hook up spoc"]
        events.clear()
        page = client.get("/sub/spoc").json()
        assert page["database"] == "spoc"  # request.state.database inside the mount
        assert page["host"] == "host state"  # the host's state is still there
        assert page["framework"] == str(project.base_dir)
        assert events == ["spoc middleware /sub/spoc"]
        assert host.url_path_for("sub", path="/spoc") == "/sub/spoc"
        events.clear()
    assert events == ["hook down", "disconnect spoc", "host down"]


async def test_mounted_and_host_spoc_apps_keep_their_own_state(
    project: Project, plugins: Any, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    write_config(other, plugins.__name__, "mounted")
    host = create_app(project.base_dir)
    mounted = create_app(other)
    spoc_asgi.mount(host, "/sub", mounted)
    async with lifespan_client(host) as client:
        host_page_ = (await client.get("/spoc")).json()
        mounted_page = (await client.get("/sub/spoc")).json()
        assert host.state.database.label == "spoc"
        assert mounted.state.database.label == "mounted"
    assert host_page_["database"] == "spoc"
    assert host_page_["framework"] == str(project.base_dir)
    assert mounted_page["database"] == "mounted"
    assert mounted_page["framework"] == str(other)
    assert plugins.EVENTS[:4] == [
        "connect spoc",
        "hook up spoc",
        "connect mounted",
        "hook up mounted",
    ]


async def backend_status(request: Request) -> PlainTextResponse:
    try:
        request.state.database.label  # noqa: B018
    except Exception as exc:
        return PlainTextResponse(type(exc).__name__)
    return PlainTextResponse("ready")  # pragma: no cover


def test_mounted_backend_without_a_lifespan_is_a_clear_error(
    project: Project, plugins: Any
) -> None:
    spoc_app = create_app(project.base_dir, routes=[Route("/status", backend_status)])
    host = Starlette()
    spoc_asgi.mount(host, "/sub", spoc_app)
    client = TestClient(host)  # not as a context manager: no lifespan runs
    assert client.get("/sub/status").text == "BackendNotReadyError"


def test_mount_refuses_a_non_spoc_app_and_a_started_host(project: Project, plugins: Any) -> None:
    host = Starlette()
    with pytest.raises(SpocError, match=r"not built by spoc_asgi\.create_app"):
        spoc_asgi.mount(host, "/x", Starlette())
    with TestClient(host):
        pass
    with pytest.raises(SpocError, match="before the host app has served"):
        spoc_asgi.mount(host, "/x", create_app(project.base_dir))


def test_install_names_a_failing_host_lifespan(project: Project, plugins: Any) -> None:
    @contextlib.asynccontextmanager
    async def broken(app: Any) -> AsyncIterator[None]:
        raise KeyError("host config")
        yield  # pragma: no cover

    host = FastAPI(lifespan=broken)
    spoc_asgi.install(host, project.base_dir)
    with pytest.raises(SpocError, match="lifespan 'FastAPI host' raised KeyError"):
        TestClient(host).__enter__()
    # The configured hooks and backends that had started were stopped again.
    assert plugins.EVENTS == ["connect spoc", "hook up spoc", "hook down", "disconnect spoc"]


def test_mounting_one_spoc_app_twice_is_refused(project: Project) -> None:
    # Each mount chains the app's lifespan: twice would run its hooks twice.
    app = create_app(project.base_dir)
    host = Starlette()
    spoc_asgi.mount(host, "/a", app)
    with pytest.raises(SpocError, match="mounted already"):
        spoc_asgi.mount(host, "/b", app)
