"""Task groups held across the lifespan, sync hooks in anyio worker threads (docs/hooks.md).

A hook, the caller's ``lifespan=`` and an ``install()``-ed host's lifespan may hold a
task group from startup to shutdown, as in plain Starlette; a task crashing in it ends
the lifespan at once with its own traceback; a sync hook that overruns is waited for
before what it may use is torn down.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient
from starlette.types import Message

import spoc_asgi
from spoc_asgi import SpocError, create_app
from spoc_asgi.testing import lifespan_client
from tests.conftest import Project

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import ExceptionGroup

HANG_GUARD = 30  # seconds; turns a hang into a failure, asserts nothing about speed

HOOKS = """
import asyncio
import threading
import time

import anyio
import anyio.from_thread

import spoc_asgi

EVENTS = []
RELEASE = threading.Event()


async def worker(name):
    EVENTS.append(f"{name} worker up")
    try:
        await anyio.sleep_forever()
    finally:
        EVENTS.append(f"{name} worker down")


async def anyio_group(app):
    async with anyio.create_task_group() as group:
        group.start_soon(worker, "anyio")
        yield {"group": "anyio"}
        group.cancel_scope.cancel()


async def asyncio_group(app):
    async with asyncio.TaskGroup() as group:
        task = group.create_task(worker("asyncio"))
        yield
        task.cancel()


async def crash_soon():
    await anyio.sleep(0.05)
    raise ZeroDivisionError("the worker crashed")


async def crashing_group(app):
    async with anyio.create_task_group() as group:
        group.start_soon(crash_soon)
        yield
        group.cancel_scope.cancel()


async def crashing_asyncio_group(app):
    async with asyncio.TaskGroup() as group:
        group.create_task(crash_soon())
        yield


async def fails():
    raise LookupError("cannot start")


async def answer():
    await anyio.sleep(0)
    return "from the loop"


def uses_from_thread(app):
    EVENTS.append(anyio.from_thread.run(answer))


def slow_sync_startup():
    EVENTS.append("slow startup begins")
    time.sleep(1.4)  # past hook_timeout (1s), well within the grace (1s more)
    EVENTS.append("slow startup returns")


@spoc_asgi.on_shutdown
def slow_sync_shutdown():
    EVENTS.append("slow shutdown begins")
    time.sleep(1.4)
    EVENTS.append("slow shutdown returns")


def stuck_sync_startup():
    EVENTS.append("stuck startup")
    RELEASE.wait()


async def slow_async_startup():
    await anyio.sleep(0.15)


class Store:
    def connect(self):
        EVENTS.append("connect")

    def disconnect(self):
        EVENTS.append("disconnect")
"""


@pytest.fixture
def module(project: Project) -> Any:
    name = project.module(HOOKS)
    loaded = importlib.import_module(name)
    yield loaded
    loaded.RELEASE.set()  # let a thread given up on finish


def configure(project: Project, module: Any, hooks: list[str], toml: str = "") -> None:
    uris = [f"{module.__name__}.{hook}" for hook in hooks]
    project.toml(
        f"{toml}\n[spoc.plugins]\nhooks = {uris!r}\ndatabase = ['{module.__name__}.Store']\n"
    )


@contextlib.asynccontextmanager
async def task_group_lifespan(app: Starlette) -> AsyncIterator[dict[str, str]]:
    """A host lifespan as FastAPI users write it: a background worker in a task group."""
    events = app.state.events = []

    async def beat() -> None:
        events.append("beat up")
        try:
            await anyio.sleep_forever()
        finally:
            events.append("beat down")

    async with anyio.create_task_group() as group:
        group.start_soon(beat)
        yield {"caller": "task group lifespan"}
        group.cancel_scope.cancel()


async def read_caller(request: Request) -> PlainTextResponse:
    return PlainTextResponse(request.state.caller)


def host_app(project: Project, module: Any, how: str) -> Starlette:
    configure(project, module, ["anyio_group"])
    if how == "install":
        host = FastAPI(lifespan=task_group_lifespan)
        host.add_api_route("/", read_caller)
        return spoc_asgi.install(host, project.base_dir)
    return create_app(
        project.base_dir, lifespan=task_group_lifespan, routes=[Route("/", read_caller)]
    )


@pytest.mark.parametrize("how", ["install", "create_app"])
def test_a_task_group_lifespan_shuts_down_cleanly_under_test_client(
    project: Project, module: Any, how: str
) -> None:
    app = host_app(project, module, how)
    with TestClient(app) as client:
        assert client.get("/").text == "task group lifespan"
        assert app.state.events == ["beat up"]
    assert app.state.events == ["beat up", "beat down"]
    assert module.EVENTS == ["connect", "anyio worker up", "anyio worker down", "disconnect"]


@pytest.mark.parametrize("how", ["install", "create_app"])
async def test_a_task_group_lifespan_shuts_down_cleanly_under_lifespan_client(
    project: Project, module: Any, how: str
) -> None:
    app = host_app(project, module, how)
    with anyio.fail_after(HANG_GUARD):
        async with lifespan_client(app) as client:
            assert (await client.get("/")).text == "task group lifespan"
    assert app.state.events == ["beat up", "beat down"]
    assert module.EVENTS[-1] == "disconnect"


# asyncio.TaskGroup is new in Python 3.11.
NEEDS_TASKGROUP = pytest.mark.skipif(sys.version_info < (3, 11), reason="asyncio.TaskGroup")


@pytest.mark.parametrize(
    "hook", ["anyio_group", pytest.param("asyncio_group", marks=NEEDS_TASKGROUP)]
)
async def test_a_hook_holds_a_task_group_from_startup_to_shutdown(
    project: Project, module: Any, hook: str
) -> None:
    configure(project, module, [hook])
    name, events = hook.split("_")[0], module.EVENTS
    with anyio.fail_after(HANG_GUARD):
        async with lifespan_client(create_app(project.base_dir)):
            await anyio.sleep(0.01)
            running = ["connect", f"{name} worker up"]
            assert events == running
    stopped = [*running, f"{name} worker down", "disconnect"]
    assert events == stopped


async def test_a_task_group_hook_is_stopped_when_a_later_hook_fails_to_start(
    project: Project, module: Any
) -> None:
    configure(project, module, ["anyio_group", "fails"])
    with pytest.raises(SpocError, match=r"startup failed: hook '.*\.fails' raised LookupError"):
        async with lifespan_client(create_app(project.base_dir)):
            pass  # pragma: no cover
    assert module.EVENTS == ["connect", "anyio worker up", "anyio worker down", "disconnect"]


@pytest.mark.parametrize(
    "hook", ["crashing_group", pytest.param("crashing_asyncio_group", marks=NEEDS_TASKGROUP)]
)
async def test_a_task_crashing_in_a_hooks_group_ends_the_lifespan_with_its_traceback(
    project: Project, module: Any, hook: str
) -> None:
    configure(project, module, [hook, "anyio_group"])
    app = create_app(project.base_dir)
    to_app, inbox = anyio.create_memory_object_stream[Message](1)
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    await to_app.send({"type": "lifespan.startup"})
    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    # No lifespan.shutdown is ever sent: the crash alone must end the lifespan.
    with anyio.fail_after(HANG_GUARD), pytest.raises(ExceptionGroup) as caught:
        await app(scope, inbox.receive, send)
    assert [message["type"] for message in sent] == [
        "lifespan.startup.complete",
        "lifespan.shutdown.failed",
    ]
    report = sent[1]["message"]  # what uvicorn logs, at once, as for plain Starlette
    assert "ZeroDivisionError: the worker crashed" in report
    assert "in crash_soon" in report  # the task's own traceback
    assert "Attempted to exit" not in report  # no scope error in its place
    (failure,) = caught.value.exceptions
    assert f"hook '{module.__name__}.{hook}'" in str(failure)
    assert "ZeroDivisionError: the worker crashed" in str(failure)
    crash = failure.__cause__
    assert isinstance(crash, ExceptionGroup)
    assert isinstance(crash.exceptions[0], ZeroDivisionError)
    # The hooks around it still stopped, the backend last.
    assert module.EVENTS == ["connect", "anyio worker up", "anyio worker down", "disconnect"]


def test_anyio_from_thread_works_inside_a_sync_hook(project: Project, module: Any) -> None:
    configure(project, module, ["uses_from_thread"])
    with TestClient(create_app(project.base_dir)):
        pass
    assert module.EVENTS == ["connect", "from the loop", "disconnect"]


async def test_an_overrunning_sync_hook_is_waited_for_before_the_backends_close(
    project: Project, module: Any
) -> None:
    configure(project, module, ["slow_sync_startup"], "[spoc]\nhook_timeout = 1")
    began = time.monotonic()
    with pytest.raises(SpocError, match=r"slow_sync_startup' did not start within 1s"):
        async with lifespan_client(create_app(project.base_dir)):
            pass  # pragma: no cover
    # The database closed only once the hook that may use it had returned.
    assert module.EVENTS == [
        "connect",
        "slow startup begins",
        "slow startup returns",
        "disconnect",
    ]
    assert time.monotonic() - began < HANG_GUARD


async def test_an_overrunning_sync_shutdown_is_waited_for_before_the_backends_close(
    project: Project, module: Any
) -> None:
    configure(project, module, ["slow_sync_shutdown"], "[spoc]\nhook_timeout = 1")
    with anyio.fail_after(HANG_GUARD), pytest.raises(ExceptionGroup) as caught:
        async with lifespan_client(create_app(project.base_dir)):
            pass
    (timed_out,) = caught.value.exceptions
    assert "slow_sync_shutdown' did not finish within 1s" in str(timed_out)
    assert module.EVENTS == [
        "connect",
        "slow shutdown begins",
        "slow shutdown returns",
        "disconnect",
    ]


async def test_a_sync_hook_stuck_past_the_grace_is_logged_naming_it(
    project: Project, module: Any, caplog: pytest.LogCaptureFixture
) -> None:
    configure(project, module, ["stuck_sync_startup"], "[spoc]\nhook_timeout = 0.2")
    with anyio.fail_after(HANG_GUARD), pytest.raises(SpocError, match="did not start"):
        async with lifespan_client(create_app(project.base_dir)):
            pass  # pragma: no cover
    assert module.EVENTS == ["connect", "stuck startup", "disconnect"]
    (record,) = [r for r in caplog.records if "still running" in r.getMessage()]
    assert record.levelno == logging.ERROR
    assert f"hook '{module.__name__}.stuck_sync_startup'" in record.getMessage()


def test_a_slow_step_is_logged_with_its_time(
    project: Project, module: Any, caplog: pytest.LogCaptureFixture
) -> None:
    configure(project, module, ["slow_async_startup", "uses_from_thread"])
    caplog.set_level(logging.INFO, logger="spoc_asgi")
    with TestClient(create_app(project.base_dir)):
        pass
    timed = [r.getMessage() for r in caplog.records if " started in " in r.getMessage()]
    assert len(timed) == 1  # only the step over 100 ms
    assert f"hook '{module.__name__}.slow_async_startup' started in" in timed[0]
