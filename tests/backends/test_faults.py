"""Real faults: Redis killed and restarted, ports that refuse or never answer, PostgreSQL
connections killed by the server. The backends must fail in bounded time, follow their
failure policy, and recover without being reconnected by hand."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Iterator

import anyio
import pytest
import redis.exceptions
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from spoc_asgi.backends._shared import BackendConnectError
from spoc_asgi.backends.redis import RedisCache
from spoc_asgi.backends.sql import SQLDatabase
from tests.backends.conftest import RedisServer, free_port, unique

pytestmark = pytest.mark.slow

# A guard so a hang fails the test instead of stalling the run; not a timing assertion.
HANG_GUARD = 30


@pytest.fixture
async def fail_open(redis_server: RedisServer) -> AsyncIterator[RedisCache]:
    cache = RedisCache(
        url=redis_server.url, on_error="ignore", connect_timeout=1, breaker_cooldown=0.2
    )
    await cache.connect()
    yield cache
    await cache.disconnect()


@pytest.fixture
async def fail_closed(redis_server: RedisServer) -> AsyncIterator[RedisCache]:
    cache = RedisCache(url=redis_server.url, on_error="raise", connect_timeout=1)
    await cache.connect()
    yield cache
    await cache.disconnect()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts TCP connections and never answers (a hung server)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield int(listener.getsockname()[1])


async def test_fail_open_serves_misses_while_redis_is_down(
    fail_open: RedisCache, redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    await fail_open.set("key", "value")
    await fail_open.set("counter", 5)
    redis_server.kill()

    with caplog.at_level(logging.DEBUG, logger="spoc_asgi"), anyio.fail_after(HANG_GUARD):
        assert await fail_open.get("key", "default") == "default"
        assert await fail_open.get_many(["key", "counter"]) == {}
        await fail_open.set("key", "dropped")
        await fail_open.set_many({"a": 1})
        assert await fail_open.incr("counter", 3) == 3  # as for a key that does not exist
        assert await fail_open.delete("key") is False
        await fail_open.clear()
        assert await fail_open.ping() is False

    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # one warning per outage, not one per call
    logged = caplog.text
    assert "unavailable" in warnings[0].getMessage()
    assert f"redis://:***@127.0.0.1:{redis_server.port}/0" in logged
    assert redis_server.password not in logged


async def test_fail_open_recovers_when_redis_comes_back(
    fail_open: RedisCache, redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    await fail_open.set("key", "before")
    redis_server.kill()
    assert await fail_open.get("key") is None
    await fail_open.get("key")
    await fail_open.get("key")  # three failures in a row: the circuit is open
    redis_server.start()  # same port, empty: nothing was persisted
    await anyio.sleep(0.3)  # breaker_cooldown: the next call probes

    with caplog.at_level(logging.INFO, logger="spoc_asgi"), anyio.fail_after(HANG_GUARD):
        assert await fail_open.get("key", "miss") == "miss"
        await fail_open.set("key", "after")
        assert await fail_open.get("key") == "after"
        assert await fail_open.incr("n") == 1
        assert await fail_open.ping() is True
    assert "reachable again" in caplog.text


async def test_fail_closed_raises_while_redis_is_down_and_recovers(
    fail_closed: RedisCache, redis_server: RedisServer
) -> None:
    await fail_closed.set("key", "value")
    redis_server.kill()
    with anyio.fail_after(HANG_GUARD):
        with pytest.raises(redis.exceptions.ConnectionError):
            await fail_closed.get("key")
        with pytest.raises(redis.exceptions.ConnectionError):
            await fail_closed.set("key", "value")
        with pytest.raises(redis.exceptions.ConnectionError):
            await fail_closed.incr("counter")
        assert await fail_closed.ping() is False  # a health check answers, never raises

    redis_server.start()
    with anyio.fail_after(HANG_GUARD):
        assert await fail_closed.get("key") is None
        await fail_closed.set("key", "again")
        assert await fail_closed.get("key") == "again"


async def test_a_connection_broken_by_a_restart_is_replaced_transparently(
    fail_closed: RedisCache, redis_server: RedisServer
) -> None:
    # The pool holds a connection to the old process; the first command after the
    # restart finds it dead, and the retry reconnects instead of failing the call.
    await fail_closed.set("key", 1)
    redis_server.kill()
    redis_server.start()
    with anyio.fail_after(HANG_GUARD):
        assert await fail_closed.incr("key") == 1


@pytest.mark.parametrize("on_error", ["raise", "ignore"])
async def test_connect_to_a_closed_port_fails_naming_the_backend(on_error: str) -> None:
    url = f"redis://:s3cret@127.0.0.1:{free_port()}/0"
    cache = RedisCache(url=url, on_error=on_error, connect_timeout=1)
    with anyio.fail_after(HANG_GUARD), pytest.raises(BackendConnectError) as raised:
        await cache.connect()
    message = str(raised.value)
    assert message.startswith("redis cache at redis://:***@127.0.0.1:")
    assert "could not connect" in message
    assert "s3cret" not in message
    with pytest.raises(Exception, match="not connected"):
        await cache.get("key")


@pytest.mark.parametrize("on_error", ["raise", "ignore"])
async def test_connect_to_a_server_that_never_answers_times_out(
    silent_port: int, on_error: str
) -> None:
    cache = RedisCache(
        url=f"redis://127.0.0.1:{silent_port}/0", on_error=on_error, connect_timeout=0.5
    )
    with anyio.fail_after(HANG_GUARD), pytest.raises(BackendConnectError) as raised:
        await cache.connect()
    assert "no answer within 0.5s (connect_timeout)" in str(raised.value)


@pytest.mark.parametrize("on_error", ["raise", "ignore"])
async def test_a_frozen_server_is_bounded_by_socket_timeout(
    redis_server: RedisServer, on_error: str
) -> None:
    # SIGSTOP: the process keeps its socket, so the kernel still accepts and queues,
    # but nothing answers, as with a server stuck in a long command or a dead host.
    cache = RedisCache(url=redis_server.url, on_error=on_error, socket_timeout=0.3)
    await cache.connect()
    try:
        await cache.set("key", "value")
        redis_server.pause()
        try:
            with anyio.fail_after(HANG_GUARD):
                if on_error == "ignore":
                    assert await cache.get("key", "miss") == "miss"
                else:
                    with pytest.raises(redis.exceptions.TimeoutError):
                        await cache.get("key")
                assert await cache.ping() is False
        finally:
            redis_server.resume()
        with anyio.fail_after(HANG_GUARD):
            assert await cache.get("key") == "value"
    finally:
        await cache.disconnect()


@pytest.mark.parametrize("on_error", ["raise", "ignore"])
async def test_a_call_waits_for_a_busy_connection_up_to_pool_timeout(
    redis_server: RedisServer, on_error: str
) -> None:
    cache = RedisCache(
        url=redis_server.url,
        on_error=on_error,
        max_connections=1,
        pool_timeout=0.2,
        socket_timeout=10,
    )
    await cache.connect()
    try:
        await cache.set("key", "value")
        redis_server.pause()
        try:
            # The only connection waits on the frozen server; the next call cannot get one.
            first = asyncio.ensure_future(cache.get("key"))
            await asyncio.sleep(0.05)
            with anyio.fail_after(HANG_GUARD):
                if on_error == "ignore":
                    assert await cache.get("key", "miss") == "miss"
                else:
                    with pytest.raises(redis.exceptions.ConnectionError, match="pool_timeout"):
                        await cache.get("key")
        finally:
            redis_server.resume()
        with anyio.fail_after(HANG_GUARD):
            assert await first == "value"
            assert await cache.get("key") == "value"  # the slot was given back
    finally:
        await cache.disconnect()


# -- PostgreSQL -------------------------------------------------------------------------


@pytest.mark.postgres
async def test_postgres_connections_killed_by_the_server_are_replaced(postgres_url: str) -> None:
    name = unique("app")
    database = SQLDatabase(
        url=postgres_url, connect_args={"server_settings": {"application_name": name}}
    )
    admin = SQLDatabase(url=postgres_url)
    await database.connect()
    await admin.connect()
    try:
        assert await database.fetch_one("SELECT 1 AS one") == {"one": 1}  # pooled now
        killed = await admin.fetch_all(
            "SELECT pg_terminate_backend(pid, 5000) AS killed FROM pg_stat_activity "
            "WHERE datname = :db AND pid <> pg_backend_pid() AND application_name = :name",
            {"db": make_url(postgres_url).database, "name": name},
        )
        assert killed and all(row["killed"] for row in killed)

        with anyio.fail_after(HANG_GUARD):
            assert await database.fetch_one("SELECT 2 AS two") == {"two": 2}
            assert await database.ping() is True
    finally:
        await database.disconnect()
        await admin.disconnect()


@pytest.mark.postgres
async def test_without_pre_ping_a_killed_connection_fails_one_call(postgres_url: str) -> None:
    # pool_pre_ping=False trades that one failed call for a round trip per checkout;
    # SQLAlchemy then drops the broken pool, and the next call reconnects.
    name = unique("app")
    database = SQLDatabase(
        url=postgres_url,
        pool_pre_ping=False,
        connect_args={"server_settings": {"application_name": name}},
    )
    admin = SQLDatabase(url=postgres_url)
    await database.connect()
    await admin.connect()
    try:
        assert await database.fetch_one("SELECT 1 AS one") == {"one": 1}
        await admin.fetch_all(
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
            "WHERE pid <> pg_backend_pid() AND application_name = :name",
            {"name": name},
        )
        with anyio.fail_after(HANG_GUARD):
            with pytest.raises(DBAPIError) as raised:
                await database.fetch_one("SELECT 2 AS two")
            assert raised.value.connection_invalidated
            assert await database.fetch_one("SELECT 3 AS three") == {"three": 3}
    finally:
        await database.disconnect()
        await admin.disconnect()


@pytest.mark.postgres
async def test_postgres_on_a_closed_port_fails_connect_naming_the_backend(
    postgres_url: str,
) -> None:
    url = make_url(postgres_url).set(password="s3cret", port=free_port())
    database = SQLDatabase(url=url.render_as_string(hide_password=False), connect_timeout=2)
    with anyio.fail_after(HANG_GUARD), pytest.raises(BackendConnectError) as raised:
        await database.connect()
    message = str(raised.value)
    assert message.startswith("sql database at postgresql+asyncpg://postgres:***@127.0.0.1:")
    assert "s3cret" not in message
    with pytest.raises(Exception, match="not connected"):
        database.engine  # noqa: B018


@pytest.mark.postgres
async def test_postgres_that_never_answers_fails_connect_in_bounded_time(
    postgres_url: str, silent_port: int
) -> None:
    url = make_url(postgres_url).set(port=silent_port)
    database = SQLDatabase(url=url.render_as_string(hide_password=False), connect_timeout=0.5)
    with anyio.fail_after(HANG_GUARD), pytest.raises(BackendConnectError) as raised:
        await database.connect()
    assert "could not connect" in str(raised.value)


@pytest.mark.postgres
async def test_postgres_missing_database_fails_connect(postgres_url: str) -> None:
    url = make_url(postgres_url).set(database=unique("missing"))
    database = SQLDatabase(url=url.render_as_string(hide_password=False))
    with anyio.fail_after(HANG_GUARD), pytest.raises(BackendConnectError, match="does not exist"):
        await database.connect()
