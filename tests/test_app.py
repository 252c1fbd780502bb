"""``create_app`` (docs/index.md): what it returns, the routes group, Starlette pass-through."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from spoc_asgi import ConfigurationError, Framework, Schema, create_app
from spoc_asgi.testing import lifespan_client
from tests.conftest import STARLETTE_DEPRECATION, Project

ROUTES = """
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route, Router


async def page(request):
    return PlainTextResponse(f"configured {request.url.path}")


single = Route("/single", page)
several = [Route("/one", page), Route("/two", page)]
router = Router(routes=[Route("/routed", page)])
mounted = Mount("/mounted", routes=[Route("/deep", page)])
clash = Route("/clash", page)
not_a_route = "/nope"
mixed = [Route("/fine", page), "not a route"]
"""


def configure_routes(project: Project, names: list[str]) -> str:
    module = project.module(ROUTES)
    uris = [f"{module}.{name}" for name in names]
    project.settings(f"PLUGINS = {{'routes': {uris!r}}}")
    return module


async def caller_page(request: Request) -> PlainTextResponse:
    return PlainTextResponse("caller")


def test_returns_a_starlette_app_with_its_framework(project: Project) -> None:
    project.toml("[spoc]\nmode = 'staging'\n")
    app = create_app(project.base_dir)
    assert isinstance(app, Starlette)
    framework = app.state.framework
    assert isinstance(framework, Framework)
    assert framework.base_dir == project.base_dir
    assert framework.config.mode == "staging"


def test_empty_base_dir_gives_a_working_app(project: Project) -> None:
    app = create_app(project.base_dir)
    with TestClient(app) as client:
        assert client.get("/").status_code == 404


def test_schema_is_passed_to_the_framework(project: Project) -> None:
    schema = Schema(modules=["models", "views"])
    app = create_app(project.base_dir, schema=schema)
    assert app.state.framework.schema is schema


async def test_routes_group_accepts_routes_lists_routers_and_mounts(project: Project) -> None:
    configure_routes(project, ["single", "several", "router", "mounted"])
    app = create_app(project.base_dir)
    async with lifespan_client(app) as client:
        for path in ("/single", "/one", "/two", "/routed", "/mounted/deep"):
            response = await client.get(path)
            assert response.text == f"configured {path}"


def test_configured_routes_come_before_the_callers(project: Project) -> None:
    configure_routes(project, ["clash"])
    app = create_app(
        project.base_dir,
        routes=[Route("/clash", caller_page), Route("/caller", caller_page)],
    )
    with TestClient(app) as client:
        assert client.get("/clash").text == "configured /clash"
        assert client.get("/caller").text == "caller"


@pytest.mark.parametrize("name", ["not_a_route", "mixed"])
def test_routes_entry_of_no_known_shape_is_a_configuration_error(
    project: Project, name: str
) -> None:
    module = configure_routes(project, [name])
    with pytest.raises(ConfigurationError) as caught:
        create_app(project.base_dir)
    assert caught.value.id == "spoc.E019"
    assert caught.value.check.key == "routes"
    assert f"{module}.{name}" in str(caught.value)
    assert "BaseRoute" in str(caught.value)


@pytest.mark.parametrize(
    ("toml", "argument", "expected"),
    [
        ("[spoc]\ndebug = true\n", None, True),
        ("[spoc]\ndebug = false\n", None, False),
        ("[spoc]\ndebug = true\n", False, False),
        ("", True, True),
    ],
)
def test_debug_defaults_to_the_configuration(
    project: Project, toml: str, argument: bool | None, expected: bool
) -> None:
    if toml:
        project.toml(toml)
    assert create_app(project.base_dir, debug=argument).debug is expected


def test_starlette_keyword_arguments_pass_through(project: Project) -> None:
    class Teapot(Exception):
        pass

    async def brew(request: Request) -> Response:
        raise Teapot

    async def teapot(request: Request, exc: Exception) -> Response:
        return PlainTextResponse("short and stout", status_code=418)

    async def not_found(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return PlainTextResponse("custom 404", status_code=404)

    app = create_app(
        project.base_dir,
        routes=[Route("/brew", brew)],
        exception_handlers={Teapot: teapot, 404: not_found},
    )
    with TestClient(app) as client:
        assert client.get("/brew").text == "short and stout"
        assert client.get("/missing").text == "custom 404"


def test_unknown_keyword_is_refused_by_starlette(project: Project) -> None:
    with pytest.raises(TypeError):
        create_app(project.base_dir, on_startup=[lambda: None])


def test_two_apps_do_not_share_configuration(project: Project, tmp_path: Any) -> None:
    configure_routes(project, ["single"])
    other_dir = tmp_path / "other"
    other_dir.mkdir()
    first = create_app(project.base_dir)
    second = create_app(other_dir)
    with TestClient(first) as one, TestClient(second) as two:
        assert one.get("/single").status_code == 200
        assert two.get("/single").status_code == 404
    assert second.state.framework.plugins == {}


def test_configuration_warnings_are_logged_by_create_app(
    project: Project, caplog: pytest.LogCaptureFixture
) -> None:
    project.toml('[spoc.plugins]\nvalidators = ["os.path.join", "os.path.join"]\n')
    caplog.set_level(logging.WARNING, logger="spoc_asgi")
    create_app(project.base_dir)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "spoc.W002" in warnings[0]
    assert "os.path.join" in warnings[0]


def test_a_router_with_its_own_middleware_is_refused(project: Project) -> None:
    # Taking only its routes would serve them without the Router's middleware.
    module = project.module(
        """
        from starlette.middleware import Middleware
        from starlette.responses import PlainTextResponse
        from starlette.routing import Route, Router

        class DenyAll:
            def __init__(self, app):
                self.app = app

            async def __call__(self, scope, receive, send):
                await PlainTextResponse("denied", status_code=403)(scope, receive, send)

        async def page(request):
            return PlainTextResponse("secret")

        admin = Router([Route("/admin", page)], middleware=[Middleware(DenyAll)])
        """
    )
    project.toml(f'[spoc.plugins]\nroutes = ["{module}.admin"]\n')
    with pytest.raises(ConfigurationError) as caught:
        create_app(project.base_dir)
    assert caught.value.id == "spoc.E019"
    assert f"{module}.admin" in str(caught.value)
    assert "Mount(" in str(caught.value)


def test_a_sync_generator_lifespan_is_accepted_as_starlette_accepts_it(project: Project) -> None:
    events: list[str] = []

    def lifespan(app: Any) -> Iterator[None]:
        events.append("up")
        yield
        events.append("down")

    with (
        pytest.warns(STARLETTE_DEPRECATION),
        TestClient(create_app(project.base_dir, lifespan=lifespan)),
    ):
        assert events == ["up"]
    assert events == ["up", "down"]
