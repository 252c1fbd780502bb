"""``spoc_asgi.testing``: the lifespan around an httpx client, and backend overrides."""

from __future__ import annotations

import contextlib
import importlib
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from spoc_asgi import BackendNotReadyError, SpocError, create_app
from spoc_asgi.testing import lifespan_client, override_backends, run_lifespan
from tests.conftest import Project

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import ExceptionGroup

PLUGINS = """
EVENTS = []


class Store:
    def __init__(self, label="configured"):
        self.label = label

    async def connect(self):
        EVENTS.append(f"connect {self.label}")

    async def disconnect(self):
        EVENTS.append(f"disconnect {self.label}")


class SecondStore(Store):
    pass


async def hook(app):
    EVENTS.append(f"hook sees {app.state.cache.label}")


def broken_hook():
    raise RuntimeError("hook broke")


class FailsToStop:
    def shutdown(self):
        raise OSError("cannot stop")
"""


async def labels(request: Request) -> JSONResponse:
    state = request.state
    return JSONResponse(
        {
            "cache": state.cache.label,
            "caches": [cache.label for cache in state.caches.values()],
            "database": state.database.label,
        }
    )


async def remember(request: Request) -> PlainTextResponse:
    seen = getattr(request.state, "visitor", "nobody")
    request.state.visitor = request.query_params["name"]
    return PlainTextResponse(seen)


async def echo_header(request: Request) -> PlainTextResponse:
    return PlainTextResponse(f"{request.url} {request.headers.get('x-token', '')}")


ROUTES = [Route("/", labels), Route("/remember", remember), Route("/echo", echo_header)]


def build(project: Project, hooks: tuple[str, ...] = ("hook",)) -> tuple[Starlette, Any]:
    module = project.module(PLUGINS)
    project.settings(
        f"""
        PLUGINS = {{
            "cache": ["{module}.Store", "{module}.SecondStore"],
            "database": ["{module}.Store"],
            "hooks": {[f"{module}.{hook}" for hook in hooks]!r},
        }}
        """
    )
    app = create_app(project.base_dir, routes=ROUTES)
    return app, importlib.import_module(module)


class Replacement:
    def __init__(self, label: str) -> None:
        self.label = label
        self.calls: list[str] = []

    async def connect(self) -> None:
        self.calls.append("connect")

    async def disconnect(self) -> None:
        self.calls.append("disconnect")


async def test_lifespan_client_runs_startup_and_shutdown(project: Project) -> None:
    app, module = build(project)
    async with lifespan_client(app) as client:
        assert module.EVENTS == [
            "connect configured",
            "connect configured",
            "connect configured",
            "hook sees configured",
        ]
        response = await client.get("/")
        assert response.json() == {
            "cache": "configured",
            "caches": ["configured", "configured"],
            "database": "configured",
        }
        assert app.state.cache.label == "configured"
    assert module.EVENTS[-1] == "disconnect configured"
    with pytest.raises(BackendNotReadyError):
        app.state.cache.label  # noqa: B018


async def test_override_by_group_replaces_its_first_backend(project: Project) -> None:
    app, module = build(project)
    fake = Replacement("fake cache")
    async with lifespan_client(app, overrides={"cache": fake}) as client:
        assert fake.calls == ["connect"]
        assert (await client.get("/")).json() == {
            "cache": "fake cache",
            "caches": ["fake cache", "configured"],
            "database": "configured",
        }
        assert module.EVENTS[-1] == "hook sees fake cache"  # hooks see it too
    assert fake.calls == ["connect", "disconnect"]
    # Nothing was edited: the next run uses the configured backends again.
    async with lifespan_client(app) as client:
        assert (await client.get("/")).json()["cache"] == "configured"


async def test_override_by_uri(project: Project) -> None:
    app, module = build(project)
    uri = f"{module.__name__}.SecondStore"
    async with lifespan_client(app, overrides={uri: Replacement("second")}) as client:
        assert (await client.get("/")).json()["caches"] == ["configured", "second"]
    assert list(app.state.caches) == [f"{module.__name__}.Store", uri]


async def test_override_mistakes_are_clear_errors(project: Project) -> None:
    app, _ = build(project)
    with pytest.raises(SpocError, match="no backend to override at 'nosuch'"):
        async with lifespan_client(app, overrides={"nosuch": Replacement("x")}):
            pass  # pragma: no cover
    with pytest.raises(SpocError, match="pass an instance"):
        async with lifespan_client(app, overrides={"cache": Replacement}):
            pass  # pragma: no cover
    with pytest.raises(SpocError, match="not a backend"):
        async with lifespan_client(app, overrides={"cache": object()}):
            pass  # pragma: no cover
    not_spoc = Starlette()
    with (
        pytest.raises(SpocError, match="not built by spoc_asgi"),
        override_backends(not_spoc, {"cache": Replacement("x")}),
    ):
        pass  # pragma: no cover


async def test_each_request_gets_its_own_copy_of_the_state(project: Project) -> None:
    app, _ = build(project)
    async with lifespan_client(app) as client:
        assert (await client.get("/remember", params={"name": "ann"})).text == "nobody"
        assert (await client.get("/remember", params={"name": "bob"})).text == "nobody"


async def test_client_options_pass_through(project: Project) -> None:
    app, _ = build(project)
    async with lifespan_client(
        app, base_url="http://example.org", headers={"x-token": "abc"}
    ) as client:
        assert (await client.get("/echo")).text == "http://example.org/echo abc"


async def test_startup_failure_raises_the_apps_error(project: Project) -> None:
    app, module = build(project, hooks=("broken_hook",))
    with pytest.raises(SpocError, match=rf"hook '{module.__name__}\.broken_hook' raised"):
        async with lifespan_client(app):
            pass  # pragma: no cover
    assert module.EVENTS.count("disconnect configured") == 3


async def test_shutdown_failure_raises_the_exception_group(project: Project) -> None:
    app, module = build(project, hooks=("FailsToStop",))
    with pytest.raises(ExceptionGroup) as caught:
        async with lifespan_client(app):
            pass
    assert f"hook '{module.__name__}.FailsToStop'" in str(caught.value.exceptions[0])


async def test_run_lifespan_yields_the_manager_for_direct_use(project: Project) -> None:
    app, _ = build(project)
    fake = Replacement("fake")
    async with run_lifespan(app, overrides={"database": fake}) as manager:
        assert app.state.database is fake
        assert callable(manager.app)
    assert fake.calls == ["connect", "disconnect"]


async def test_works_for_any_starlette_app() -> None:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, str]]:
        yield {"greeting": "hello"}

    async def home(request: Request) -> PlainTextResponse:
        return PlainTextResponse(request.state.greeting)

    app = Starlette(routes=[Route("/", home)], lifespan=lifespan)
    async with lifespan_client(app) as client:
        assert (await client.get("/")).text == "hello"
