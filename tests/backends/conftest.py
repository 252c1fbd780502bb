"""Fixtures for the backend tests: each built-in backend against its real server.

Every test gets its own cache prefix or table name, so tests never see each
other's data and nothing is left behind on the shared servers.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from spoc_asgi.backends.memory import MemoryCache
from spoc_asgi.backends.redis import RedisCache
from spoc_asgi.backends.sql import SQLDatabase
from tests.conftest import port_open

CacheFactory = Callable[..., Awaitable[Any]]


def unique(label: str) -> str:
    return f"spoc_{label}_{uuid.uuid4().hex[:12]}"


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def cache_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def make_cache(
    cache_kind: str, request: pytest.FixtureRequest
) -> AsyncIterator[CacheFactory]:
    """Build and connect a cache of the parametrised kind; cleared and closed after the test."""
    created: list[Any] = []
    redis_url = request.getfixturevalue("redis_url") if cache_kind == "redis" else ""

    async def make(**options: Any) -> Any:
        options.setdefault("prefix", unique("test") + ":")
        if cache_kind == "memory":
            cache: Any = MemoryCache(**options)
        else:
            cache = RedisCache(url=redis_url, **options)
        await cache.connect()
        created.append(cache)
        return cache

    yield make
    for cache in created:
        await cache.clear()
        await cache.disconnect()


@pytest.fixture
async def cache(make_cache: CacheFactory) -> Any:
    return await make_cache()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'test.sqlite3'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[SQLDatabase]:
    db = SQLDatabase(url=database_url)
    await db.connect()
    yield db
    await db.disconnect()


@pytest.fixture
async def table(database: SQLDatabase) -> AsyncIterator[str]:
    """A fresh table ``(id, name, score)``, dropped after the test."""
    name = unique("t")
    await database.execute(
        f"CREATE TABLE {name} (id INTEGER PRIMARY KEY, name TEXT NOT NULL, score INTEGER)"
    )
    yield name
    await database.execute(f"DROP TABLE IF EXISTS {name}")


# -- a redis-server of our own, to kill and restart -------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RedisServer:
    """A throwaway ``redis-server`` on a free port, without persistence."""

    directory: Path
    password: str
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = [
            "redis-server",
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.directory),
            "--requirepass", self.password,
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while not port_open("127.0.0.1", self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start on port {self.port}")
            time.sleep(0.02)

    def pause(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


def own_redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A throwaway redis-server for one test (the body of each such fixture)."""
    if shutil.which("redis-server") is None:
        if os.environ.get("SPOC_REQUIRE_SERVICES") == "1":
            pytest.fail("redis-server is not installed and SPOC_REQUIRE_SERVICES=1")
        pytest.skip("redis-server is not installed")
    server = RedisServer(tmp_path, password=unique("pw"))
    server.start()
    yield server
    server.kill()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    yield from own_redis_server(tmp_path)
