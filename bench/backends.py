"""Measures ``cache`` and ``sql``: the built-in backends against what they wrap.

Like for like: each floor does the job the backend promises, in the least code.

* ``MemoryCache`` against floors over an ``OrderedDict`` of ``(value, expiry)`` doing
  the expiry check, the LRU move and the size bound (:class:`DictFloor`).
  ``MemoryCache`` keeps JSON scalars as they are (they cannot change) and containers
  as JSON text (a value read back is a copy), and refuses non-string keys and
  non-JSON values. So scalar values and ``incr`` are held to :class:`CheckedDictFloor`
  (the same promises, in the least code), a dict value to :class:`JsonDictFloor`
  (``json.dumps``/``json.loads``, the copy); both are also reported against the plain
  floor, for the price of those promises.
* ``RedisCache`` against raw ``redis.asyncio`` on the same kind of pool with the same
  options (timeouts, retry), sending the same commands with the same JSON work: GET +
  ``json.loads``, ``json.dumps`` + SET, and for ``incr`` with a ttl the same atomic
  INCRBY + first-expiry Lua script.
* ``SQLDatabase.fetch_one`` against raw SQLAlchemy Core on an engine with the same
  options (``pool_pre_ping`` on for both) running the statement the same way (in
  autocommit, as its own transaction); and, for information, against the usual Core
  call (``engine.connect()``: BEGIN ... ROLLBACK), raw asyncpg, and without pre-ping.

Every variant runs one operation at a time on one connection, interleaved.
Redis and PostgreSQL rows are skipped, with the reason, when the service is down.
"""

from __future__ import annotations

import asyncio
import functools
import json
import math
import os
import socket
import tempfile
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from time import monotonic
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
TEXT = "session 3f9c2a7e: user 42, role editor"  # a scalar value
TTL = 60.0

Operation = Callable[[], Awaitable[Any]]
# (subject, baseline, target or None for information, note)
Comparison = tuple[str, str, float | None, str]


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


def compare(
    loop: asyncio.AbstractEventLoop,
    measure: str,
    variants: Mapping[str, Operation],
    comparisons: Sequence[Comparison],
    n: int,
    rounds: int,
    clock: Callable[[], float] = wall_clock,
) -> list[Row]:
    """Interleave ``variants`` (name -> operation); one row per comparison."""
    batches = {name: loop_batch(loop, operation, clock) for name, operation in variants.items()}
    samples = interleave(batches, n, rounds)
    return [
        compared(measure, samples, subject, baseline, unit="ops/s", target=target, note=note)
        for subject, baseline, target, note in comparisons
    ]


class DictFloor:
    """The least work an in-process LRU + TTL cache with an async API does: an
    ``OrderedDict`` of ``(value, expiry)``, the expiry check, the LRU move and the size
    bound. Values are stored as they are; nothing is checked."""

    def __init__(self, max_size: int = 10_000) -> None:
        self.max_size = max_size
        self.entries: OrderedDict[str, tuple[Any, float | None]] = OrderedDict()

    async def get(self, key: str, default: Any = None) -> Any:
        entry = self.entries.get(key)
        if entry is None:
            return default
        value, expires_at = entry
        if expires_at is not None and expires_at <= monotonic():
            del self.entries[key]
            return default
        self.entries.move_to_end(key)
        return value

    async def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        entries = self.entries
        entries[key] = (value, None if ttl is None else monotonic() + ttl)
        entries.move_to_end(key)
        if len(entries) > self.max_size:
            entries.popitem(last=False)

    async def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        entries = self.entries
        entry = entries.get(key)
        if entry is not None and (entry[1] is None or entry[1] > monotonic()):
            total: int = entry[0] + amount
            entries[key] = (total, entry[1])
            entries.move_to_end(key)
            return total
        entries[key] = (amount, None if ttl is None else monotonic() + ttl)
        entries.move_to_end(key)
        if len(entries) > self.max_size:
            entries.popitem(last=False)
        return amount


SCALARS = frozenset({str, int, bool, type(None)})


class CheckedDictFloor(DictFloor):
    """:class:`DictFloor` keeping the promises ``MemoryCache`` makes for scalars, in the
    least code: keys must be strings and live under the cache's ``prefix`` (``""`` by
    default), values must be JSON scalars (a finite float, not NaN), and ``incr``
    counts only on an ``int``. A non-JSON value raises ``TypeError``, as ``MemoryCache``
    (and Redis) do, instead of being kept."""

    def __init__(self, max_size: int = 10_000, prefix: str = "") -> None:
        super().__init__(max_size)
        self.prefix = prefix

    async def get(self, key: str, default: Any = None) -> Any:
        if not isinstance(key, str):
            raise TypeError("cache keys must be strings")
        key = self.prefix + key
        entry = self.entries.get(key)
        if entry is None:
            return default
        value, expires_at = entry
        if expires_at is not None and expires_at <= monotonic():
            del self.entries[key]
            return default
        self.entries.move_to_end(key)
        return value

    async def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        if not isinstance(key, str):
            raise TypeError("cache keys must be strings")
        if type(value) not in SCALARS and not (type(value) is float and math.isfinite(value)):
            raise TypeError("this floor stores JSON scalars only")
        key = self.prefix + key
        entries = self.entries
        entries[key] = (value, None if ttl is None else monotonic() + ttl)
        entries.move_to_end(key)
        if len(entries) > self.max_size:
            entries.popitem(last=False)

    async def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        if not isinstance(key, str):
            raise TypeError("cache keys must be strings")
        if type(amount) is not int:
            raise TypeError("incr amount must be an integer")
        key = self.prefix + key
        entries = self.entries
        entry = entries.get(key)
        if entry is not None and (entry[1] is None or entry[1] > monotonic()):
            if type(entry[0]) is not int:
                raise ValueError("not an integer")
            total: int = entry[0] + amount
            entries[key] = (total, entry[1])
            entries.move_to_end(key)
            return total
        entries[key] = (amount, None if ttl is None else monotonic() + ttl)
        entries.move_to_end(key)
        if len(entries) > self.max_size:
            entries.popitem(last=False)
        return amount


class JsonDictFloor(DictFloor):
    """:class:`DictFloor` storing JSON text (``json.dumps``/``json.loads``, the stdlib
    defaults), so a value read back is a copy, as ``MemoryCache`` promises for
    containers. It does not refuse non-string keys inside a value, nor NaN."""

    async def get(self, key: str, default: Any = None) -> Any:
        entry = self.entries.get(key)
        if entry is None:
            return default
        value, expires_at = entry
        if expires_at is not None and expires_at <= monotonic():
            del self.entries[key]
            return default
        self.entries.move_to_end(key)
        return json.loads(value)

    async def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        entries = self.entries
        entries[key] = (json.dumps(value), None if ttl is None else monotonic() + ttl)
        entries.move_to_end(key)
        if len(entries) > self.max_size:
            entries.popitem(last=False)


def cache_operations(cache: Any) -> dict[str, Operation]:
    return {
        "get(dict)": functools.partial(cache.get, "bench:value"),
        "set(dict)": functools.partial(cache.set, "bench:value", VALUE),
        "get(str)": functools.partial(cache.get, "bench:text"),
        "set(str)": functools.partial(cache.set, "bench:text", TEXT),
        "incr(ttl)": functools.partial(cache.incr, "bench:counter", ttl=TTL),
    }


MEMORY = "MemoryCache"
DICT = "dict"
CHECKED = "dict+checks"
DICT_JSON = "dict+json"
SCALAR_NOTE = (
    "a JSON scalar is kept as is; floor = the same OrderedDict, keeping MemoryCache's promises"
)
MEMORY_ROWS: dict[str, list[tuple[str, float | None, str]]] = {
    # operation -> (baseline, target, note)
    "get(dict)": [
        (
            DICT_JSON,
            0.91,
            "a dict value comes back as a copy: floor = OrderedDict (expiry check, LRU "
            "move, size bound) + json.dumps/json.loads",
        ),
        (DICT, None, "the plain floor returns the stored object itself: the price of the copy"),
    ],
    "set(dict)": [(DICT_JSON, 0.91, ""), (DICT, None, "")],
    "get(str)": [
        (CHECKED, 0.91, SCALAR_NOTE + " (string keys under a prefix, JSON values, int counters)"),
        (DICT, None, "the plain floor checks nothing: the price of those checks"),
    ],
    "set(str)": [(CHECKED, 0.91, ""), (DICT, None, "")],
    "incr(ttl)": [(CHECKED, 0.91, ""), (DICT, None, "")],
}
FLOORS = {DICT: DictFloor, CHECKED: CheckedDictFloor, DICT_JSON: JsonDictFloor}


def measure_cache(settings: Settings) -> list[Row]:
    from spoc_asgi.backends.memory import MemoryCache

    rounds = settings.pick(11, 2)
    loop = new_loop()
    try:
        caches = {MEMORY: MemoryCache(max_size=10_000)}
        caches.update({name: floor(max_size=10_000) for name, floor in FLOORS.items()})
        operations = {name: cache_operations(cache) for name, cache in caches.items()}
        for name, cache in caches.items():
            if name != CHECKED:  # it stores scalars only
                loop.run_until_complete(cache.set("bench:value", VALUE))
            loop.run_until_complete(cache.set("bench:text", TEXT))
        rows: list[Row] = []
        for operation, baselines in MEMORY_ROWS.items():
            names = [MEMORY, *(baseline for baseline, _, _ in baselines)]
            rows += compare(
                loop,
                "cache",
                {f"{name}.{operation}": operations[name][operation] for name in names},
                [
                    (f"{MEMORY}.{operation}", f"{baseline}.{operation}", target, note)
                    for baseline, target, note in baselines
                ],
                settings.pick(50_000, 1_000),
                rounds,
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
    from redis.asyncio import ConnectionPool, Redis
    from redis.asyncio.retry import Retry
    from redis.backoff import ExponentialWithJitterBackoff

    from spoc_asgi.backends import redis as redis_backend

    prefix = "spoc-bench:"
    cache = redis_backend.RedisCache(url=REDIS_URL, prefix=prefix)
    # The pool RedisCache builds: the same class, timeouts and retry.
    raw = Redis.from_pool(
        ConnectionPool.from_url(
            REDIS_URL,
            socket_connect_timeout=cache.connect_timeout,
            socket_timeout=cache.socket_timeout,
            retry=Retry(ExponentialWithJitterBackoff(base=0.01, cap=0.5), cache.retries),
        )
    )
    # The very script RedisCache runs: INCRBY, then PEXPIRE only if the key has none.
    script = raw.register_script(redis_backend._INCR_SCRIPT)
    value_key, counter_key, px = prefix + "bench:value", prefix + "bench:counter", int(TTL * 1000)

    async def raw_get() -> Any:
        found = await raw.get(value_key)
        return None if found is None else json.loads(found)

    async def raw_set() -> None:
        await raw.set(value_key, json.dumps(VALUE))

    async def raw_incr() -> int:
        return int(await script(keys=[counter_key], args=[1, px]))

    raw_ops: dict[str, Operation] = {
        "get(dict)": raw_get,
        "set(dict)": raw_set,
        "incr(ttl)": raw_incr,
    }
    loop.run_until_complete(cache.connect())
    try:
        ops = cache_operations(cache)
        loop.run_until_complete(ops["set(dict)"]())
        rows: list[Row] = []
        for operation, raw_op in raw_ops.items():
            subject, baseline = f"RedisCache.{operation}", f"redis.asyncio.{operation}"
            note = (
                "same pool class and options (timeouts, retry), same JSON work; one call "
                "at a time; incr with ttl = the same Lua script"
                if not rows
                else ""
            )
            rows += compare(
                loop,
                "cache",
                {subject: ops[operation], baseline: raw_op},
                [(subject, baseline, 0.91, note)],
                settings.pick(500, 50),
                rounds,
            )
        return rows
    finally:
        loop.run_until_complete(raw.delete(value_key, counter_key))
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
    """Raw SQLAlchemy Core: ``conn.execute(text(...)).mappings().first()``, as a dict."""
    from sqlalchemy import text

    statement = text(QUERY)

    async def fetch() -> Any:
        async with engine.connect() as connection:
            row = (await connection.execute(statement, {"id": 42})).mappings().first()
            return None if row is None else dict(row)

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


PG = "SQLDatabase (postgres)"
PG_NO_PING = "SQLDatabase (postgres, no pre-ping)"
PG_CORE = "SQLAlchemy Core, autocommit"
PG_CORE_USUAL = "SQLAlchemy Core, connect()"
PG_CORE_NO_PING = "SQLAlchemy Core, connect(), no pre-ping"
ASYNCPG = "asyncpg"
PG_COMPARISONS: list[Comparison] = [
    (
        PG,
        PG_CORE,
        0.91,
        "the same job: an engine with SQLDatabase's options (pool_pre_ping=True, asyncpg "
        "timeout) and the statement as its own transaction (AUTOCOMMIT, as SQLDatabase "
        "runs one outside transaction())",
    ),
    (
        PG,
        PG_CORE_USUAL,
        None,
        "the usual Core call on that engine: engine.connect() + execute (BEGIN ... ROLLBACK)",
    ),
    (
        PG_NO_PING,
        PG,
        None,
        "what pool_pre_ping=True costs SQLDatabase (asyncpg pings in BEGIN/ROLLBACK)",
    ),
    (PG_CORE_NO_PING, PG_CORE_USUAL, None, "what pool_pre_ping=True costs raw Core"),
    (PG, ASYNCPG, None, "asyncpg pool.fetchrow(), the driver SQLAlchemy runs on"),
]


def postgres_rows(loop: asyncio.AbstractEventLoop, settings: Settings, rounds: int) -> list[Row]:
    if not reachable("127.0.0.1", 5432):
        reason = "PostgreSQL is not reachable at 127.0.0.1:5432"
        print(f"\n  sql: postgres rows skipped, {reason}", flush=True)
        return [skipped("sql", PG, PG_CORE, reason)]
    import asyncpg
    from sqlalchemy.ext.asyncio import create_async_engine

    from spoc_asgi.backends.sql import SQLDatabase

    database = SQLDatabase(url=POSTGRES_URL)
    unpinged = SQLDatabase(url=POSTGRES_URL, pool_pre_ping=False)
    # The options SQLDatabase gives its engine by default.
    engine = create_async_engine(
        POSTGRES_URL, pool_pre_ping=True, connect_args={"timeout": database.connect_timeout}
    )
    usual = create_async_engine(POSTGRES_URL, connect_args={"timeout": database.connect_timeout})
    dsn = POSTGRES_URL.replace("postgresql+asyncpg://", "postgresql://")
    loop.run_until_complete(create_table(engine))
    pool = loop.run_until_complete(asyncpg.create_pool(dsn, min_size=1, max_size=1))
    loop.run_until_complete(database.connect())
    loop.run_until_complete(unpinged.connect())
    asyncpg_query = QUERY.replace(":id", "$1")

    async def fetchrow() -> Any:
        row = await pool.fetchrow(asyncpg_query, 42)
        return None if row is None else dict(row)

    try:
        return compare(
            loop,
            "sql",
            {
                PG: spoc_fetch_one(database),
                PG_NO_PING: spoc_fetch_one(unpinged),
                PG_CORE: core_fetch_one(engine.execution_options(isolation_level="AUTOCOMMIT")),
                PG_CORE_USUAL: core_fetch_one(engine),
                PG_CORE_NO_PING: core_fetch_one(usual),
                ASYNCPG: fetchrow,
            },
            PG_COMPARISONS,
            settings.pick(300, 20),
            rounds,
        )
    finally:
        loop.run_until_complete(database.disconnect())
        loop.run_until_complete(unpinged.disconnect())
        loop.run_until_complete(pool.close())
        loop.run_until_complete(drop_table(engine))
        loop.run_until_complete(engine.dispose())
        loop.run_until_complete(usual.dispose())


LITE = "SQLDatabase (sqlite)"
LITE_NO_PING = "SQLDatabase (sqlite, no pre-ping)"
LITE_CORE = "SQLAlchemy Core (sqlite)"


def sqlite_rows(loop: asyncio.AbstractEventLoop, settings: Settings, rounds: int) -> list[Row]:
    from sqlalchemy import event
    from sqlalchemy.ext.asyncio import create_async_engine

    from spoc_asgi.backends.sql import DEFAULT_SQLITE_PRAGMAS, SQLDatabase

    with tempfile.TemporaryDirectory(prefix="spoc-bench-sqlite-") as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.sqlite3'}"
        database = SQLDatabase(url=url)
        unpinged = SQLDatabase(url=url, pool_pre_ping=False)
        engine = create_async_engine(url, pool_pre_ping=True)

        @event.listens_for(engine.sync_engine, "connect")
        def same_connection_set_up(dbapi_connection: Any, record: Any) -> None:
            # What SQLDatabase does on a new connection: the driver's autocommit mode
            # and the same pragmas.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            for name, value in DEFAULT_SQLITE_PRAGMAS.items():
                cursor.execute(f"PRAGMA {name}={value}")
            cursor.close()

        loop.run_until_complete(create_table(engine))
        loop.run_until_complete(database.connect())
        loop.run_until_complete(unpinged.connect())
        try:
            return compare(
                loop,
                "sql",
                {
                    LITE: spoc_fetch_one(database),
                    LITE_NO_PING: spoc_fetch_one(unpinged),
                    LITE_CORE: core_fetch_one(engine),
                },
                [
                    (
                        LITE,
                        LITE_CORE,
                        0.91,
                        "aiosqlite, a file; Core on an engine with the same options "
                        "(pool_pre_ping=True, same connection set-up)",
                    ),
                    (LITE_NO_PING, LITE, None, "what pool_pre_ping=True costs on SQLite"),
                ],
                settings.pick(300, 20),
                rounds,
            )
        finally:
            loop.run_until_complete(database.disconnect())
            loop.run_until_complete(unpinged.disconnect())
            loop.run_until_complete(engine.dispose())
