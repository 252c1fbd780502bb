"""Measures ``cache`` and ``sql``: the built-in backends against what they wrap.

* ``MemoryCache`` against :class:`DictFloor`, the least an in-process LRU + TTL cache
  with an async API must do (an ``OrderedDict`` of ``(value, expiry)``, the expiry
  check, the LRU move and the size bound). The floor stores values as they are;
  ``MemoryCache`` stores JSON text (SPEC: values round-trip as JSON, reads are
  copies), so a second floor adds exactly that ``json.dumps``/``json.loads``.
* ``RedisCache`` against raw ``redis.asyncio`` sending the same commands: GET, SET,
  and for ``incr`` with a ttl the same atomic INCRBY + first-expiry Lua script.
* ``SQLDatabase.fetch_one`` against raw SQLAlchemy Core and raw asyncpg (PostgreSQL),
  and raw SQLAlchemy Core on SQLite (aiosqlite).

Every variant runs one operation at a time on one connection, interleaved.
Redis and PostgreSQL rows are skipped, with the reason, when the service is down.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import socket
import tempfile
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from bench.harness import (
    Batch,
    Row,
    Settings,
    close_loop,
    compared,
    cpu_clock,
    interleave,
    new_loop,
    skipped,
    wall_clock,
)

REDIS_URL = os.environ.get("SPOC_BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
POSTGRES_URL = os.environ.get(
    "SPOC_BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
VALUE: dict[str, Any] = {"id": 42, "name": "Ada Lovelace", "tags": ["math", "engines"]}
TTL = 60.0

Operation = Callable[[], Awaitable[Any]]


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def loop_batch(
    loop: asyncio.AbstractEventLoop, operation: Operation, clock: Callable[[], float] = wall_clock
) -> Batch:
    async def run(n: int) -> None:
        for _ in range(n):
            await operation()

    def batch(n: int) -> float:
        began = clock()
        loop.run_until_complete(run(n))
        return clock() - began

    return batch


class DictFloor:
    """The least work an in-process LRU + TTL cache with an async API does.

    With ``json=True`` values are stored as JSON text, as ``MemoryCache`` stores them.
    """

    def __init__(self, max_size: int = 10_000, json: bool = False) -> None:
        self.max_size = max_size
        self.json = json
        self.entries: OrderedDict[str, tuple[Any, float | None]] = OrderedDict()

    async def get(self, key: str, default: Any = None) -> Any:
        entry = self.entries.get(key)
        if entry is None:
            return default
        value, expires_at = entry
        if expires_at is not None and expires_at <= time.monotonic():
            del self.entries[key]
            return default
        self.entries.move_to_end(key)
        return json.loads(value) if self.json else value

    async def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        stored = json.dumps(value) if self.json else value
        self.entries[key] = (stored, None if ttl is None else time.monotonic() + ttl)
        self.entries.move_to_end(key)
        if len(self.entries) > self.max_size:
            self.entries.popitem(last=False)

    async def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        current = await self.get(key)
        if current is None:
            await self.set(key, amount, ttl)
            return amount
        total: int = current + amount
        stored = json.dumps(total) if self.json else total
        self.entries[key] = (stored, self.entries[key][1])
        return total


def cache_operations(cache: Any) -> dict[str, Operation]:
    return {
        "get": functools.partial(cache.get, "bench:value"),
        "set": functools.partial(cache.set, "bench:value", VALUE),
        "incr": functools.partial(cache.incr, "bench:counter", ttl=TTL),
    }


def compare_operations(
    loop: asyncio.AbstractEventLoop,
    measure: str,
    variants: Mapping[str, dict[str, Operation]],
    targets: Mapping[str, float | None],
    n: int,
    rounds: int,
    notes: Mapping[str, str] | None = None,
    clock: Callable[[], float] = wall_clock,
) -> list[Row]:
    """Interleave ``variants`` (name -> op name -> operation), one comparison per op.

    The first variant is the subject; each other variant is a baseline, with its target.
    """
    subject, *baselines = variants
    first = next(iter(variants[subject]))
    rows = []
    for operation in variants[subject]:
        names = {f"{name}.{operation}": ops[operation] for name, ops in variants.items()}
        samples = interleave({name: loop_batch(loop, op) for name, op in names.items()}, n, rounds)
        for baseline in baselines:
            rows.append(
                compared(
                    measure,
                    samples,
                    f"{subject}.{operation}",
                    f"{baseline}.{operation}",
                    unit="ops/s",
                    target=targets[baseline],
                    note=(notes or {}).get(baseline, "") if operation == first else "",
                )
            )
    return rows


MEMORY_NOTES = {
    "dict": "floor: async methods on an OrderedDict of (value, expiry): expiry check, "
    "LRU move, size bound; values stored as is (no JSON)",
    "dict+json": "the same floor storing JSON text (json.dumps/json.loads), as MemoryCache does",
}


def measure_cache(settings: Settings) -> list[Row]:
    from spoc_asgi.backends.memory import MemoryCache

    rounds = settings.pick(11, 2)
    loop = new_loop()
    try:
        memory = MemoryCache(max_size=10_000)
        floor, floor_json = DictFloor(), DictFloor(json=True)
        for cache in (memory, floor, floor_json):
            loop.run_until_complete(cache.set("bench:value", VALUE))
        rows = compare_operations(
            loop,
            "cache",
            {
                "MemoryCache": cache_operations(memory),
                "dict": cache_operations(floor),
                "dict+json": cache_operations(floor_json),
            },
            {"dict": 0.91, "dict+json": None},
            settings.pick(10_000, 1_000),
            rounds,
            MEMORY_NOTES,
            clock=cpu_clock,  # in process, no I/O
        )
        rows += redis_rows(loop, settings, rounds)
    finally:
        close_loop(loop)
    return rows


def redis_rows(loop: asyncio.AbstractEventLoop, settings: Settings, rounds: int) -> list[Row]:
    if not reachable("127.0.0.1", 6379):
        reason = "Redis is not reachable at 127.0.0.1:6379"
        print(f"\n  cache: redis rows skipped, {reason}", flush=True)
        return [skipped("cache", "RedisCache", "redis.asyncio", reason)]
    from redis.asyncio import Redis

    from spoc_asgi.backends import redis as redis_backend

    prefix = "spoc-bench:"
    cache = redis_backend.RedisCache(url=REDIS_URL, prefix=prefix)
    raw = Redis.from_url(REDIS_URL)
    # The very script RedisCache runs: INCRBY, then PEXPIRE only if the key has none.
    script = raw.register_script(redis_backend._INCR_SCRIPT)
    text = json.dumps(VALUE)
    px = int(TTL * 1000)
    raw_ops: dict[str, Operation] = {
        "get": functools.partial(raw.get, prefix + "bench:value"),
        "set": functools.partial(raw.set, prefix + "bench:value", text),
        "incr": functools.partial(script, keys=[prefix + "bench:counter"], args=[1, px]),
    }
    loop.run_until_complete(cache.connect())
    try:
        return compare_operations(
            loop,
            "cache",
            {"RedisCache": cache_operations(cache), "redis.asyncio": raw_ops},
            {"redis.asyncio": 0.91},
            settings.pick(500, 50),
            rounds,
            {"redis.asyncio": "one connection, sequential; incr with ttl = the same Lua script"},
        )
    finally:
        loop.run_until_complete(raw.delete(prefix + "bench:value", prefix + "bench:counter"))
        loop.run_until_complete(raw.aclose())
        loop.run_until_complete(cache.disconnect())


# -- SQL ------------------------------------------------------------------------------------

TABLE = "spoc_bench_items"
QUERY = f"SELECT id, name, score FROM {TABLE} WHERE id = :id"
ROWS = 100


async def create_table(engine: Any) -> None:
    from sqlalchemy import text

    async with engine.begin() as connection:
        await connection.execute(text(f"DROP TABLE IF EXISTS {TABLE}"))
        await connection.execute(
            text(f"CREATE TABLE {TABLE} (id integer PRIMARY KEY, name text, score integer)")
        )
        await connection.execute(
            text(f"INSERT INTO {TABLE} (id, name, score) VALUES (:id, :name, :score)"),
            [{"id": i, "name": f"item {i}", "score": i * 7} for i in range(ROWS)],
        )


async def drop_table(engine: Any) -> None:
    from sqlalchemy import text

    async with engine.begin() as connection:
        await connection.execute(text(f"DROP TABLE IF EXISTS {TABLE}"))


def core_fetch_one(engine: Any) -> Operation:
    """Raw SQLAlchemy Core: ``conn.execute(text(...)).mappings().first()``."""
    from sqlalchemy import text

    statement = text(QUERY)

    async def fetch() -> Any:
        async with engine.connect() as connection:
            return (await connection.execute(statement, {"id": 42})).mappings().first()

    return fetch


def spoc_fetch_one(database: Any) -> Operation:
    return functools.partial(database.fetch_one, QUERY, {"id": 42})


def measure_sql(settings: Settings) -> list[Row]:
    rounds = settings.pick(9, 2)
    loop = new_loop()
    try:
        rows = postgres_rows(loop, settings, rounds)
        rows += sqlite_rows(loop, settings, rounds)
    finally:
        close_loop(loop)
    return rows


SQL_NOTES = {
    "SQLAlchemy Core": "default engine; engine.connect() + execute(text(...)).mappings().first()",
    "asyncpg": "asyncpg pool.fetchrow(), the driver SQLAlchemy runs on",
}


def postgres_rows(loop: asyncio.AbstractEventLoop, settings: Settings, rounds: int) -> list[Row]:
    if not reachable("127.0.0.1", 5432):
        reason = "PostgreSQL is not reachable at 127.0.0.1:5432"
        print(f"\n  sql: postgres rows skipped, {reason}", flush=True)
        return [skipped("sql", "SQLDatabase (postgres)", "SQLAlchemy Core", reason)]
    import asyncpg
    from sqlalchemy.ext.asyncio import create_async_engine

    from spoc_asgi.backends.sql import SQLDatabase

    database = SQLDatabase(url=POSTGRES_URL)
    engine = create_async_engine(POSTGRES_URL)
    dsn = POSTGRES_URL.replace("postgresql+asyncpg://", "postgresql://")
    loop.run_until_complete(create_table(engine))
    pool = loop.run_until_complete(asyncpg.create_pool(dsn, min_size=1, max_size=1))
    loop.run_until_complete(database.connect())
    asyncpg_query = QUERY.replace(":id", "$1")
    try:
        return compare_operations(
            loop,
            "sql",
            {
                "SQLDatabase (postgres)": {"fetch_one": spoc_fetch_one(database)},
                "SQLAlchemy Core": {"fetch_one": core_fetch_one(engine)},
                "asyncpg": {"fetch_one": functools.partial(pool.fetchrow, asyncpg_query, 42)},
            },
            {"SQLAlchemy Core": 0.91, "asyncpg": None},
            settings.pick(400, 20),
            rounds,
            SQL_NOTES,
        )
    finally:
        loop.run_until_complete(database.disconnect())
        loop.run_until_complete(pool.close())
        loop.run_until_complete(drop_table(engine))
        loop.run_until_complete(engine.dispose())


def sqlite_rows(loop: asyncio.AbstractEventLoop, settings: Settings, rounds: int) -> list[Row]:
    from sqlalchemy.ext.asyncio import create_async_engine

    from spoc_asgi.backends.sql import SQLDatabase

    with tempfile.TemporaryDirectory(prefix="spoc-bench-sqlite-") as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.sqlite3'}"
        database = SQLDatabase(url=url)
        engine = create_async_engine(url)
        loop.run_until_complete(create_table(engine))
        loop.run_until_complete(database.connect())
        try:
            return compare_operations(
                loop,
                "sql",
                {
                    "SQLDatabase (sqlite)": {"fetch_one": spoc_fetch_one(database)},
                    "SQLAlchemy Core (sqlite)": {"fetch_one": core_fetch_one(engine)},
                },
                {"SQLAlchemy Core (sqlite)": 0.91},
                settings.pick(400, 20),
                rounds,
            )
        finally:
            loop.run_until_complete(database.disconnect())
            loop.run_until_complete(engine.dispose())
