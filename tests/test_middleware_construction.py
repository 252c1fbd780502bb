"""Each configured middleware is constructed exactly once per app (docs/middleware.md).

Middleware that registers itself in ``__init__`` (metrics collectors, tracers) must
see one construction, as in plain Starlette; bad options still fail when the app is
built, not as an unsupported lifespan.
"""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

import spoc_asgi
from spoc_asgi import ConfigurationError, create_app
from spoc_asgi.cli import main
from tests.conftest import Project

MIDDLEWARE = """
from starlette.middleware import Middleware

BUILT = []


class Counted:
    def __init__(self, app, header="x-counted"):
        if not header:
            raise ValueError("header must not be empty")
        BUILT.append(self)
        self.app = app
        self.header = header.encode()

    async def __call__(self, scope, receive, send):
        async def tagged(message):
            if message["type"] == "http.response.start":
                message["headers"] = [*message["headers"], (self.header, b"1")]
            await send(message)

        await self.app(scope, receive, tagged)


class KeepsItsOwnName:
    \"\"\"Stores the wrapped app under another name: reached through a forwarder.\"\"\"

    def __init__(self, app):
        BUILT.append(self)
        self.inner = app

    async def __call__(self, scope, receive, send):
        await self.inner(scope, receive, send)


prebuilt = Middleware(Counted, header="x-prebuilt")
"""


async def home(request: Request) -> PlainTextResponse:
    return PlainTextResponse("home")


def configure(project: Project, entries: list[str], options: str = "") -> Any:
    name = project.module(MIDDLEWARE)
    uris = [f"{name}.{entry}" for entry in entries]
    project.toml(f"[spoc.plugins]\nmiddleware = {uris!r}\n{options}")
    return importlib.import_module(name)


@pytest.mark.parametrize("entry", ["Counted", "prebuilt", "KeepsItsOwnName"])
def test_a_middleware_is_constructed_once_per_app(project: Project, entry: str) -> None:
    module = configure(project, [entry])
    app = create_app(project.base_dir, routes=[Route("/", home)])
    with TestClient(app) as client:
        for _ in range(3):
            response = client.get("/")
            assert response.text == "home"
    assert len(module.BUILT) == 1
    if entry != "KeepsItsOwnName":
        assert response.headers[module.BUILT[0].header.decode()] == "1"


def test_spoc_asgi_check_adds_no_construction_to_the_apps(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    module = configure(project, ["Counted"])
    assert main(["check", "--base-dir", str(project.base_dir)]) == 0
    built_by_check = len(module.BUILT)  # its own inspection, not the app's
    app = create_app(project.base_dir, routes=[Route("/", home)])
    with TestClient(app) as client:
        client.get("/")
        client.get("/")
    assert len(module.BUILT) - built_by_check == 1
    # The instance serving the app is the one built with it, not the check's.
    assert module.BUILT[-1] not in module.BUILT[:built_by_check]


def test_install_constructs_each_middleware_once(project: Project) -> None:
    module = configure(project, ["Counted"])
    host = FastAPI()
    host.add_api_route("/", home)
    spoc_asgi.install(host, project.base_dir)
    with TestClient(host) as client:
        assert client.get("/").headers["x-counted"] == "1"
        client.get("/")
    assert len(module.BUILT) == 1


def test_add_middleware_after_create_app_works_as_in_starlette(project: Project) -> None:
    module = configure(project, ["Counted"])
    app = create_app(project.base_dir, routes=[Route("/", home)])
    app.add_middleware(module.Counted, header="x-added")
    with TestClient(app) as client:
        response = client.get("/")
    assert response.headers["x-counted"] == "1"
    assert response.headers["x-added"] == "1"
    assert len(module.BUILT) == 2  # one configured, one added: each built once


@pytest.mark.parametrize(
    "options",
    [
        '[spoc.config.middleware.Counted]\nheader = ""\n',
        "[spoc.config.middleware.Counted]\ncolour = 1\n",
    ],
)
def test_bad_options_fail_create_app(project: Project, options: str) -> None:
    module = configure(project, ["Counted"], options)
    with pytest.raises(ConfigurationError) as caught:
        create_app(project.base_dir)
    assert caught.value.check.id == "spoc.E021"
    assert caught.value.check.uri == f"{module.__name__}.Counted"
    assert module.BUILT == []


def test_a_second_stack_gets_an_instance_of_its_own(project: Project) -> None:
    """Whoever builds the stack twice (tools do) gets two working stacks."""
    module = configure(project, ["Counted"])
    app = create_app(project.base_dir, routes=[Route("/", home)])
    first, second = app.build_middleware_stack(), app.build_middleware_stack()
    assert first is not second
    assert len(module.BUILT) == 2
    for stack in (first, second):
        other = Starlette(routes=[Route("/", home)], middleware=[Middleware(_Serve, stack=stack)])
        assert TestClient(other).get("/").headers["x-counted"] == "1"


class _Serve:
    def __init__(self, app: Any, stack: Any) -> None:
        self.stack = stack

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.stack(scope, receive, send)
