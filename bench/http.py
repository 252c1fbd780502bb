"""Measure ``http``: the example app under uvicorn, loaded by ``wrk`` over loopback.

Two servers run side by side, each a single uvicorn worker without access log:
``example_app:app`` (built by spoc_asgi from its configuration) and
``bench.handwired:app`` (the same middleware objects wired by hand). ``wrk`` runs
against one, then the other, round after round. When ``taskset`` exists the
servers share one CPU and wrk gets the other, so they never fight over a core.

The route is ``GET /slow?seconds=0``: no database, no app state, one ``await``.
The example's rate limiter allows 100 requests per minute per client, so wrk
sends each request from a new client address (``X-Forwarded-For``, which uvicorn
trusts from 127.0.0.1): every request goes through every middleware to the route.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, NamedTuple

from bench.harness import Row, Settings, compared, interleave, skipped

REPO = Path(__file__).resolve().parent.parent
PATH = "/slow?seconds=0"
SPOC = "example_app (spoc)"
HAND = "hand-wired Starlette"
CONNECTIONS = 32

WRK_SCRIPT = """
-- A new client address for every request: the example's rate limiter never refuses.
local counter = 0
request = function()
  counter = counter + 1
  local address = string.format("10.%d.%d.%d",
    math.floor(counter / 65536) % 256, math.floor(counter / 256) % 256, counter % 256)
  return wrk.format(nil, nil, {["X-Forwarded-For"] = address})
end
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pinned(cpu: int) -> list[str]:
    """``taskset -c cpu`` when it exists and the machine has a second CPU."""
    if shutil.which("taskset") and (os.cpu_count() or 1) >= 2:
        return ["taskset", "-c", str(cpu)]
    return []


class Served(NamedTuple):
    url: str
    pid: int


def cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) process ``pid`` has used so far; None off Linux."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def settle(pid: int, timeout: float = 3.0) -> None:
    """Wait until process ``pid`` stops using CPU (at most ``timeout`` seconds).

    After wrk stops, a slow server still works through the requests in flight; the
    servers share one core, so the next server measured would pay for them.
    """
    deadline = time.monotonic() + timeout
    last = cpu_seconds(pid)
    while last is not None and time.monotonic() < deadline:
        time.sleep(0.1)
        now = cpu_seconds(pid)
        if now == last:
            return
        last = now


@contextmanager
def server(
    target: str,
    log: Path,
    *,
    env: Mapping[str, str] | None = None,
    path: str = PATH,
    headers: Mapping[str, str] | None = None,
) -> Iterator[Served]:
    """Run ``uvicorn target`` on a free port until the block ends; yield its URL and pid
    (``taskset`` execs uvicorn, which serves in its own process with one worker).

    ``env`` is added to the environment; the server is ready when ``path`` answers 200.
    """
    port = free_port()
    inherited = {key: value for key, value in os.environ.items() if key not in SERVER_ENV_UNSET}
    env = {**inherited, **(env or {})}
    command = [
        *pinned(1),
        sys.executable,
        "-m",
        "uvicorn",
        target,
        "--host=127.0.0.1",
        f"--port={port}",
        "--workers=1",
        "--no-access-log",
        "--log-level=warning",
        "--forwarded-allow-ips=127.0.0.1",
    ]
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=output, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(process, url, log, path, headers or {})
        yield Served(url, process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# The example's settings pick Redis/PostgreSQL from these; the bench uses its defaults
# (memory cache, SQLite) so both servers have the same, local, backends.
SERVER_ENV_UNSET = {"DATABASE_URL", "REDIS_URL", "SPOC_MODE", "SPOC_DEBUG"}


def wait_until_serving(
    process: subprocess.Popen[bytes],
    url: str,
    log: Path,
    path: str = PATH,
    headers: Mapping[str, str] | None = None,
) -> None:
    deadline = time.monotonic() + 30
    request = urllib.request.Request(url + path, headers=dict(headers or {}))
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"uvicorn exited with {process.returncode}:\n{tail(log)}")
        try:
            with urllib.request.urlopen(request, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"uvicorn did not answer {path} within 30s:\n{tail(log)}")


def tail(log: Path) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-20:])


REQUESTS_PER_SECOND = re.compile(r"Requests/sec:\s*([\d.]+)")
NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s*(\d+)")
SOCKET_ERRORS = re.compile(r"Socket errors:.*")


def wrk(url: str, seconds: int, script: Path) -> float:
    """Requests per second from one wrk run; any error response fails the run."""
    output = run_wrk(url + PATH, seconds, script)
    rate = REQUESTS_PER_SECOND.search(output)
    if rate is None:
        raise RuntimeError(f"no Requests/sec in wrk's output:\n{output}")
    return float(rate.group(1))


def run_wrk(
    target: str, seconds: int, script: Path, *extra: str, connections: int = CONNECTIONS
) -> str:
    """wrk's output for one run pinned to CPU 0; an error response or socket error fails it."""
    command = [
        *pinned(0),
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{seconds}s",
        *extra,
        "-s",
        str(script),
        target,
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds + 30)
    for problem in (NON_2XX, SOCKET_ERRORS):
        found = problem.search(done.stdout)
        if found:
            raise RuntimeError(f"wrk against {target}: {found.group(0)}\n{done.stdout}")
    return done.stdout + done.stderr


def check_same_stack() -> None:
    """The hand-wired stack must match the example's, entry by entry, options included."""
    import example_app
    from bench import handwired

    # The first entry is spoc_asgi's own lifespan guard, which the hand-wired app lacks.
    spoc = [describe(entry) for entry in example_app.app.user_middleware[1:]]
    hand = [describe(entry) for entry in handwired.MIDDLEWARE]
    if spoc != hand:
        raise RuntimeError(
            "bench/handwired.py no longer matches example_app's middleware:\n"
            f"  example_app: {spoc}\n  hand-wired:  {hand}"
        )


def describe(entry: Any) -> tuple[str, Any]:
    """An entry as (what it runs, its options); request functions by what they call."""
    cls, args, kwargs = entry
    if hasattr(cls, "instance"):  # a middleware spoc_asgi built once, with its options
        cls, args, kwargs = cls.cls, cls.args, cls.kwargs
    func = kwargs.get("func")
    if func is not None:
        owner = getattr(func, "__self__", func)  # a bound method's instance, or the callable
        name = getattr(owner, "__qualname__", None) or type(owner).__qualname__
        return (f"request function {name}", None)
    return (f"{cls.__module__}.{cls.__qualname__}", (args, kwargs))


def measure_http(settings: Settings) -> list[Row]:
    if shutil.which("wrk") is None:
        reason = "wrk is not installed (apt-get install -y wrk); see docs/performance.md"
        print(f"\n  http: skipped, {reason}", flush=True)
        return [skipped("http", SPOC, HAND, reason)]
    check_same_stack()
    seconds = settings.pick(5, 1)
    rounds = settings.pick(7, 1)
    with tempfile.TemporaryDirectory(prefix="spoc-bench-http-") as tmp, ExitStack() as stack:
        script = Path(tmp) / "clients.lua"
        script.write_text(WRK_SCRIPT, encoding="utf-8")
        urls = {
            SPOC: stack.enter_context(server("example_app:app", Path(tmp) / "spoc.log")).url,
            HAND: stack.enter_context(server("bench.handwired:app", Path(tmp) / "hand.log")).url,
        }

        def run(url: str) -> Any:
            # One wrk run is one sample: report it as the time one request took.
            return lambda n: n / wrk(url, seconds, script)

        samples = interleave(
            {name: run(url) for name, url in urls.items()},
            1,
            rounds,
            warmup=0 if settings.quick else 1,
        )
    return [
        compared(
            "http",
            samples,
            SPOC,
            HAND,
            unit="req/s",
            target=0.95,
            note=(
                f"uvicorn, 1 worker, GET {PATH}; wrk -t1 -c{CONNECTIONS} -d{seconds}s, "
                f"{rounds} interleaved rounds; example middleware stack (7 entries)"
            ),
        )
    ]
