"""@once, @leader and readiness across real server processes on this machine.

Three uvicorn servers with ``--workers 2`` each (six app processes) start at once on
the shared PostgreSQL, and again on Redis; gunicorn with uvicorn workers as well.
Every hook writes JSON lines (event, pid, time) to one file; every request to
``/probe`` answers whether the once-hook had completed when it was served. Ports
are free ones, output goes to files, every wait is bounded, and every process is
killed in a ``finally``.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from uvicorn.config import STARTUP_FAILURE

from tests.backends.conftest import RedisServer, own_redis_server

pytestmark = pytest.mark.slow

START_TIMEOUT = 60.0

HOOKS = """
import json, os, time
from pathlib import Path

import anyio
from starlette.responses import JSONResponse
from starlette.routing import Route

import spoc_asgi

LOG = Path(os.environ["SPOC_TEST_EVENTS"])


def write(event):
    line = json.dumps({"event": event, "pid": os.getpid(), "at": time.time()}) + "\\n"
    with LOG.open("a", encoding="utf-8") as file:
        file.write(line)


def completed():
    if not LOG.exists():
        return False
    return any(json.loads(line)["event"] == "end" for line in LOG.read_text().splitlines())


@spoc_asgi.once
async def migrate(app):
    write("begin")
    await anyio.sleep(float(os.environ.get("SPOC_TEST_ONCE_SECONDS", "1")))
    if os.environ.get("SPOC_TEST_ONCE_FAIL") == "1":
        raise RuntimeError("migration 42 failed")
    write("end")


@spoc_asgi.leader
async def scheduler(app):
    write("lead")
    try:
        while True:
            write("beat")
            await anyio.sleep(0.1)
    finally:
        write("stop")


async def probe(request):
    return JSONResponse({"pid": os.getpid(), "completed": completed()})


routes = [Route("/probe", probe)]
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Cluster:
    """One project served by several server processes, all sharing one events file."""

    directory: Path
    engine: str
    url: str
    lease_seconds: float = 2.0
    servers: list[tuple[subprocess.Popen[bytes], int, Path]] = field(default_factory=list)
    answers: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.module = f"hooks_{uuid.uuid4().hex[:10]}"
        self.events_file = self.directory / "events.jsonl"
        backend = {
            "postgres": f'database = ["spoc_asgi.backends.sql.SQLDatabase"]\n'
            f'[spoc.config.database.sql]\nurl = "{self.url}"\n',
            "redis": f'cache = ["spoc_asgi.backends.redis.RedisCache"]\n'
            f'[spoc.config.cache.redis]\nurl = "{self.url}"\n',
        }[self.engine]
        (self.directory / "config").mkdir(parents=True, exist_ok=True)
        (self.directory / f"{self.module}.py").write_text(HOOKS, encoding="utf-8")
        (self.directory / "asgi.py").write_text(
            "from pathlib import Path\nfrom spoc_asgi import create_app\n"
            "app = create_app(Path(__file__).parent)\n",
            encoding="utf-8",
        )
        toml = textwrap.dedent(
            f"""
            [spoc]
            hook_timeout = 60

            [spoc.coordination]
            namespace = "{self.module}"
            lease_seconds = {self.lease_seconds}

            [spoc.plugins]
            hooks = ["{self.module}.migrate", "{self.module}.scheduler"]
            routes = ["spoc_asgi.health.routes", "{self.module}.routes"]
            """
        )
        (self.directory / "config" / "spoc.toml").write_text(toml + backend, encoding="utf-8")

    def environment(self, **extra: str) -> dict[str, str]:
        environment = {k: v for k, v in os.environ.items() if not k.startswith("SPOC_")}
        environment.update(PYTHONUNBUFFERED="1", SPOC_TEST_EVENTS=str(self.events_file), **extra)
        return environment

    def start_uvicorn(self, count: int, workers: int = 2, **env: str) -> None:
        for _ in range(count):
            port = free_port()
            command = [
                sys.executable, "-m", "uvicorn", "asgi:app", "--host", "127.0.0.1",
                "--port", str(port), "--workers", str(workers), "--log-level", "info",
            ]  # fmt: skip
            self._spawn(command, port, env)

    def start_gunicorn(self, count: int, workers: int = 2, **env: str) -> None:
        for _ in range(count):
            port = free_port()
            command = [
                sys.executable, "-m", "gunicorn", "asgi:app", "--bind", f"127.0.0.1:{port}",
                "--workers", str(workers), "--worker-class", "uvicorn_worker.UvicornWorker",
                "--graceful-timeout", "10", "--timeout", "120",
            ]  # fmt: skip
            self._spawn(command, port, env)

    def _spawn(self, command: list[str], port: int, env: dict[str, str]) -> None:
        log = self.directory / f"server-{port}.log"
        with log.open("wb") as output:
            process = subprocess.Popen(
                command,
                cwd=self.directory,
                env=self.environment(**env),
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its workers too can be killed as one group
            )
        self.servers.append((process, port, log))

    def output(self) -> str:
        return "\n".join(log.read_text(errors="replace")[-3000:] for _, _, log in self.servers)

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        if not self.events_file.exists():
            return []
        lines = self.events_file.read_text(encoding="utf-8").splitlines()
        found = [json.loads(line) for line in lines if line.strip()]
        return [e for e in found if kind is None or e["event"] == kind]

    def poll(self) -> set[int]:
        """Ask every server once; remember each answer; return the ports that answered."""
        answered = set()
        for process, port, _ in self.servers:
            if process.poll() is not None:
                pytest.fail(f"a server exited ({process.returncode}):\n{self.output()}")
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/probe", timeout=0.5)
            except httpx.TransportError:
                continue
            self.answers.append({**response.json(), "port": port, "at": time.time()})
            answered.add(port)
        return answered

    def wait(self, condition: Callable[[], bool], what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            self.poll()
            if time.monotonic() > deadline:
                pytest.fail(f"no {what} within {timeout:g}s:\n{self.output()}")
            time.sleep(0.05)

    def wait_until_all_answer(self) -> None:
        ports = {port for _, port, _ in self.servers}
        self.wait(
            lambda: ports <= {a["port"] for a in self.answers}, "answer from all", START_TIMEOUT
        )

    def stop(self) -> None:
        for process, _, _ in self.servers:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process, _, _ in self.servers:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)

    def kill_all(self) -> None:
        for process, _, _ in self.servers:
            if process.poll() is None:
                with suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


def leader_terms(events: list[dict[str, Any]]) -> list[tuple[int, float, float]]:
    """(pid, start, end) per leadership term; the end is the stop, or the last beat of a
    leader that was killed."""
    terms = []
    for lead in [e for e in events if e["event"] == "lead"]:
        own = [e for e in events if e["pid"] == lead["pid"] and e["at"] >= lead["at"]]
        stop = next((e["at"] for e in own if e["event"] == "stop"), None)
        end = stop if stop is not None else max(e["at"] for e in own)
        terms.append((lead["pid"], lead["at"], end))
    return sorted(terms, key=lambda term: term[1])


def assert_one_leader_at_a_time(events: list[dict[str, Any]]) -> None:
    terms = leader_terms(events)
    for (pid, _, end), (next_pid, start, _) in itertools.pairwise(terms):
        assert end <= start, f"pid {next_pid} led from {start} while pid {pid} led until {end}"


@contextmanager
def cluster(tmp_path: Path, engine: str, url: str, **options: Any) -> Iterator[Cluster]:
    created = Cluster(tmp_path / "project", engine, url, **options)
    try:
        yield created
    finally:
        created.kill_all()
        _clean(created)


def _clean(created: Cluster) -> None:
    """Remove the records this test left on the shared servers."""
    if created.engine == "redis":
        import redis

        client = redis.Redis.from_url(created.url)
        for key in client.scan_iter(match=f"spoc:coordination:*{created.module}*"):
            client.delete(key)
        client.close()
    else:
        import asyncio

        import asyncpg

        from spoc_asgi.coordination.choose import postgres_dsn

        async def delete() -> None:
            connection = await asyncpg.connect(postgres_dsn(created.url))
            try:
                await connection.execute(
                    "DELETE FROM spoc_once WHERE name LIKE $1", f"once:{created.module}.%"
                )
            except asyncpg.UndefinedTableError:
                pass
            finally:
                await connection.close()

        asyncio.run(delete())


@pytest.fixture(
    params=[
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("redis", marks=pytest.mark.redis),
    ]
)
def engine_url(request: pytest.FixtureRequest) -> tuple[str, str]:
    name = str(request.param)
    return name, str(request.getfixturevalue(f"{name}_url"))


def test_six_processes_run_the_once_hook_once_and_one_leader_at_a_time(
    tmp_path: Path, engine_url: tuple[str, str]
) -> None:
    engine, url = engine_url
    with cluster(tmp_path, engine, url) as servers:
        servers.start_uvicorn(3, workers=2)
        servers.wait_until_all_answer()
        # Exactly one run, and no process answered before it had completed.
        assert [e["event"] for e in servers.events() if e["event"] in ("begin", "end")] == [
            "begin",
            "end",
        ]
        assert servers.answers and all(answer["completed"] for answer in servers.answers)
        assert len({a["pid"] for a in servers.answers}) >= 3

        # One leader; SIGKILL it and another takes over within the bound.
        servers.wait(lambda: len(servers.events("lead")) >= 1, "leader", 20)
        time.sleep(1.0)
        (first,) = servers.events("lead")
        os.kill(first["pid"], signal.SIGKILL)
        killed = time.time()
        bound = servers.lease_seconds + 3.0  # lease expiry (Redis) or at once (PostgreSQL)
        servers.wait(lambda: len(servers.events("lead")) >= 2, "new leader", bound)
        second = servers.events("lead")[1]
        assert second["pid"] != first["pid"]
        takeover = second["at"] - killed
        print(f"{engine}: takeover {takeover:.2f}s after SIGKILL of the leader")
        assert takeover < bound
        time.sleep(0.5)
        servers.stop()
        events = servers.events()
    assert_one_leader_at_a_time(events)
    # Every leader that was not killed stopped at shutdown.
    assert len([e for e in events if e["event"] == "stop"]) == len(leader_terms(events)) - 1


def test_killing_the_process_running_a_once_hook_lets_another_complete_it(
    tmp_path: Path, engine_url: tuple[str, str]
) -> None:
    engine, url = engine_url
    with cluster(tmp_path, engine, url) as servers:
        servers.start_uvicorn(3, workers=2, SPOC_TEST_ONCE_SECONDS="3")
        servers.wait(lambda: bool(servers.events("begin")), "once-hook run", START_TIMEOUT)
        (runner,) = servers.events("begin")
        os.kill(runner["pid"], signal.SIGKILL)
        servers.wait_until_all_answer()
        begins, ends = servers.events("begin"), servers.events("end")
        assert len(begins) == 2 and len(ends) == 1
        assert begins[1]["pid"] != runner["pid"] and ends[0]["pid"] == begins[1]["pid"]
        assert all(answer["completed"] for answer in servers.answers)
        assert min(a["at"] for a in servers.answers) >= ends[0]["at"]


def test_a_failed_once_hook_fails_every_server_with_the_same_error(
    tmp_path: Path, engine_url: tuple[str, str]
) -> None:
    engine, url = engine_url
    with cluster(tmp_path, engine, url) as servers:
        servers.start_uvicorn(3, workers=1, SPOC_TEST_ONCE_FAIL="1")
        codes = [process.wait(timeout=START_TIMEOUT) for process, _, _ in servers.servers]
        logs = [log.read_text(errors="replace") for _, _, log in servers.servers]
        assert servers.events("begin") and not servers.events("end")
        (runner,) = {e["pid"] for e in servers.events("begin")}
    assert codes == [STARTUP_FAILURE] * 3, servers.output()
    expected = f"(@once) failed in pid {runner} on "
    errors = set()
    for log in logs:
        (line,) = [
            line for line in log.splitlines() if expected in line and "startup failed" in line
        ]
        errors.add(line[line.index(expected) :])
        assert "Application startup complete" not in log
    assert len(errors) == 1 and errors.pop().endswith("RuntimeError: migration 42 failed")


def test_gunicorn_with_uvicorn_workers(tmp_path: Path, engine_url: tuple[str, str]) -> None:
    engine, url = engine_url
    with cluster(tmp_path, engine, url) as servers:
        servers.start_gunicorn(2, workers=2)
        servers.wait_until_all_answer()
        assert len(servers.events("begin")) == len(servers.events("end")) == 1
        assert all(answer["completed"] for answer in servers.answers)
        servers.wait(lambda: len(servers.events("lead")) >= 1, "leader", 20)
        time.sleep(1.0)
        assert len(servers.events("lead")) == 1
        servers.stop()
        assert_one_leader_at_a_time(servers.events())


# -- readiness under a real server ------------------------------------------------------


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    yield from own_redis_server(tmp_path)


def test_readiness_follows_redis_and_turns_503_at_sigterm(
    tmp_path: Path, own_redis: RedisServer
) -> None:
    project = tmp_path / "ready"
    (project / "config").mkdir(parents=True)
    (project / "asgi.py").write_text(
        "from pathlib import Path\nfrom spoc_asgi import create_app\n"
        "app = create_app(Path(__file__).parent)\n",
        encoding="utf-8",
    )
    (project / "config" / "spoc.toml").write_text(
        textwrap.dedent(
            f"""
            [spoc.health]
            drain_seconds = 3
            ping_timeout = 0.5

            [spoc.plugins]
            routes = ["spoc_asgi.health.routes"]
            cache = ["spoc_asgi.backends.redis.RedisCache"]

            [spoc.config.cache.redis]
            url = "{own_redis.url}"
            socket_timeout = 0.3
            connect_timeout = 0.3
            """
        ),
        encoding="utf-8",
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}/readyz"
    log = tmp_path / "ready.log"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SPOC_")}
    with ExitStack() as stack, log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "asgi:app", "--port", str(port)],
            cwd=project,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        stack.callback(lambda: process.poll() is None and process.kill())

        def status() -> tuple[int, dict[str, Any]]:
            try:
                response = httpx.get(url, timeout=2.0)
            except httpx.TransportError:
                return 0, {}
            return response.status_code, response.json()

        def wait_for(code: int, what: str, timeout: float = 20.0) -> dict[str, Any]:
            deadline = time.monotonic() + timeout
            while True:
                got, body = status()
                if got == code:
                    return body
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(
                        f"no {code} ({what}) within {timeout}s; last {got} {body}:\n"
                        f"{log.read_text(errors='replace')}"
                    )
                time.sleep(0.1)

        wait_for(200, "ready")
        own_redis.kill()
        body = wait_for(503, "redis down")
        assert body["status"] == "unavailable"
        assert body["failing"] == ["cache spoc_asgi.backends.redis.RedisCache"]
        assert own_redis.password not in json.dumps(body)
        own_redis.start()  # the same port
        wait_for(200, "redis back")

        process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        body = wait_for(503, "draining", 2.0)
        assert body == {"status": "draining"}
        assert process.poll() is None  # still serving while the load balancer drains it
        assert process.wait(timeout=20) == -signal.SIGTERM
        assert time.monotonic() - signalled >= 3.0  # drain_seconds
