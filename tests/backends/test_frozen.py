"""Frozen servers, through a TCP proxy that stops forwarding: no packets, no reset.

A query on a frozen PostgreSQL fails within statement_timeout (+1 s); a fail-open
cache on a frozen Redis stops waiting once its circuit opens, and serves hits again
within a second of the server coming back.
"""

from __future__ import annotations

import logging
import socket
import time
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from spoc_asgi import create_app
from spoc_asgi.backends.redis import RedisCache
from spoc_asgi.backends.sql import ConnectTimeoutError, SQLDatabase, StatementTimeoutError
from tests.backends.conftest import RedisServer, unique
from tests.conftest import Project
from tests.proxy import FreezableProxy
from tests.test_lifespan import serve_lifespan

pytestmark = pytest.mark.slow

HANG_GUARD = 30  # a hang fails the test instead of stalling the run
FOREVER = (  # a SQLite statement that never ends on its own
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) AS n FROM c"
)


def proxy_to(postgres_url: str) -> FreezableProxy:
    # Entered in the test body: its task group must live in the test's own task.
    url = make_url(postgres_url)
    return FreezableProxy(url.host or "127.0.0.1", url.port or 5432)


def through(postgres_url: str, proxy: FreezableProxy) -> str:
    url = make_url(postgres_url).set(host="127.0.0.1", port=proxy.port)
    return url.render_as_string(hide_password=False)


@pytest.mark.postgres
async def test_a_query_on_frozen_postgres_fails_within_statement_timeout(
    postgres_url: str,
) -> None:
    async with proxy_to(postgres_url) as pg_proxy:
        await frozen_query(postgres_url, pg_proxy)


async def frozen_query(postgres_url: str, pg_proxy: FreezableProxy) -> None:
    database = SQLDatabase(url=through(postgres_url, pg_proxy), statement_timeout=1.5)
    await database.connect()
    try:
        assert await database.fetch_one("SELECT 1 AS one") == {"one": 1}  # pooled now
        pg_proxy.freeze()
        started = time.monotonic()
        with anyio.fail_after(HANG_GUARD), pytest.raises(StatementTimeoutError) as raised:
            await database.fetch_one("SELECT 2 AS two")
        elapsed = time.monotonic() - started
        assert elapsed < 1.5 + 1
        message = str(raised.value)
        assert "statement_timeout" in message
        assert f"127.0.0.1:{pg_proxy.port}" in message

        pg_proxy.thaw()
        with anyio.fail_after(HANG_GUARD):
            assert await database.fetch_one("SELECT 3 AS three") == {"three": 3}
    finally:
        pg_proxy.thaw()
        await database.disconnect()


@pytest.mark.postgres
async def test_a_query_inside_a_transaction_on_frozen_postgres_is_bounded(
    postgres_url: str,
) -> None:
    async with proxy_to(postgres_url) as pg_proxy:
        await frozen_transaction(postgres_url, pg_proxy)


async def frozen_transaction(postgres_url: str, pg_proxy: FreezableProxy) -> None:
    database = SQLDatabase(url=through(postgres_url, pg_proxy), statement_timeout=1)
    await database.connect()
    try:
        started = time.monotonic()
        with anyio.fail_after(HANG_GUARD), pytest.raises(StatementTimeoutError):
            async with database.transaction():
                await database.fetch_one("SELECT 1 AS one")
                pg_proxy.freeze()
                await database.fetch_one("SELECT 2 AS two")
        assert time.monotonic() - started < 1 + 1
        pg_proxy.thaw()
        with anyio.fail_after(HANG_GUARD):
            assert await database.fetch_one("SELECT 3 AS three") == {"three": 3}
    finally:
        pg_proxy.thaw()
        await database.disconnect()


@pytest.mark.postgres
async def test_a_new_connection_to_frozen_postgres_fails_naming_connect_timeout(
    postgres_url: str,
) -> None:
    async with proxy_to(postgres_url) as pg_proxy:
        database = SQLDatabase(
            url=through(postgres_url, pg_proxy), connect_timeout=1, statement_timeout=5
        )
        await database.connect()
        try:
            await database.engine.dispose()  # no pooled connection: the next one is new
            pg_proxy.freeze()
            started = time.monotonic()
            with anyio.fail_after(HANG_GUARD), pytest.raises(ConnectTimeoutError) as raised:
                await database.fetch_one("SELECT 1 AS one")
            assert time.monotonic() - started < 1 + 1
            message = str(raised.value)
            assert "connect_timeout" in message and "statement_timeout" not in message
            assert f"127.0.0.1:{pg_proxy.port}" in message
            assert database.display_url in message
            assert not isinstance(raised.value, StatementTimeoutError)

            pg_proxy.thaw()
            with anyio.fail_after(HANG_GUARD):
                assert await database.fetch_one("SELECT 2 AS two") == {"two": 2}
        finally:
            pg_proxy.thaw()
            await database.disconnect()


@pytest.mark.postgres
async def test_ping_on_frozen_postgres_answers_false_once_the_driver_times_out(
    postgres_url: str,
) -> None:
    # asyncpg's command_timeout (statement_timeout + 0.5 s) fires first, with
    # asyncio.TimeoutError: not the builtin TimeoutError before Python 3.11.
    async with proxy_to(postgres_url) as pg_proxy:
        database = SQLDatabase(
            url=through(postgres_url, pg_proxy), connect_timeout=10, statement_timeout=0.5
        )
        await database.connect()
        try:
            pg_proxy.freeze()
            started = time.monotonic()
            with anyio.fail_after(HANG_GUARD):
                assert await database.ping() is False
            assert time.monotonic() - started < 0.5 + 0.5 + 1
        finally:
            pg_proxy.thaw()
            await database.disconnect()


@pytest.mark.postgres
async def test_the_server_enforces_statement_timeout(postgres_url: str) -> None:
    database = SQLDatabase(url=postgres_url, statement_timeout=0.3)
    await database.connect()
    try:
        assert await database.fetch_one("SHOW statement_timeout") == {"statement_timeout": "300ms"}
        with anyio.fail_after(HANG_GUARD), pytest.raises(StatementTimeoutError):
            await database.fetch_one("SELECT pg_sleep(5)")
        assert await database.fetch_one("SELECT 1 AS one") == {"one": 1}
    finally:
        await database.disconnect()


@pytest.mark.postgres
async def test_statement_timeout_none_leaves_the_server_default(postgres_url: str) -> None:
    database = SQLDatabase(url=postgres_url, statement_timeout=None)
    await database.connect()
    try:
        row = await database.fetch_one("SHOW statement_timeout")
        assert row is not None and row["statement_timeout"] != "30s"
    finally:
        await database.disconnect()


async def test_a_long_sqlite_statement_is_interrupted(tmp_path: object) -> None:
    database = SQLDatabase(url="sqlite+aiosqlite://", statement_timeout=0.3)
    await database.connect()
    try:
        started = time.monotonic()
        with anyio.fail_after(HANG_GUARD), pytest.raises(StatementTimeoutError) as raised:
            await database.fetch_one(FOREVER)
        assert time.monotonic() - started < 0.3 + 1
        assert "sqlite+aiosqlite://" in str(raised.value)
        assert await database.fetch_one("SELECT 1 AS one") == {"one": 1}
    finally:
        await database.disconnect()


async def test_sqlite_statements_are_bounded_without_fetching_the_raw_connection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The interrupt is looked up once per connection, when it opens; fetching the raw
    # connection for each statement costs a greenlet switch.
    database = SQLDatabase(
        url=f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite3'}", statement_timeout=0.3
    )
    await database.connect()

    async def refused(self: AsyncConnection) -> object:
        raise AssertionError("get_raw_connection() called for a statement")

    monkeypatch.setattr(AsyncConnection, "get_raw_connection", refused)
    try:
        for _ in range(3):
            assert await database.fetch_one("SELECT 1 AS one") == {"one": 1}
        async with database.transaction():
            assert await database.fetch_one("SELECT 2 AS two") == {"two": 2}
        started = time.monotonic()
        with anyio.fail_after(HANG_GUARD), pytest.raises(StatementTimeoutError):
            await database.fetch_one(FOREVER)
        assert time.monotonic() - started < 0.3 + 1
    finally:
        await database.disconnect()


@pytest.mark.postgres
async def test_killed_pool_connections_do_not_fail_requests_with_protocol_errors(
    postgres_url: str,
) -> None:
    # The server closes pooled connections (pg_terminate_backend) while requests keep
    # coming. A connection whose pre-ping passed just before the server's FATAL message
    # arrived used to fail with asyncpg's InternalClientError ("another operation is in
    # progress") and stay in the pool.
    name = unique("app")
    database = SQLDatabase(
        url=postgres_url, connect_args={"server_settings": {"application_name": name}}
    )
    admin = SQLDatabase(url=postgres_url)
    await database.connect()
    await admin.connect()
    failures: list[str] = []
    done = anyio.Event()

    async def client() -> None:
        while not done.is_set():
            try:
                await database.fetch_one("SELECT 1 AS one, pg_sleep(0.001)")
            except Exception as exc:  # collected and asserted on below
                failures.append(f"{type(exc).__name__}: {exc}")
            await anyio.lowlevel.checkpoint()

    try:
        with anyio.fail_after(HANG_GUARD):
            async with anyio.create_task_group() as group:
                for _ in range(40):
                    group.start_soon(client)
                for _ in range(15):
                    await anyio.sleep(0.3)
                    await admin.fetch_all(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE application_name = :name",
                        {"name": name},
                    )
                done.set()
    finally:
        await database.disconnect()
        await admin.disconnect()
    protocol_errors = [f for f in failures if "another operation" in f or "InternalClient" in f]
    assert not protocol_errors, protocol_errors[:3]


# -- Redis ------------------------------------------------------------------------------


@pytest.mark.redis
async def test_fail_open_reads_on_frozen_redis_are_bounded_and_recover_at_once(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    async with FreezableProxy("127.0.0.1", redis_server.port) as proxy:
        url = f"redis://:{redis_server.password}@127.0.0.1:{proxy.port}/0"
        cache = RedisCache(url=url, on_error="ignore", prefix=unique("frozen") + ":")
        await cache.connect()
        try:
            await cache.set("key", "value")
            proxy.freeze()
            with caplog.at_level(logging.DEBUG, logger="spoc_asgi"):
                started = time.monotonic()
                with anyio.fail_after(HANG_GUARD * 2):
                    for _ in range(20):
                        assert await cache.get("key", "miss") == "miss"
                total = time.monotonic() - started
                assert total < 15

                proxy.thaw()
                thawed = time.monotonic()
                with anyio.fail_after(HANG_GUARD):
                    for _ in range(HANG_GUARD * 50):
                        if await cache.get("key", "miss") == "value":
                            break
                        await anyio.sleep(0.02)
                recovered = time.monotonic() - thawed
                print(f"20 frozen reads: {total:.2f}s; recovered {recovered:.2f}s after thaw")
                assert recovered < 1
            levels = [r.levelno for r in caplog.records if r.levelno >= logging.INFO]
            assert levels == [logging.WARNING, logging.INFO]  # open once, close once
            assert redis_server.password not in caplog.text
        finally:
            proxy.thaw()
            await cache.clear()
            await cache.disconnect()


# -- startup against a server that accepts and never answers ----------------------------


@pytest.mark.parametrize(
    ("group", "uri", "url", "shown"),
    [
        (
            "database",
            "spoc_asgi.backends.sql.SQLDatabase",
            "postgresql+asyncpg://app:S3cretPw@127.0.0.1:{port}/app",
            "SQLDatabase(url='postgresql+asyncpg://app:***@127.0.0.1:{port}/app')",
        ),
        (
            "cache",
            "spoc_asgi.backends.redis.RedisCache",
            "redis://:S3cretPw@127.0.0.1:{port}/0",
            "RedisCache(url='redis://:***@127.0.0.1:{port}/0'",
        ),
    ],
)
async def test_a_startup_timeout_names_the_backend_and_its_redacted_url(
    project: Project, group: str, uri: str, url: str, shown: str
) -> None:
    with socket.socket() as listener:  # accepts connections, never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        port = listener.getsockname()[1]
        project.toml(
            f'[spoc]\nhook_timeout = 0.5\n[spoc.plugins]\n{group} = ["{uri}"]\n'
            f"[spoc.config.{group}.{'sql' if group == 'database' else 'redis'}]\n"
            f'url = "{url.format(port=port)}"\nconnect_timeout = 10\n'
        )
        app = create_app(project.base_dir)
        with anyio.fail_after(HANG_GUARD):
            sent, error = await serve_lifespan(app)
    assert [message["type"] for message in sent] == ["lifespan.startup.failed"]
    message = str(error)
    assert "did not start within 0.5s (hook_timeout)" in message
    assert shown.format(port=port) in message
    assert "S3cretPw" not in message + sent[0]["message"]
