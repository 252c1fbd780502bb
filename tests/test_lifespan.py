"""Hooks on the ASGI lifespan (docs/hooks.md): order, failures, timeouts, the caller's lifespan."""

from __future__ import annotations

import contextlib
import importlib
import logging
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient
from starlette.types import Message

from spoc_asgi import SpocError, create_app
from spoc_asgi.testing import lifespan_client
from tests.conftest import STARLETTE_DEPRECATION, Project

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import ExceptionGroup

HOOKS = """
import threading

import anyio

import spoc_asgi

EVENTS = []
RELEASE = threading.Event()
SCOPE = None


class Recorder:
    def __init__(self, fail=None):
        self.fail = fail
        self.label = type(self).__name__

    async def startup(self):
        EVENTS.append(f"{self.label} up")
        if self.fail == "startup":
            raise RuntimeError(f"{self.label} cannot start")
        if self.fail == "hang":
            await anyio.sleep_forever()

    async def shutdown(self):
        EVENTS.append(f"{self.label} down")
        if self.fail == "shutdown":
            raise ValueError(f"{self.label} cannot stop")
        if self.fail in ("hang", "hang-shutdown"):
            await anyio.sleep_forever()


class A(Recorder):
    pass


class B(Recorder):
    pass


class C(Recorder):
    pass


class D(Recorder):
    pass


def stuck_sync_startup():
    EVENTS.append("stuck startup")
    RELEASE.wait()


@spoc_asgi.on_shutdown
def stuck_sync_shutdown():
    EVENTS.append("stuck shutdown")
    RELEASE.wait()


async def cancels_the_server():
    SCOPE.cancel()
    await anyio.sleep_forever()
"""


@pytest.fixture
def module_name(project: Project) -> Iterator[str]:
    name = project.module(HOOKS)
    yield name
    loaded = sys.modules.get(name)
    if loaded is not None:
        loaded.RELEASE.set()  # let abandoned threads finish


def build(
    project: Project,
    module_name: str,
    hooks: list[str],
    options: dict[str, Any] | None = None,
    toml: str = "",
    **kwargs: Any,
) -> tuple[Starlette, Any]:
    uris = [f"{module_name}.{hook}" for hook in hooks]
    project.settings(f"PLUGINS = {{'hooks': {uris!r}}}\nHOOKS_CONFIG = {options or {}!r}\n")
    if toml:
        project.toml(toml)
    app = create_app(project.base_dir, **kwargs)
    return app, importlib.import_module(module_name)


async def serve_lifespan(app: Any) -> tuple[list[Message], BaseException | None]:
    """Speak the lifespan protocol as a server does: startup, then shutdown once started."""
    inbox_send, inbox = anyio.create_memory_object_stream[Message](2)
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)
        if message["type"] == "lifespan.startup.complete":
            await inbox_send.send({"type": "lifespan.shutdown"})

    await inbox_send.send({"type": "lifespan.startup"})
    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    error: BaseException | None = None
    try:
        await app(scope, inbox.receive, send)
    except Exception as exc:  # Starlette re-raises after reporting, as uvicorn expects
        error = exc
    inbox_send.close()
    inbox.close()
    return sent, error


# -- order -----------------------------------------------------------------------------


def test_startup_in_listed_order_shutdown_in_reverse(project: Project, module_name: str) -> None:
    app, module = build(project, module_name, ["A", "B", "C"])
    with TestClient(app):
        assert module.EVENTS == ["A up", "B up", "C up"]
    assert module.EVENTS[3:] == ["C down", "B down", "A down"]


async def test_lifespan_protocol_completes(project: Project, module_name: str) -> None:
    app, _ = build(project, module_name, ["A"])
    sent, error = await serve_lifespan(app)
    assert error is None
    assert [message["type"] for message in sent] == [
        "lifespan.startup.complete",
        "lifespan.shutdown.complete",
    ]


# -- startup failure -------------------------------------------------------------------


async def test_startup_failure_fails_the_lifespan_naming_the_hook(
    project: Project, module_name: str
) -> None:
    app, module = build(project, module_name, ["A", "B", "C"], {"B": {"fail": "startup"}})
    sent, error = await serve_lifespan(app)
    assert [message["type"] for message in sent] == ["lifespan.startup.failed"]
    message = sent[0]["message"]
    assert f"hook '{module_name}.B'" in message
    assert "RuntimeError: B cannot start" in message
    assert isinstance(error, SpocError)
    assert isinstance(error.__cause__, SpocError)
    assert isinstance(error.__cause__.__cause__, RuntimeError)
    # Only what started is stopped, in reverse; C never started.
    assert module.EVENTS == ["A up", "B up", "A down"]


def test_startup_failure_raises_from_test_client(project: Project, module_name: str) -> None:
    app, module = build(project, module_name, ["A", "B", "C"], {"B": {"fail": "startup"}})
    with pytest.raises(SpocError, match=rf"hook '{module_name}\.B' raised RuntimeError"):
        TestClient(app).__enter__()
    assert module.EVENTS == ["A up", "B up", "A down"]


async def test_startup_failure_with_failing_teardown_still_reports_the_cause(
    project: Project, module_name: str
) -> None:
    options = {"A": {"fail": "shutdown"}, "C": {"fail": "startup"}}
    app, module = build(project, module_name, ["A", "B", "C", "D"], options)
    with pytest.raises(SpocError, match=rf"hook '{module_name}\.C' raised RuntimeError"):
        async with lifespan_client(app):
            pass  # pragma: no cover
    assert module.EVENTS == ["A up", "B up", "C up", "B down", "A down"]


# -- shutdown failure ------------------------------------------------------------------


async def test_shutdown_failures_are_collected_each_naming_its_hook(
    project: Project, module_name: str
) -> None:
    options = {"A": {"fail": "shutdown"}, "C": {"fail": "shutdown"}}
    app, module = build(project, module_name, ["A", "B", "C"], options)
    sent, error = await serve_lifespan(app)
    assert [message["type"] for message in sent] == [
        "lifespan.startup.complete",
        "lifespan.shutdown.failed",
    ]
    # Every shutdown step ran, although two failed.
    assert module.EVENTS[3:] == ["C down", "B down", "A down"]
    assert isinstance(error, ExceptionGroup)
    messages = [str(exc) for exc in error.exceptions]
    assert len(messages) == 2
    assert f"hook '{module_name}.C'" in messages[0]
    assert "ValueError: C cannot stop" in messages[0]
    assert f"hook '{module_name}.A'" in messages[1]
    assert all(isinstance(exc.__cause__, ValueError) for exc in error.exceptions)
    assert f"hook '{module_name}.A'" in sent[1]["message"]


def test_shutdown_failures_raise_from_test_client(project: Project, module_name: str) -> None:
    app, module = build(project, module_name, ["A", "B"], {"A": {"fail": "shutdown"}})
    client = TestClient(app)
    client.__enter__()
    with pytest.raises(ExceptionGroup) as caught:
        client.__exit__(None, None, None)
    assert f"hook '{module_name}.A'" in str(caught.value.exceptions[0])
    assert module.EVENTS == ["A up", "B up", "B down", "A down"]


# -- hook_timeout ----------------------------------------------------------------------

TIMEOUT = "[spoc]\nhook_timeout = 0.2\n"
HANG_GUARD = 30  # seconds; turns a hang into a failure, asserts nothing about speed


async def test_startup_overrunning_hook_timeout_fails_like_a_raise(
    project: Project, module_name: str
) -> None:
    app, module = build(project, module_name, ["A", "B", "C"], {"B": {"fail": "hang"}}, TIMEOUT)
    sent, error = await serve_lifespan(app)
    assert [message["type"] for message in sent] == ["lifespan.startup.failed"]
    assert f"hook '{module_name}.B' did not start within 0.2s (hook_timeout)" in str(error)
    assert module.EVENTS == ["A up", "B up", "A down"]


async def test_stuck_sync_startup_hook_is_abandoned(project: Project, module_name: str) -> None:
    app, module = build(project, module_name, ["A", "stuck_sync_startup", "C"], toml=TIMEOUT)
    sent, error = await serve_lifespan(app)
    assert [message["type"] for message in sent] == ["lifespan.startup.failed"]
    assert f"hook '{module_name}.stuck_sync_startup' did not start" in str(error)
    assert module.EVENTS == ["A up", "stuck startup", "A down"]


async def test_shutdown_overrunning_hook_timeout_fails_and_others_still_stop(
    project: Project, module_name: str
) -> None:
    options = {"B": {"fail": "hang-shutdown"}}
    app, module = build(project, module_name, ["A", "B", "C"], options, TIMEOUT)
    sent, error = await serve_lifespan(app)
    assert sent[-1]["type"] == "lifespan.shutdown.failed"
    assert isinstance(error, ExceptionGroup)
    (timed_out,) = error.exceptions
    assert str(timed_out) == f"shutdown of hook '{module_name}.B' did not finish within 0.2s"
    assert module.EVENTS[3:] == ["C down", "B down", "A down"]


async def test_stuck_shutdown_hooks_do_not_hang_shutdown(
    project: Project, module_name: str
) -> None:
    app, module = build(project, module_name, ["A", "stuck_sync_shutdown", "B"], toml=TIMEOUT)
    sent, error = await serve_lifespan(app)
    assert [message["type"] for message in sent] == [
        "lifespan.startup.complete",
        "lifespan.shutdown.failed",
    ]
    assert isinstance(error, ExceptionGroup)
    (timed_out,) = error.exceptions
    assert f"hook '{module_name}.stuck_sync_shutdown'" in str(timed_out)
    assert "did not finish within 0.2s" in str(timed_out)
    assert module.EVENTS == ["A up", "B up", "B down", "stuck shutdown", "A down"]


# -- cancellation ----------------------------------------------------------------------


async def test_cancelled_startup_is_not_reported_as_a_failure(
    project: Project, module_name: str
) -> None:
    app, module = build(project, module_name, ["A", "cancels_the_server"])
    runtime = app.state.spoc_runtime
    with anyio.CancelScope() as scope:
        module.SCOPE = scope
        async with runtime.lifespan(app):
            pytest.fail("startup was cancelled")  # pragma: no cover
    assert scope.cancelled_caught
    assert module.EVENTS == ["A up", "A down"]


async def test_error_in_the_running_app_still_stops_every_step(
    project: Project, module_name: str
) -> None:
    app, module = build(project, module_name, ["A", "B"])
    runtime = app.state.spoc_runtime
    with anyio.fail_after(HANG_GUARD), pytest.raises(LookupError):
        async with runtime.lifespan(app):
            raise LookupError("the server broke")
    assert module.EVENTS == ["A up", "B up", "B down", "A down"]


async def test_cancelled_while_running_still_stops_every_step(
    project: Project, module_name: str
) -> None:
    app, module = build(project, module_name, ["A", "B"])
    runtime = app.state.spoc_runtime
    with anyio.fail_after(HANG_GUARD), anyio.CancelScope() as scope:
        async with runtime.lifespan(app):
            scope.cancel()
            await anyio.sleep_forever()
    assert scope.cancelled_caught
    assert module.EVENTS == ["A up", "B up", "B down", "A down"]


# -- the caller's own lifespan ---------------------------------------------------------


async def read_state(request: Request) -> PlainTextResponse:
    return PlainTextResponse(request.state.caller)


def caller_lifespan(events: list[str]) -> Any:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, str]]:
        events.append("caller up")
        yield {"caller": "caller state"}
        events.append("caller down")

    return lifespan


async def test_caller_lifespan_runs_inside_the_hooks(project: Project, module_name: str) -> None:
    events: list[str] = []
    app, module = build(
        project,
        module_name,
        ["A", "B"],
        lifespan=caller_lifespan(events),
        routes=[Route("/", read_state)],
    )
    module.EVENTS = events  # one timeline for hooks and the caller's lifespan
    async with lifespan_client(app) as client:
        assert (await client.get("/")).text == "caller state"
    assert events == ["A up", "B up", "caller up", "caller down", "B down", "A down"]


def test_caller_lifespan_state_reaches_requests_in_test_client(
    project: Project, module_name: str
) -> None:
    events: list[str] = []
    app, _ = build(
        project, module_name, [], lifespan=caller_lifespan(events), routes=[Route("/", read_state)]
    )
    with TestClient(app) as client:
        assert client.get("/").text == "caller state"
    assert events == ["caller up", "caller down"]


def test_caller_async_generator_lifespan_is_accepted(project: Project, module_name: str) -> None:
    events: list[str] = []

    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        events.append("generator up")
        yield
        events.append("generator down")

    # Accepted as Starlette accepts it: with Starlette's own deprecation warning.
    with pytest.warns(STARLETTE_DEPRECATION):
        app, _ = build(project, module_name, ["A"], lifespan=lifespan)
    with TestClient(app):
        pass
    assert events == ["generator up", "generator down"]


async def test_caller_lifespan_failure_names_it(project: Project, module_name: str) -> None:
    @contextlib.asynccontextmanager
    async def broken(app: Starlette) -> AsyncIterator[None]:
        raise LookupError("caller broke")
        yield  # pragma: no cover

    app, module = build(project, module_name, ["A"], lifespan=broken)
    sent, error = await serve_lifespan(app)
    assert "lifespan 'lifespan=' raised LookupError: caller broke" in sent[0]["message"]
    assert isinstance(error, SpocError)
    assert module.EVENTS == ["A up", "A down"]


def test_startup_logs_one_concise_summary_with_redacted_backends(
    project: Project, caplog: pytest.LogCaptureFixture
) -> None:
    module = project.module(
        """
        class Store:
            name = "store"

            def __init__(self, url="postgresql://app:hunter2@db.example/app"):
                self.url = url

            def connect(self):
                pass

            def disconnect(self):
                pass

            def __repr__(self):
                return f"Store(url={self.url!r})"

        def hook():
            pass
        """
    )
    project.toml(
        f"""
        [spoc]
        mode = "staging"
        [spoc.plugins]
        hooks = ["{module}.hook"]
        database = ["{module}.Store"]
        """
    )
    caplog.set_level(logging.INFO, logger="spoc_asgi")
    with TestClient(create_app(project.base_dir)):
        pass
    summaries = [r for r in caplog.records if r.name == "spoc_asgi" and r.levelno == logging.INFO]
    assert len(summaries) == 1
    text = summaries[0].getMessage()
    assert "mode=staging" in text
    assert "hooks=1" in text and "database=1" in text
    assert " ms" in text
    assert "postgresql://app:***@db.example/app" in text
    assert "hunter2" not in text


def test_a_hooks_own_timeout_error_is_not_reported_as_an_overrun(project: Project) -> None:
    module = project.module(
        """
        async def connect(app):
            raise TimeoutError("upstream auth server timed out")
        """
    )
    project.toml(f'[spoc.plugins]\nhooks = ["{module}.connect"]\n')
    with pytest.raises(SpocError) as caught, TestClient(create_app(project.base_dir)):
        pass
    message = str(caught.value)
    assert f"{module}.connect" in message
    assert "upstream auth server timed out" in message
    assert "hook_timeout" not in message
