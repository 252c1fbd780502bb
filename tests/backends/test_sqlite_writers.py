"""Concurrent read-then-write transactions on the default SQLite file (docs/backends.md)."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from spoc_asgi.backends._shared import InvalidOption
from spoc_asgi.backends.sql import SQLDatabase

WRITERS = 200


async def _read_then_write(database: SQLDatabase) -> tuple[int, list[str]]:
    """WRITERS tasks at once, each: BEGIN; SELECT count; INSERT; COMMIT."""
    await database.execute("CREATE TABLE visits (n INTEGER NOT NULL)")
    failures: list[str] = []

    async def writer() -> None:
        try:
            async with database.transaction() as connection:
                seen = await connection.exec_driver_sql("SELECT count(*) FROM visits")
                (count,) = seen.one()
                await connection.exec_driver_sql(f"INSERT INTO visits (n) VALUES ({count})")
        except Exception as exc:
            failures.append(type(exc).__name__ + ": " + str(exc).splitlines()[0])

    async with anyio.create_task_group() as tg:
        for _ in range(WRITERS):
            tg.start_soon(writer)
    row = await database.fetch_one("SELECT count(*) AS n FROM visits")
    assert row is not None
    return int(row["n"]), failures


async def test_concurrent_read_then_write_transactions_all_commit(tmp_path: Path) -> None:
    database = SQLDatabase(base_dir=tmp_path)  # the default: <base_dir>/spoc.sqlite3
    await database.connect()
    try:
        rows, failures = await _read_then_write(database)
    finally:
        await database.disconnect()
    assert failures == []
    assert rows == WRITERS
    # Serialised writers: each saw every row committed before it.
    values = await _values(tmp_path)
    assert values == list(range(WRITERS))


async def test_deferred_transactions_fail_under_the_same_load(tmp_path: Path) -> None:
    """What IMMEDIATE avoids: with SQLite's own DEFERRED BEGIN, writers collide."""
    database = SQLDatabase(base_dir=tmp_path, transaction_mode="deferred")
    await database.connect()
    try:
        rows, failures = await _read_then_write(database)
    finally:
        await database.disconnect()
    assert failures, "deferred transactions all committed: the test no longer shows the problem"
    assert all("database is locked" in failure for failure in failures), failures[:3]
    assert rows == WRITERS - len(failures)


async def _values(base_dir: Path) -> list[int]:
    database = SQLDatabase(base_dir=base_dir)
    await database.connect()
    try:
        rows = await database.fetch_all("SELECT n FROM visits ORDER BY n")
    finally:
        await database.disconnect()
    return [row["n"] for row in rows]


@pytest.mark.parametrize("mode", ["immediate", "DEFERRED", "exclusive"])
async def test_transaction_mode_is_the_begin_statement(tmp_path: Path, mode: str) -> None:
    database = SQLDatabase(url="sqlite+aiosqlite://", transaction_mode=mode)
    await database.connect()
    try:
        async with database.transaction() as connection:
            raw = await connection.get_raw_connection()
            assert raw.driver_connection is not None
            assert raw.driver_connection.in_transaction
    finally:
        await database.disconnect()
    assert database._begin == f"BEGIN {mode.upper()}"


@pytest.mark.parametrize("mode", ["serializable", 1, ""])
def test_unknown_transaction_mode_is_refused(mode: object) -> None:
    with pytest.raises(InvalidOption, match="transaction_mode must be one of"):
        SQLDatabase(url="sqlite+aiosqlite://", transaction_mode=mode)  # type: ignore[arg-type]


def test_transaction_mode_is_refused_outside_sqlite() -> None:
    with pytest.raises(InvalidOption, match="applies to SQLite only"):
        SQLDatabase(url="postgresql+asyncpg://u@127.0.0.1/test", transaction_mode="immediate")
