"""Task-group lifespans under a real uvicorn process: SIGTERM exits cleanly, a crash is logged.

The helpers (free port, output in a file, bounded waits) are the ones of
tests/test_server_process.py.
"""

from __future__ import annotations

import signal
import sys
import textwrap
from pathlib import Path

import pytest

from tests.test_server_process import uvicorn

pytestmark = pytest.mark.slow

HOOKS = """
import anyio
from pathlib import Path

MARKER = Path(__file__).with_name("marker.txt")


def mark(text):
    with MARKER.open("a") as file:
        file.write(text + "\\n")


async def worker(name):
    mark(f"{name} up")
    try:
        await anyio.sleep_forever()
    finally:
        mark(f"{name} down")


async def held_group(app):
    async with anyio.create_task_group() as group:
        group.start_soon(worker, "hook worker")
        yield
        group.cancel_scope.cancel()


async def crash_later():
    await anyio.sleep(0.5)
    raise ZeroDivisionError("the background task crashed")


async def crashing_group(app):
    async with anyio.create_task_group() as group:
        group.start_soon(crash_later)
        yield
        group.cancel_scope.cancel()
"""

SERVE = """
import contextlib
from pathlib import Path

import anyio
from fastapi import FastAPI
from starlette.responses import PlainTextResponse

import spoc_asgi
from hooks import worker


@contextlib.asynccontextmanager
async def lifespan(app):
    async with anyio.create_task_group() as group:
        group.start_soon(worker, "host worker")
        yield
        group.cancel_scope.cancel()


async def health(request=None):
    return PlainTextResponse("ok")


host = FastAPI(lifespan=lifespan)
host.add_api_route("/health", health)
installed = spoc_asgi.install(host, Path(__file__).parent)

created = spoc_asgi.create_app(Path(__file__).parent, lifespan=lifespan)
created.add_route("/health", health)
"""


def write_project(root: Path, hooks: list[str]) -> Path:
    (root / "config").mkdir(parents=True)
    uris = [f"hooks.{hook}" for hook in hooks]
    (root / "config" / "spoc.toml").write_text(f"[spoc.plugins]\nhooks = {uris!r}\n")
    (root / "hooks.py").write_text(textwrap.dedent(HOOKS))
    (root / "serve.py").write_text(textwrap.dedent(SERVE))
    return root


@pytest.mark.parametrize("target", ["serve:installed", "serve:created"])
def test_sigterm_shuts_a_task_group_lifespan_down_cleanly(tmp_path: Path, target: str) -> None:
    project = write_project(tmp_path / "project", ["held_group"])
    with uvicorn(target, tmp_path, cwd=project) as server:
        server.wait_until_ready()
        server.process.send_signal(signal.SIGTERM)
        # uvicorn re-raises a captured SIGTERM once it has shut down (graceful).
        assert server.exit_code() == -signal.SIGTERM, server.output()
        output = server.output()
    assert "Application shutdown complete." in output
    assert "shutdown failed" not in output
    assert "Traceback" not in output
    marks = (project / "marker.txt").read_text().splitlines()
    assert sorted(marks) == [
        "hook worker down",
        "hook worker up",
        "host worker down",
        "host worker up",
    ]


def test_a_crash_in_a_hooks_task_group_is_logged_when_it_happens(tmp_path: Path) -> None:
    project = write_project(tmp_path / "project", ["crashing_group"])
    with uvicorn("serve:created", tmp_path, cwd=project) as server:
        server.wait_until_ready()
        # Logged while the server still runs, not at some later shutdown.
        server.wait_for(
            lambda: "ZeroDivisionError: the background task crashed" in server.output(),
            "the crash in the log",
            30.0,
        )
        output = server.output()
        assert server.process.poll() is None
        server.process.send_signal(signal.SIGTERM)
        server.exit_code()
    assert "in crash_later" in output  # with the task's own traceback
    assert "Attempted to exit" not in output


# -- the spoc_asgi log, visible by default -------------------------------------------------

PLAIN_HOOKS = """
import time


def slow_start():
    time.sleep(0.2)
"""

PLAIN_SERVE = """
from pathlib import Path

from starlette.responses import PlainTextResponse
from starlette.routing import Route

from spoc_asgi import create_app


async def health(request):
    return PlainTextResponse("ok")


app = create_app(Path(__file__).parent, routes=[Route("/health", health)])
"""

ROOT_CONFIG = """
{
  "version": 1,
  "disable_existing_loggers": false,
  "formatters": {"mine": {"format": "MINE %(name)s %(message)s"}},
  "handlers": {"out": {"class": "logging.StreamHandler", "formatter": "mine"}},
  "root": {"level": "INFO", "handlers": ["out"]}
}
"""

QUIET_CONFIG = """
{
  "version": 1,
  "disable_existing_loggers": false,
  "handlers": {"out": {"class": "logging.StreamHandler"}},
  "loggers": {"spoc_asgi": {"level": "WARNING", "handlers": ["out"]}}
}
"""


def plain_project(root: Path) -> Path:
    (root / "config").mkdir(parents=True)
    (root / "config" / "spoc.toml").write_text(
        '[spoc.plugins]\nhooks = ["plain_hooks.slow_start"]\n'
    )
    (root / "plain_hooks.py").write_text(textwrap.dedent(PLAIN_HOOKS))
    (root / "serve.py").write_text(textwrap.dedent(PLAIN_SERVE))
    return root


UVICORN = (sys.executable, "-m", "uvicorn")
SPOC_ASGI_RUN = (sys.executable, "-m", "spoc_asgi", "run", "--base-dir", ".", "--app")


def served_output(tmp_path: Path, *options: str, launcher: tuple[str, ...] = UVICORN) -> str:
    project = plain_project(tmp_path / "project")
    for name, text in (("root.json", ROOT_CONFIG), ("quiet.json", QUIET_CONFIG)):
        (project / name).write_text(text)
    launcher = (*launcher, *options)
    with uvicorn("serve:app", tmp_path, cwd=project, launcher=launcher) as server:
        server.wait_until_ready()
        server.process.send_signal(signal.SIGTERM)
        server.exit_code()
        return server.output()


@pytest.mark.parametrize("launcher", [UVICORN, SPOC_ASGI_RUN], ids=["uvicorn", "spoc-asgi-run"])
def test_the_startup_summary_shows_by_default(tmp_path: Path, launcher: tuple[str, ...]) -> None:
    output = served_output(tmp_path, launcher=launcher)
    (summary,) = [line for line in output.splitlines() if "spoc_asgi: started" in line]
    assert summary.startswith("INFO:     spoc_asgi: started ")  # aligned as uvicorn's lines
    assert "INFO:     spoc_asgi: hook 'plain_hooks.slow_start' started in" in output


def test_a_logging_config_of_the_users_own_is_kept(tmp_path: Path) -> None:
    output = served_output(tmp_path, "--log-config", "root.json")
    started = [line for line in output.splitlines() if "spoc_asgi started /" in line]
    assert len(started) == 1, output  # once: the fallback stepped aside
    assert started[0].startswith("MINE spoc_asgi started ")  # in the user's format


def test_a_logging_config_that_quiets_spoc_asgi_is_kept(tmp_path: Path) -> None:
    output = served_output(tmp_path, "--log-config", "quiet.json")
    assert "spoc_asgi" not in output
    assert "started" not in output.replace("Started server process", "")
