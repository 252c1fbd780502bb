"""Measure ``coordination``: what @once costs at startup, and how fast @leader fails over.

* Startup: three ``uvicorn --workers 2`` servers (six app processes) started together,
  timed from the spawn until every server answers; the same hook marked ``@once``
  against the same hook unmarked (each process runs it), interleaved round by round.
* Failover: six single-process servers with one ``@leader`` hook; SIGKILL the leader
  five times and time each takeover (kill to the new leader's first line); the median.

Each engine that is reachable runs: PostgreSQL (127.0.0.1:5432) and Redis (6379).
Everything is wall clock: processes, sockets and the engines are the subject.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.harness import Row, Samples, Settings, compared, skipped

POSTGRES_URL = os.environ.get(
    "SPOC_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("SPOC_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
ENGINES = {"postgres": (POSTGRES_URL, 5432), "redis": (REDIS_URL, 6379)}
BACKENDS = {
    "postgres": ("database", "spoc_asgi.backends.sql.SQLDatabase", "sql"),
    "redis": ("cache", "spoc_asgi.backends.redis.RedisCache", "redis"),
}
LEASE_SECONDS = 2.0
START_TIMEOUT = 120.0

HOOKS = """
import json, os, time
from pathlib import Path

import anyio
from starlette.responses import PlainTextResponse
from starlette.routing import Route

import spoc_asgi

LOG = Path(os.environ["SPOC_BENCH_EVENTS"])


def write(event):
    with LOG.open("a", encoding="utf-8") as file:
        file.write(json.dumps({"event": event, "pid": os.getpid(), "at": time.time()}) + "\\n")


async def warm_up(app):
    write("run")
    await anyio.sleep(0.2)  # a short migration or cache warm-up


@spoc_asgi.once  # the same body; the marker is set on the function itself
async def once_warm_up(app):
    await warm_up(app)


@spoc_asgi.leader
async def scheduler(app):
    write("lead")
    await anyio.sleep_forever()


async def ok(request):
    return PlainTextResponse("ok")


routes = [Route("/ok", ok)]
"""


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def write_project(base: Path, engine: str, hook: str) -> Path:
    """A project whose one hook is ``hook`` (of the module above); returns its events file."""
    url = ENGINES[engine][0]
    module = f"bench_hooks_{uuid.uuid4().hex[:10]}"
    (base / "config").mkdir(parents=True)
    (base / f"{module}.py").write_text(HOOKS, encoding="utf-8")
    (base / "asgi.py").write_text(
        "from pathlib import Path\nfrom spoc_asgi import create_app\n"
        "app = create_app(Path(__file__).parent)\n",
        encoding="utf-8",
    )
    group, uri, short = BACKENDS[engine]
    backend = f'{group} = ["{uri}"]\n[spoc.config.{group}.{short}]\nurl = "{url}"\n'
    toml = textwrap.dedent(
        f"""
        [spoc.coordination]
        namespace = "{module}"
        lease_seconds = {LEASE_SECONDS}

        [spoc.plugins]
        hooks = ["{module}.{hook}"]
        routes = ["{module}.routes"]
        """
    )
    (base / "config" / "spoc.toml").write_text(toml + backend, encoding="utf-8")
    return base / "events.jsonl"


def events(path: Path, kind: str) -> list[dict[str, object]]:
    if not path.exists():
        return []
    found = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [event for event in found if event["event"] == kind]


@contextmanager
def servers(
    base: Path, count: int, workers: int
) -> Iterator[list[tuple[subprocess.Popen[bytes], int]]]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SPOC_")}
    environment["SPOC_BENCH_EVENTS"] = str(base / "events.jsonl")
    started: list[tuple[subprocess.Popen[bytes], int]] = []
    try:
        for _ in range(count):
            port = free_port()
            command = [
                sys.executable, "-m", "uvicorn", "asgi:app", "--port", str(port),
                "--workers", str(workers), "--log-level", "warning",
            ]  # fmt: skip
            process = subprocess.Popen(
                command,
                cwd=base,
                env=environment,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            started.append((process, port))
        yield started
    finally:
        for process, _ in started:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


def answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ok", timeout=0.5) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def startup_seconds(base: Path) -> float:
    """Spawn 3 x 2 processes; seconds until every server answers."""
    began = time.perf_counter()
    with servers(base, 3, 2) as started:
        pending = {port for _, port in started}
        while pending:
            if time.perf_counter() - began > START_TIMEOUT:
                raise RuntimeError(f"servers did not start within {START_TIMEOUT:g}s")
            pending = {port for port in pending if not answers(port)}
            time.sleep(0.02)
        return time.perf_counter() - began


def measure_startup(engine: str, tmp: Path, rounds: int) -> Row:
    coordinated, plain = f"6 processes, @once hook ({engine})", "6 processes, plain hook"
    samples = Samples({coordinated: [], plain: []})
    for index in range(rounds):
        order = [(coordinated, "once_warm_up"), (plain, "warm_up")]
        for name, hook in order if index % 2 == 0 else order[::-1]:
            base = tmp / f"{engine}-startup-{index}-{hook}"
            log = write_project(base, engine, hook)
            samples.rates[name].append(1 / startup_seconds(base))
            runs = len(events(log, "run"))
            # A server answers once one of its two workers is up: unmarked, the hook has
            # run in at least one worker of each server by then, in up to all six.
            if not (runs == 1 if hook == "once_warm_up" else 3 <= runs <= 6):
                raise RuntimeError(f"{name}: the hook ran {runs} times")
    return compared(
        "coordination",
        samples,
        coordinated,
        plain,
        unit="s",
        target=None,
        note=f"start to all 3 servers answering, median of {rounds} interleaved rounds",
    )


def measure_failover(engine: str, tmp: Path, kills: int) -> Row:
    base = tmp / f"{engine}-failover"
    log = write_project(base, engine, "scheduler")
    takeovers: list[float] = []
    with servers(base, kills + 1, 1):
        deadline = time.monotonic() + START_TIMEOUT
        while not events(log, "lead"):
            if time.monotonic() > deadline:
                raise RuntimeError("no leader")
            time.sleep(0.02)
        for kill in range(kills):
            leader = int(str(events(log, "lead")[-1]["pid"]))
            os.kill(leader, signal.SIGKILL)
            killed = time.time()
            deadline = time.monotonic() + LEASE_SECONDS + 30
            while len(events(log, "lead")) < kill + 2:
                if time.monotonic() > deadline:
                    raise RuntimeError("no new leader")
                time.sleep(0.01)
            takeovers.append(float(str(events(log, "lead")[-1]["at"])) - killed)
    median = statistics.median(takeovers)
    return Row(
        "coordination",
        f"leader failover after SIGKILL ({engine})",
        f"lease_seconds = {LEASE_SECONDS:g}",
        "s",
        subject_value=median,
        baseline_value=LEASE_SECONDS,
        note=f"median of {kills} kills; max {max(takeovers):.2f} s; "
        f"all: {', '.join(f'{t:.2f}' for t in takeovers)}",
    )


def measure_coordination(settings: Settings) -> list[Row]:
    rounds = settings.pick(3, 1)
    kills = settings.pick(5, 2)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="spoc-bench-coordination-") as directory:
        tmp = Path(directory)
        for engine, (_url, port) in ENGINES.items():
            if not port_open(port):
                rows.append(skipped("coordination", engine, "", f"{engine} is not reachable"))
                continue
            rows.append(measure_startup(engine, tmp, rounds))
            rows.append(measure_failover(engine, tmp, kills))
    return rows
