"""Concurrent read-then-write transactions: the default SQLite file against PostgreSQL.

Each batch starts ``n`` tasks at once, each ``async with db.transaction(): SELECT
count(*); INSERT`` on its own connection from the pool, and waits for all of them.
On SQLite they begin IMMEDIATE (the default ``transaction_mode``), so they queue for
the write lock; PostgreSQL runs them side by side. Every transaction must commit: a
failure fails the measure. See docs/backends.md, "Concurrent writers on SQLite".
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from typing import Any

from bench.backends import POSTGRES_URL, reachable
from bench.harness import (
    Row,
    Settings,
    close_loop,
    compared,
    interleave,
    new_loop,
    skipped,
    wall_clock,
)

MEASURE = "sqlite_writers"
SQLITE = "SQLite file, BEGIN IMMEDIATE"
POSTGRES = "PostgreSQL, same work"


def writers_batch(loop: asyncio.AbstractEventLoop, database: Any, table: str) -> Any:
    async def one() -> None:
        async with database.transaction() as connection:
            seen = await connection.exec_driver_sql(f"SELECT count(*) FROM {table}")
            (count,) = seen.one()
            await connection.exec_driver_sql(f"INSERT INTO {table} (n) VALUES ({int(count)})")

    async def run(n: int) -> None:
        results = await asyncio.gather(*(one() for _ in range(n)), return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            raise RuntimeError(f"{len(failures)} of {n} transactions failed: {failures[0]!r}")

    def batch(n: int) -> float:
        began = wall_clock()
        loop.run_until_complete(run(n))
        return wall_clock() - began

    return batch


def measure_writers(settings: Settings) -> list[Row]:
    from spoc_asgi.backends.sql import SQLDatabase

    if not reachable("127.0.0.1", 5432):
        reason = "PostgreSQL is not reachable at 127.0.0.1:5432"
        return [skipped(MEASURE, SQLITE, POSTGRES, reason)]
    n = settings.pick(200, 20)
    rounds = settings.pick(7, 2)
    table = f"spoc_bench_writers_{os.getpid()}"
    loop = new_loop()
    with tempfile.TemporaryDirectory(prefix="spoc-bench-") as tmp:
        sqlite = SQLDatabase(base_dir=tmp)  # the default: <base_dir>/spoc.sqlite3
        postgres = SQLDatabase(url=POSTGRES_URL)
        databases = {SQLITE: sqlite, POSTGRES: postgres}
        try:
            for database in databases.values():
                loop.run_until_complete(database.connect())
                loop.run_until_complete(
                    database.execute(f"CREATE TABLE {table} (n INTEGER NOT NULL)")
                )
            batches = {name: writers_batch(loop, db, table) for name, db in databases.items()}
            samples = interleave(batches, n, rounds)
        finally:
            for name, database in databases.items():
                if name == POSTGRES:
                    loop.run_until_complete(database.execute(f"DROP TABLE IF EXISTS {table}"))
                loop.run_until_complete(database.disconnect())
            close_loop(loop)
    note = (
        f"{n} concurrent transactions per batch, all committed; SQLite serialises them "
        f"(write lock at BEGIN), PostgreSQL runs them on its pool in parallel"
    )
    return [compared(MEASURE, samples, SQLITE, POSTGRES, unit="tx/s", target=None, note=note)]
