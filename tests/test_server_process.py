"""The example app under a real uvicorn process: graceful shutdown and failed startup.

Each test starts ``python -m uvicorn`` on a free port, with its output in a file
under ``tmp_path`` (a pipe nobody reads could fill up and stall the server).
Every wait is bounded, and the process is killed in a ``finally``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from uvicorn.config import STARTUP_FAILURE

from example_app.hooks import SHUTDOWN_MESSAGE

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parent.parent
API_KEY = "process-test-key"
START_TIMEOUT = 30.0
EXIT_TIMEOUT = 30.0


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    log: Path
    url: str

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait_for(self, condition: Callable[[], bool], what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if self.process.poll() is not None:
                pytest.fail(
                    f"uvicorn exited ({self.process.returncode}) before {what}:\n{self.output()}"
                )
            if time.monotonic() > deadline:
                pytest.fail(f"no {what} within {timeout:g}s:\n{self.output()}")
            time.sleep(0.05)

    def wait_until_ready(self) -> None:
        def answers() -> bool:
            try:
                return httpx.get(f"{self.url}/health", timeout=1.0).status_code == 200
            except httpx.TransportError:
                return False

        self.wait_for(answers, "answer on /health", START_TIMEOUT)

    def exit_code(self) -> int:
        try:
            return self.process.wait(timeout=EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"uvicorn did not exit within {EXIT_TIMEOUT:g}s:\n{self.output()}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


UVICORN = (sys.executable, "-m", "uvicorn")
# `spoc-asgi run` serving the same app: it checks the configuration first.
SPOC_ASGI_RUN = (sys.executable, "-m", "spoc_asgi", "run", "--base-dir", "example_app", "--app")


@contextmanager
def uvicorn(
    target: str,
    tmp_path: Path,
    cwd: Path = REPO_ROOT,
    env: dict[str, str] | None = None,
    launcher: tuple[str, ...] = UVICORN,
) -> Iterator[Server]:
    port = free_port()
    log = tmp_path / f"uvicorn-{port}.log"
    environment = {key: value for key, value in os.environ.items() if not key.startswith("SPOC_")}
    environment.pop("REDIS_URL", None)
    environment.update(
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/notes.sqlite3",
        EXAMPLE_API_KEYS=API_KEY,
        PYTHONUNBUFFERED="1",
        **(env or {}),
    )
    command = [*launcher, target, "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, cwd=cwd, env=environment, stdout=output, stderr=subprocess.STDOUT
        )
    try:
        yield Server(process, log, f"http://127.0.0.1:{port}")
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=EXIT_TIMEOUT)


@pytest.mark.parametrize(
    ("launcher", "sent", "exit_code"),
    [
        (UVICORN, signal.SIGINT, 0),
        # uvicorn re-raises a captured SIGTERM once it has shut down, so a supervisor
        # sees the process end by that signal: graceful, but not "exit 0" ...
        (UVICORN, signal.SIGTERM, -signal.SIGTERM),
        # ... while `spoc-asgi run` turns that re-raised SIGTERM into exit 0.
        (SPOC_ASGI_RUN, signal.SIGTERM, 0),
        (SPOC_ASGI_RUN, signal.SIGINT, 0),
    ],
    ids=["uvicorn-SIGINT", "uvicorn-SIGTERM", "spoc-asgi-run-SIGTERM", "spoc-asgi-run-SIGINT"],
)
def test_a_signal_lets_the_in_flight_request_finish_then_runs_shutdown_hooks(
    tmp_path: Path, launcher: tuple[str, ...], sent: signal.Signals, exit_code: int
) -> None:
    with uvicorn("example_app:app", tmp_path, launcher=launcher) as server:
        server.wait_until_ready()
        created = httpx.post(
            f"{server.url}/notes", json={"title": "kept"}, headers={"X-API-Key": API_KEY}
        )
        assert created.status_code == 201

        with ThreadPoolExecutor(max_workers=1) as pool:
            in_flight = pool.submit(
                httpx.get, f"{server.url}/slow", params={"seconds": "1.5"}, timeout=EXIT_TIMEOUT
            )
            # log_request logs on the way in: the request is inside the app now.
            server.wait_for(lambda: "GET /slow" in server.output(), "logged /slow", 10.0)
            server.process.send_signal(sent)
            response = in_flight.result(timeout=EXIT_TIMEOUT)

        assert response.status_code == 200
        assert response.json() == {"slept": 1.5}
        assert server.exit_code() == exit_code, server.output()
        output = server.output()
        assert SHUTDOWN_MESSAGE in output
        # In order: the request was answered, then the hooks ran, then the process ended.
        answered = output.index('"GET /slow?seconds=1.5 HTTP/1.1" 200')
        assert answered < output.index(SHUTDOWN_MESSAGE) < output.index("Finished server process")


def test_a_failing_startup_hook_makes_uvicorn_exit_non_zero(tmp_path: Path) -> None:
    project = tmp_path / "failing"
    (project / "config").mkdir(parents=True)
    (project / "config" / "spoc.toml").write_text(
        textwrap.dedent(
            """
            [spoc.plugins]
            hooks = ["failing_hooks.opened", "failing_hooks.explode"]
            """
        ),
        encoding="utf-8",
    )
    (project / "failing_hooks.py").write_text(
        textwrap.dedent(
            """
            from pathlib import Path

            MARKER = Path(__file__).with_name("marker.txt")

            async def opened(app):
                MARKER.write_text("opened\\n")
                yield
                MARKER.write_text(MARKER.read_text() + "closed\\n")

            def explode():
                raise RuntimeError("the database is unreachable")
            """
        ),
        encoding="utf-8",
    )
    (project / "serve.py").write_text(
        "from pathlib import Path\n"
        "from spoc_asgi import create_app\n"
        "app = create_app(Path(__file__).parent)\n",
        encoding="utf-8",
    )
    with uvicorn("serve:app", tmp_path, cwd=project) as server:
        assert server.exit_code() == STARTUP_FAILURE, server.output()
        output = server.output()
    assert "failing_hooks.explode" in output
    assert "RuntimeError: the database is unreachable" in output
    assert "Application startup complete" not in output
    # The hook that had started was stopped again: nothing is left half-started.
    assert (project / "marker.txt").read_text() == "opened\nclosed\n"
