"""What the four peers apps share: the behaviour, the data, and the backends.

Every app is the same service written the way its framework teaches:

* five middleware, outermost first: ``Server`` (a ``server`` header), ``Timing`` (a
  ``server-timing`` header), a request-id tag (``request.state.request_id``, from
  ``x-request-id`` or a new one), an API-key check (401 without ``x-api-key``) and
  ``NoSniff`` (``x-content-type-options: nosniff``); the tag and the check are the two
  request functions of the spoc_asgi app;
* ``GET /items/{id}``: JSON of one row, read through the cache, the database on a miss
  (then cached for ``TTL`` seconds);
* a startup hook that creates and fills the table.

The backends are spoc_asgi's own classes in all four apps (``SQLDatabase``,
``MemoryCache``, ``RedisCache``), built from the same environment variables, so the
apps differ only in the framework and its wiring. ``PEERS_BACKENDS`` is ``sqlite``
(SQLite file + memory cache) or ``postgres`` (PostgreSQL + Redis); the table name and
the cache prefix are unique per server (``PEERS_TABLE``, ``PEERS_PREFIX``), as the
servers are shared.
"""

from __future__ import annotations

import os
import time
import uuid
from typing import Any

from spoc_asgi.backends.memory import MemoryCache
from spoc_asgi.backends.redis import RedisCache
from spoc_asgi.backends.sql import SQLDatabase

API_KEY = "peers-key"
ROWS = 1_000
TTL = 5.0
SERVER = (b"server", b"peers")
NOSNIFF = (b"x-content-type-options", b"nosniff")


def setting(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def table() -> str:
    name = setting("PEERS_TABLE", "peers_items")
    if not name.replace("_", "").isalnum():
        raise ValueError(f"PEERS_TABLE must be a plain identifier, not {name!r}")
    return name


def uses_postgres() -> bool:
    return setting("PEERS_BACKENDS", "sqlite") == "postgres"


def database_options() -> dict[str, Any]:
    if uses_postgres():
        return {
            "url": setting("PEERS_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1/test")
        }
    return {"url": f"sqlite+aiosqlite:///{setting('PEERS_SQLITE', 'peers.sqlite3')}"}


def cache_options() -> dict[str, Any]:
    if uses_postgres():
        return {
            "url": setting("PEERS_REDIS_URL", "redis://127.0.0.1:6379/15"),
            "prefix": setting("PEERS_PREFIX", "peers:"),
        }
    return {"max_size": 10_000}


def cache_class() -> type[Any]:
    return RedisCache if uses_postgres() else MemoryCache


def make_backends() -> tuple[SQLDatabase, Any]:
    """The database and the cache, built as spoc_asgi builds them from its config."""
    return SQLDatabase(**database_options()), cache_class()(**cache_options())


def select_sql() -> str:
    return f"SELECT id, name, price FROM {table()} WHERE id = :id"


async def seed(database: Any) -> None:
    """The startup hook's work: a fresh table of ``ROWS`` items."""
    name = table()
    await database.execute(f"DROP TABLE IF EXISTS {name}")
    await database.execute(
        f"CREATE TABLE {name} (id INTEGER PRIMARY KEY, name VARCHAR(100), price INTEGER)"
    )
    rows = [{"id": i, "name": f"item {i}", "price": i * 10} for i in range(1, ROWS + 1)]
    await database.execute(
        f"INSERT INTO {name} (id, name, price) VALUES (:id, :name, :price)", rows
    )


async def drop(database: Any) -> None:
    await database.execute(f"DROP TABLE IF EXISTS {table()}")


async def load_item(cache: Any, database: Any, item_id: int, sql: str) -> dict[str, Any] | None:
    """Through the cache, the database on a miss."""
    key = f"item:{item_id}"
    item = await cache.get(key)
    if item is None:
        item = await database.fetch_one(sql, {"id": item_id})
        if item is not None:
            await cache.set(key, item, ttl=TTL)
    return item


def new_request_id() -> str:
    return uuid.uuid4().hex


def timing_header(began: float) -> tuple[bytes, bytes]:
    return (b"server-timing", f"app;dur={(time.perf_counter() - began) * 1000:.3f}".encode())
