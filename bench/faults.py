"""The fault table (docs/reliability.md): real uvicorn processes, real servers, real faults.

    python -m bench.faults [--only NAME] [--seconds N]

Each fault starts its own uvicorn on a free port, serving a small spoc app (a cache
read, a database read, a slow route, a route reading the body) whose database is the
local PostgreSQL (``SPOC_TEST_POSTGRES_URL``) reached through a freezable TCP proxy
and whose cache is a redis-server of its own. Load comes from concurrent httpx
clients; every request is counted as ok (2xx), failed (any other status, or a
transport error) or slow. Nothing here touches the shared Redis; on the shared
PostgreSQL only this run's own connections (by application_name) are terminated.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.proxy import FreezableProxy

POSTGRES_URL = os.environ.get(
    "SPOC_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
APP_NAME = f"spoc_faults_{os.getpid()}"

PLUGINS = """
import asyncio
import os

from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route


async def cache(request):
    value = await request.state.cache.get("faults:key", "miss")
    return JSONResponse({"value": value})


async def db(request):
    row = await request.state.database.fetch_one("SELECT 1 AS one")
    return JSONResponse(row)


async def slow(request):
    await asyncio.sleep(float(request.query_params.get("seconds", "1")))
    return PlainTextResponse("done")


async def body(request):
    return PlainTextResponse(str(len(await request.body())))


def rss(request):
    # VmRSS now, and VmHWM: the peak since the process started (a body read in full and
    # freed again leaves RSS where it was, but not the peak)
    with open("/proc/self/status") as status:
        kb = {k: int(v.split()[0]) for k, v in (line.split(":", 1) for line in status)
              if k in ("VmRSS", "VmHWM")}
    return JSONResponse({"rss_mb": kb["VmRSS"] / 1024, "peak_mb": kb["VmHWM"] / 1024})


async def read_body(request):
    # a request function that reads the body before any route
    if request.url.path == "/body":
        await request.body()
    return None


routes = [
    Route("/cache", cache),
    Route("/db", db),
    Route("/slow", slow),
    Route("/body", body, methods=["POST"]),
    Route("/rss", rss),
]
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


@dataclass
class Redis:
    directory: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_port(self.port)

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def signal(self, sig: int) -> None:
        assert self.process is not None
        self.process.send_signal(sig)


@dataclass
class Server:
    """A uvicorn process serving the fault app."""

    base_dir: Path
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [sys.executable, "-m", "uvicorn", "spoc_asgi.cli:app_from_env", "--factory",
                   "--port", str(self.port), "--log-level", "warning",
                   "--timeout-graceful-shutdown", "30"]  # fmt: skip
        env = {**os.environ, **self.env, "SPOC_BASE_DIR": str(self.base_dir)}
        env["PYTHONPATH"] = os.pathsep.join([str(self.base_dir), os.getcwd()])
        log = (self.base_dir / "server.log").open("ab")
        self.process = subprocess.Popen(command, env=env, stdout=log, stderr=log)
        try:
            wait_port(self.port)
        except RuntimeError:
            raise RuntimeError((self.base_dir / "server.log").read_text()[-3000:]) from None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(40)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def make_project(root: Path, redis_port: int, pg_url: str, toml_extra: str = "") -> Path:
    base = root / f"app{free_port()}"
    (base / "config").mkdir(parents=True)
    (base / "fault_plugins.py").write_text(textwrap.dedent(PLUGINS))
    (base / "config" / "spoc.toml").write_text(
        textwrap.dedent(f"""
        [spoc]
        {toml_extra}
        [spoc.plugins]
        database = ["spoc_asgi.backends.sql.SQLDatabase"]
        cache = ["spoc_asgi.backends.redis.RedisCache"]
        middleware = ["fault_plugins.read_body"]
        routes = ["fault_plugins.routes"]

        [spoc.config.database.sql]
        url = "{pg_url}"
        statement_timeout = 2
        connect_timeout = 2  # a new connection to a frozen server waits this long
        pool_size = 10
        connect_args = {{ server_settings = {{ application_name = "{APP_NAME}" }} }}

        [spoc.config.cache.redis]
        url = "redis://127.0.0.1:{redis_port}/0"
        on_error = "ignore"
        prefix = "{APP_NAME}:"
        """)
    )
    return base


@dataclass
class Tally:
    ok: int = 0
    failed: int = 0
    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    last_failure: float = 0.0

    def add(self, started: float, status: int | None, error: str | None) -> None:
        elapsed = time.monotonic() - started
        self.latencies.append(elapsed)
        if status is not None and 200 <= status < 300:
            self.ok += 1
            return
        self.failed += 1
        self.last_failure = time.monotonic()
        key = error or f"HTTP {status}"
        self.errors[key] = self.errors.get(key, 0) + 1

    def p99(self) -> float:
        ordered = sorted(self.latencies)
        return ordered[int(len(ordered) * 0.99)] if ordered else 0.0


async def load(url: str, path: str, workers: int, until: Callable[[], bool], tally: Tally) -> None:
    limits = httpx.Limits(max_connections=workers)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:

        async def worker() -> None:
            while not until():
                started = time.monotonic()
                try:
                    response = await client.get(path)
                    tally.add(started, response.status_code, None)
                except httpx.HTTPError as exc:
                    tally.add(started, None, type(exc).__name__)

        await asyncio.gather(*(worker() for _ in range(workers)))


async def under_load(
    server: Server, path: str, seconds: float, fault: Callable[[], Awaitable[Any]]
) -> tuple[Tally, Any]:
    """Load ``path`` for ``seconds`` while ``fault()`` runs; return the tally and its result."""
    tally = Tally()
    end = time.monotonic() + seconds
    loader = asyncio.ensure_future(
        load(server.url, path, 20, lambda: time.monotonic() > end, tally)
    )
    try:
        result = await fault()
    finally:
        await loader
    return tally, result


async def recovered_after(url: str, check: Callable[[httpx.Response], bool]) -> float:
    """Seconds until a request to ``url`` passes ``check`` (polled every 20 ms)."""
    started = time.monotonic()
    async with httpx.AsyncClient(timeout=5) as client:
        while time.monotonic() - started < 30:
            try:
                if check(await client.get(url)):
                    return time.monotonic() - started
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.02)
    return float("inf")


# -- the faults -------------------------------------------------------------------------


async def fault_sigterm(server: Server, **_: Any) -> dict[str, Any]:
    rounds = []
    for _ in range(3):
        if server.process is None:
            await asyncio.to_thread(server.start)  # the proxy serves in this loop meanwhile
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            requests = [
                asyncio.ensure_future(client.get("/slow", params={"seconds": "1"}))
                for _ in range(40)
            ]
            await asyncio.sleep(0.3)
            assert server.process is not None
            started = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            done = await asyncio.gather(*requests, return_exceptions=True)
            completed = sum(
                1 for r in done if isinstance(r, httpx.Response) and r.status_code == 200
            )
            await asyncio.to_thread(server.process.wait, 40)
            rounds.append((completed, time.monotonic() - started))
            server.process = None
    return {
        "requests": 120,
        "failed": sum(40 - completed for completed, _ in rounds),
        "detail": "; ".join(f"{c}/40 completed, exit {s:.1f}s after SIGTERM" for c, s in rounds),
    }


async def fault_redis_kill(
    server: Server, redis: Redis, seconds: float, **_: Any
) -> dict[str, Any]:
    async def fault() -> float:
        await asyncio.sleep(seconds / 3)
        redis.kill()
        await asyncio.sleep(10)
        await asyncio.to_thread(redis.start)
        return await recovered_after(server.url + "/cache", lambda r: r.status_code == 200)

    tally, recovery = await under_load(server, "/cache", seconds / 3 * 2 + 10, fault)
    return summary(tally, f"killed 10 s; circuit closed again, hits {recovery:.2f}s after restart")


async def fault_redis_freeze(
    server: Server, redis: Redis, seconds: float, **_: Any
) -> dict[str, Any]:
    client = httpx.AsyncClient(base_url=server.url, timeout=10)
    async with client:
        await client.get("/cache")

    async def fault() -> float:
        await asyncio.sleep(seconds / 3)
        redis.signal(signal.SIGSTOP)
        await asyncio.sleep(10)
        redis.signal(signal.SIGCONT)
        thawed = time.monotonic()
        await recovered_after(server.url + "/cache", lambda r: r.status_code == 200)
        return time.monotonic() - thawed

    tally, recovery = await under_load(server, "/cache", seconds / 3 * 2 + 10, fault)
    return summary(
        tally, f"frozen 10 s (SIGSTOP); p99 {tally.p99():.2f}s; hits {recovery:.2f}s after thaw"
    )


async def fault_pg_terminate(server: Server, seconds: float, **_: Any) -> dict[str, Any]:
    from spoc_asgi.backends.sql import SQLDatabase

    admin = SQLDatabase(url=POSTGRES_URL)
    await admin.connect()
    kills = 0

    async def fault() -> None:
        nonlocal kills
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            await asyncio.sleep(0.5)
            await admin.fetch_all(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = :name",
                {"name": APP_NAME},
            )
            kills += 1

    try:
        tally, _ = await under_load(server, "/db", seconds + 0.5, fault)
    finally:
        await admin.disconnect()
    return summary(tally, f"every pool connection terminated {kills} times, every 0.5 s")


async def fault_pg_freeze(
    server: Server, proxy: FreezableProxy, seconds: float, **_: Any
) -> dict[str, Any]:
    async def fault() -> float:
        await asyncio.sleep(seconds / 3)
        proxy.freeze()
        await asyncio.sleep(10)
        proxy.thaw()
        return await recovered_after(server.url + "/db", lambda r: r.status_code == 200)

    tally, recovery = await under_load(server, "/db", seconds / 3 * 2 + 10, fault)
    return summary(
        tally,
        f"frozen 10 s (statement_timeout 2 s); slowest request {max(tally.latencies):.1f}s; "
        f"answers again {recovery:.2f}s after thaw",
    )


async def fault_pg_freeze_sigterm(
    server: Server, proxy: FreezableProxy, **_: Any
) -> dict[str, Any]:
    """SIGTERM while 20 requests wait on a frozen PostgreSQL: shutdown is not stalled."""
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
        await client.get("/db")  # pooled connections exist
        proxy.freeze()
        requests = [asyncio.ensure_future(client.get("/db")) for _ in range(20)]
        await asyncio.sleep(0.3)
        assert server.process is not None
        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        done = await asyncio.gather(*requests, return_exceptions=True)
        await asyncio.to_thread(server.process.wait, 60)
        exited = time.monotonic() - started
        server.process = None
    proxy.thaw()
    answered = sum(1 for r in done if isinstance(r, httpx.Response))
    failed = sum(1 for r in done if not (isinstance(r, httpx.Response) and r.status_code == 200))
    return {
        "requests": 20,
        "failed": failed,
        "detail": f"{answered}/20 answered (500: statement_timeout), "
        f"exit {exited:.1f}s after SIGTERM",
    }


async def fault_soak(server: Server, seconds: float, **_: Any) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        before = (await client.get("/rss")).json()["rss_mb"]
    tallies = [Tally(), Tally()]
    end = time.monotonic() + seconds
    await asyncio.gather(
        load(server.url, "/cache", 10, lambda: time.monotonic() > end, tallies[0]),
        load(server.url, "/db", 10, lambda: time.monotonic() > end, tallies[1]),
    )
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        after = (await client.get("/rss")).json()["rss_mb"]
    merged = Tally(
        ok=sum(t.ok for t in tallies),
        failed=sum(t.failed for t in tallies),
        latencies=[x for t in tallies for x in t.latencies],
    )
    for t in tallies:
        for key, count in t.errors.items():
            merged.errors[key] = merged.errors.get(key, 0) + count
    per_minute = (after - before) / (seconds / 60)
    return summary(merged, f"{seconds:g} s mixed cache/db; RSS {before:.1f} -> {after:.1f} MB "
                           f"({per_minute:+.2f} MB/min)")  # fmt: skip


async def fault_big_body(server: Server, **_: Any) -> dict[str, Any]:
    size = 200 * 1024 * 1024
    chunk = b"x" * (1024 * 1024)

    async def stream() -> Any:
        for _ in range(size // len(chunk)):
            yield chunk

    results = []
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
        before = (await client.get("/rss")).json()["peak_mb"]
        for label, kwargs in (
            ("Content-Length", {"content": b"x" * size}),
            ("chunked", {"content": stream()}),
        ):
            try:
                response = await client.post("/body", **kwargs)
                status: Any = response.status_code
            except httpx.HTTPError as exc:  # a 413 closes the connection while we send
                status = f"{type(exc).__name__} (server closed while sending)"
            after = (await client.get("/rss")).json()["peak_mb"]
            results.append(f"{label}: {status}, peak RSS {before:.1f} -> {after:.1f} MB")
            before = after
    status = await refused_status(server.port, size)
    results.append(f"status of a {size:,}-byte Content-Length: {status}")
    return {"requests": 3, "failed": 0, "detail": "200 MB body; " + "; ".join(results)}


async def refused_status(port: int, size: int) -> str:
    """The status line the server sends to headers announcing ``size`` bytes, before any."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: {size}\r\n\r\n".encode())
    await writer.drain()
    try:
        line = await asyncio.wait_for(reader.readline(), 5)
    except TimeoutError:
        line = b"(no answer before the body: it would be read)"
    writer.close()
    return line.decode().strip()


def summary(tally: Tally, detail: str) -> dict[str, Any]:
    errors = ", ".join(f"{k} x{v}" for k, v in sorted(tally.errors.items()))
    return {
        "requests": tally.ok + tally.failed,
        "failed": tally.failed,
        "detail": detail + (f"; failures: {errors}" if errors else ""),
    }


async def fault_big_body_unlimited(server: Server, **_: Any) -> dict[str, Any]:
    return await fault_big_body(server)


FAULTS = {
    "sigterm": fault_sigterm,
    "redis-kill": fault_redis_kill,
    "redis-freeze": fault_redis_freeze,
    "pg-terminate": fault_pg_terminate,
    "pg-freeze": fault_pg_freeze,
    "pg-freeze-sigterm": fault_pg_freeze_sigterm,
    "soak": fault_soak,
    "body": fault_big_body,
    "body-unlimited": fault_big_body_unlimited,
}
# [spoc] lines of a fault's app
TOML_EXTRA = {"body-unlimited": "max_body_size = 0"}


async def run(only: list[str], seconds: float, soak: float) -> None:
    host, port = "127.0.0.1", 5432
    from sqlalchemy.engine import make_url

    target = make_url(POSTGRES_URL)
    with tempfile.TemporaryDirectory(prefix="spoc-faults-") as tmp:
        root = Path(tmp)
        async with FreezableProxy(target.host or host, target.port or port) as proxy:
            pg_url = target.set(host="127.0.0.1", port=proxy.port).render_as_string(False)
            print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
            print(f"{'fault':<18} {'requests':>9} {'failed':>7}  detail", flush=True)
            for name in only or list(FAULTS):
                redis = Redis(root)
                redis.start()
                project = make_project(root, redis.port, pg_url, TOML_EXTRA.get(name, ""))
                server = Server(project, {})
                await asyncio.to_thread(server.start)  # the proxy serves in this loop
                try:
                    result = await FAULTS[name](
                        server=server,
                        redis=redis,
                        proxy=proxy,
                        seconds=soak if name == "soak" else seconds,
                    )
                finally:
                    proxy.thaw()
                    await asyncio.to_thread(server.stop)
                    redis.kill()
                print(
                    f"{name:<18} {result['requests']:>9,} {result['failed']:>7,}  "
                    f"{result['detail']}",
                    flush=True,
                )
            print(f"load average at the end: {os.getloadavg()[0]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.faults", description=__doc__)
    parser.add_argument("--only", action="append", choices=list(FAULTS), default=[])
    parser.add_argument("--seconds", type=float, default=15, help="load around each fault")
    parser.add_argument("--soak", type=float, default=60, help="seconds of the soak")
    args = parser.parse_args()
    asyncio.run(run(args.only, args.seconds, args.soak))


if __name__ == "__main__":
    main()
