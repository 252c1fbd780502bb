"""The hooks group's accepted shapes (docs/hooks.md), each seen running on the lifespan."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from spoc_asgi import ConfigurationError, create_app, hooks
from spoc_asgi.testing import lifespan_client
from tests.conftest import Project

HOOKS = """
import threading
from contextlib import asynccontextmanager

import spoc_asgi

EVENTS = []
APPS = []
THREADS = {}


def sync_no_argument():
    EVENTS.append("sync_no_argument")


def sync_with_app(app):
    APPS.append(app)
    EVENTS.append("sync_with_app")
    THREADS["sync_with_app"] = (threading.get_ident(), threading.current_thread().name)


async def async_no_argument():
    EVENTS.append("async_no_argument")


async def async_with_app(app):
    APPS.append(app)
    EVENTS.append("async_with_app")
    THREADS["loop"] = threading.get_ident()


@spoc_asgi.on_shutdown
async def marked_shutdown(app):
    EVENTS.append("marked_shutdown")


def shutdown():
    EVENTS.append("shutdown")


async def on_shutdown(app):
    EVENTS.append("on_shutdown")


async def generator_with_app(app):
    APPS.append(app)
    EVENTS.append("generator up")
    yield {"from_generator": "generator state"}
    EVENTS.append("generator down")


async def generator_no_argument():
    EVENTS.append("bare generator up")
    yield
    EVENTS.append("bare generator down")


@asynccontextmanager
async def context_factory(app):
    APPS.append(app)
    EVENTS.append("context up")
    yield {"from_context": "context state"}
    EVENTS.append("context down")


class ContextClass:
    def __init__(self, app, greeting="hello"):
        APPS.append(app)
        self.greeting = greeting

    async def __aenter__(self):
        EVENTS.append(f"class context up {self.greeting}")
        return {"from_class": self.greeting}

    async def __aexit__(self, *exc_info):
        EVENTS.append("class context down")


def returns_context(app):
    return context_factory(app)


class Lifecycle:
    def __init__(self, label="default"):
        self.label = label

    async def startup(self, app):
        APPS.append(app)
        EVENTS.append(f"Lifecycle up {self.label}")

    def shutdown(self):
        EVENTS.append(f"Lifecycle down {self.label}")


class Configured:
    def __init__(self):
        self.label = "unconfigured"

    def configure(self, label):
        self.label = label

    def startup(self):
        EVENTS.append(f"Configured up {self.label}")


class OnlyShutdown:
    def shutdown(self):
        EVENTS.append("OnlyShutdown down")


LIFECYCLE = Lifecycle("instance")


class Nothing:
    pass


def too_many(app, other):
    pass


NUMBER = 7
"""

MODULE_HOOK = """
EVENTS = []


def startup():
    EVENTS.append("module up")


async def shutdown(app):
    EVENTS.append("module down")
"""


def configure(project: Project, hooks: list[str], extra: str = "") -> str:
    module = project.module(HOOKS)
    uris = [hook if ":" in hook else f"{module}.{hook}" for hook in hooks]
    project.settings(f"PLUGINS = {{'hooks': {uris!r}}}\n{extra}")
    return module


def recorded(module: str) -> Any:
    return importlib.import_module(module)


async def state(request: Request) -> JSONResponse:
    keys = ("from_generator", "from_context", "from_class")
    return JSONResponse({key: getattr(request.state, key, None) for key in keys})


def run(app: Starlette) -> dict[str, Any]:
    with TestClient(app) as client:
        result: dict[str, Any] = client.get("/state").json()
    return result


def build(project: Project, hooks: list[str], extra: str = "") -> tuple[Starlette, Any]:
    module = configure(project, hooks, extra)
    app = create_app(project.base_dir, routes=[Route("/state", state)])
    return app, recorded(module)


def test_functions_sync_and_async_with_or_without_the_app(project: Project) -> None:
    app, module = build(
        project, ["sync_no_argument", "sync_with_app", "async_no_argument", "async_with_app"]
    )
    run(app)
    assert module.EVENTS == [
        "sync_no_argument",
        "sync_with_app",
        "async_no_argument",
        "async_with_app",
    ]
    assert all(seen is app for seen in module.APPS) and len(module.APPS) == 2


def test_signatures_are_read_when_the_app_is_built_not_at_each_startup(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[object] = []
    original = hooks.accepts_positional

    def counting(func: Any, count: int) -> bool:
        reads.append(func)
        return original(func, count)

    monkeypatch.setattr(hooks, "accepts_positional", counting)
    app, module = build(project, ["sync_with_app", "async_no_argument", "on_shutdown", "LIFECYCLE"])
    read_when_built = len(reads)
    assert read_when_built > 0
    run(app)
    run(app)  # a second lifespan of the same app
    assert len(reads) == read_when_built
    assert module.EVENTS.count("sync_with_app") == 2
    assert module.EVENTS.count("on_shutdown") == 2
    assert all(seen is app for seen in module.APPS)


def test_sync_hooks_run_in_an_anyio_worker_thread(project: Project) -> None:
    app, module = build(project, ["sync_with_app", "async_with_app"])
    run(app)
    thread, name = module.THREADS["sync_with_app"]
    assert thread != module.THREADS["loop"]
    assert name == "AnyIO worker thread"  # anyio's pool: anyio.from_thread works there


def test_shutdown_functions_run_at_shutdown(project: Project) -> None:
    app, module = build(project, ["marked_shutdown", "sync_no_argument", "shutdown", "on_shutdown"])
    with TestClient(app):
        assert module.EVENTS == ["sync_no_argument"]
    assert module.EVENTS == ["sync_no_argument", "on_shutdown", "shutdown", "marked_shutdown"]


async def test_generators_and_context_managers_wrap_the_app_life(project: Project) -> None:
    app, module = build(
        project, ["generator_with_app", "generator_no_argument", "context_factory", "ContextClass"]
    )
    async with lifespan_client(app) as client:
        assert module.EVENTS == [
            "generator up",
            "bare generator up",
            "context up",
            "class context up hello",
        ]
        seen = (await client.get("/state")).json()
    assert seen == {
        "from_generator": "generator state",
        "from_context": "context state",
        "from_class": "hello",
    }
    assert module.EVENTS[4:] == [
        "class context down",
        "context down",
        "bare generator down",
        "generator down",
    ]
    assert all(seen is app for seen in module.APPS) and len(module.APPS) == 3


def test_context_class_gets_its_options(project: Project) -> None:
    app, module = build(
        project, ["ContextClass"], "HOOKS_CONFIG = {'ContextClass': {'greeting': 'hi'}}"
    )
    assert run(app)["from_class"] == "hi"
    assert module.EVENTS == ["class context up hi", "class context down"]


def test_function_returning_an_async_context_manager_is_entered(project: Project) -> None:
    app, module = build(project, ["returns_context"])
    assert run(app)["from_context"] == "context state"
    assert module.EVENTS == ["context up", "context down"]


def test_objects_with_startup_and_shutdown_methods(project: Project) -> None:
    extra = "HOOKS_CONFIG = {'Lifecycle': {'label': 'class'}, 'Configured': {'label': 'set'}}"
    app, module = build(project, ["Lifecycle", "LIFECYCLE", "Configured", "OnlyShutdown"], extra)
    with TestClient(app):
        assert module.EVENTS == [
            "Lifecycle up class",
            "Lifecycle up instance",
            "Configured up set",
        ]
    assert module.EVENTS[3:] == [
        "OnlyShutdown down",
        "Lifecycle down instance",
        "Lifecycle down class",
    ]
    assert all(seen is app for seen in module.APPS) and len(module.APPS) == 2


def test_module_with_startup_and_shutdown_functions(project: Project) -> None:
    name = project.module(MODULE_HOOK)
    project.settings(f"PLUGINS = {{'hooks': [{name!r}]}}")
    app = create_app(project.base_dir)
    module = recorded(name)
    with TestClient(app):
        assert module.EVENTS == ["module up"]
    assert module.EVENTS == ["module up", "module down"]


@pytest.mark.parametrize("name", ["Nothing", "NUMBER", "too_many"])
def test_entry_of_no_known_shape_is_a_configuration_error(project: Project, name: str) -> None:
    module = configure(project, [name])
    with pytest.raises(ConfigurationError) as caught:
        create_app(project.base_dir)
    error = caught.value
    assert error.id == "spoc.E017"
    assert error.check.uri == f"{module}.{name}"
    assert error.check.key == "hooks"
    assert f"{module}.{name}" in str(error)
    assert "startup/shutdown methods" in str(error)


def test_rejected_hook_options_are_a_configuration_error(project: Project) -> None:
    module = configure(project, ["Lifecycle"], "HOOKS_CONFIG = {'Lifecycle': {'colour': 1}}")
    with pytest.raises(ConfigurationError) as caught:
        create_app(project.base_dir)
    assert caught.value.id == "spoc.E021"
    assert f"{module}.Lifecycle" in str(caught.value)
    assert isinstance(caught.value.__cause__, TypeError)


def test_rejected_context_class_options_fail_at_build_time(project: Project) -> None:
    configure(project, ["ContextClass"], "HOOKS_CONFIG = {'ContextClass': {'colour': 1}}")
    with pytest.raises(ConfigurationError) as caught:
        create_app(project.base_dir)
    assert caught.value.id == "spoc.E021"


def test_hooks_of_two_apps_do_not_mix(project: Project, tmp_path: Any) -> None:
    app, module = build(project, ["sync_no_argument"])
    other = create_app(tmp_path)  # an empty base dir next to it
    with TestClient(other):
        pass
    assert module.EVENTS == []
    run(app)
    assert module.EVENTS == ["sync_no_argument"]


def test_a_sync_generator_hook_is_refused_rather_than_never_run(project: Project) -> None:
    module = project.module(
        """
        def setup(app):
            yield
        """
    )
    project.toml(f'[spoc.plugins]\nhooks = ["{module}.setup"]\n')
    with pytest.raises(ConfigurationError) as caught:
        create_app(project.base_dir)
    assert caught.value.id == "spoc.E017"
    assert f"{module}.setup" in str(caught.value)


def test_options_for_a_hook_function_are_an_error_not_lost(project: Project) -> None:
    module = project.module(
        """
        def startup(app):
            pass
        """
    )
    project.toml(
        f'[spoc.plugins]\nhooks = ["{module}.startup"]\n[spoc.config.hooks.startup]\nretries = 3\n'
    )
    with pytest.raises(ConfigurationError) as caught:
        create_app(project.base_dir)
    assert caught.value.id == "spoc.E021"
    assert "cannot take its options" in str(caught.value)
