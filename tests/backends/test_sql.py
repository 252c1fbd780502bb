"""What SQLDatabase does beyond the shared contract: URLs, SQLite files, options, repr."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError

from spoc_asgi.backends.sql import SQLDatabase


async def test_the_default_is_a_sqlite_file_under_base_dir(tmp_path: Path) -> None:
    database = SQLDatabase(base_dir=tmp_path / "project")
    assert database.url.drivername == "sqlite+aiosqlite"
    assert database.url.database == str(tmp_path / "project" / "spoc.sqlite3")
    await database.connect()
    try:
        await database.execute("CREATE TABLE t (x INTEGER)")
    finally:
        await database.disconnect()
    assert (tmp_path / "project" / "spoc.sqlite3").is_file()


async def test_a_relative_sqlite_path_is_taken_from_base_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    base = tmp_path / "base"
    database = SQLDatabase(url="sqlite+aiosqlite:///data/nested/app.sqlite3", base_dir=base)
    await database.connect()  # creates the missing parent directories
    try:
        await database.execute("CREATE TABLE t (x INTEGER)")
    finally:
        await database.disconnect()
    assert (base / "data" / "nested" / "app.sqlite3").is_file()
    assert not (tmp_path / "data").exists()


async def test_sqlite_files_use_wal_and_enforce_foreign_keys(tmp_path: Path) -> None:
    database = SQLDatabase(base_dir=tmp_path)
    await database.connect()
    try:
        assert await database.fetch_one("PRAGMA journal_mode") == {"journal_mode": "wal"}
        await database.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
        await database.execute("CREATE TABLE child (parent_id INTEGER REFERENCES parent(id))")
        with pytest.raises(IntegrityError):
            await database.execute("INSERT INTO child (parent_id) VALUES (1)")
    finally:
        await database.disconnect()


async def test_sqlite_pragmas_can_be_replaced(tmp_path: Path) -> None:
    database = SQLDatabase(base_dir=tmp_path, sqlite_pragmas={"journal_mode": "DELETE"})
    await database.connect()
    try:
        assert await database.fetch_one("PRAGMA journal_mode") == {"journal_mode": "delete"}
        assert await database.fetch_one("PRAGMA foreign_keys") == {"foreign_keys": 0}
    finally:
        await database.disconnect()


async def test_an_in_memory_database_works() -> None:
    database = SQLDatabase(url="sqlite+aiosqlite://")
    await database.connect()
    try:
        await database.execute("CREATE TABLE t (x INTEGER)")
        await database.execute("INSERT INTO t VALUES (:x)", {"x": 1})
        assert await database.fetch_all("SELECT x FROM t") == [{"x": 1}]
    finally:
        await database.disconnect()


def test_repr_hides_the_password() -> None:
    database = SQLDatabase(url="postgresql+asyncpg://app:s3cret@db.example:5432/prod")
    assert repr(database) == "SQLDatabase(url='postgresql+asyncpg://app:***@db.example:5432/prod')"
    assert "s3cret" not in database.display_url


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"url": "not a url"}, "is not a usable SQLAlchemy URL"),
        ({"url": "nosuchdb+driver://u:s3cret@h/db"}, "is not a usable SQLAlchemy URL"),
        ({"url": "postgresql://u:s3cret@h/db"}, "uses the synchronous driver"),
        ({"url": 5432}, "url must be a string"),
        ({"url": "sqlite+aiosqlite://", "pool_size": 5}, "pool_size cannot be used with"),
        ({"pool_size": -1}, "pool_size must be an integer >= 0"),
        ({"max_overflow": -2}, "max_overflow must be an integer >= -1"),
        ({"pool_timeout": 0}, "pool_timeout must be a positive number"),
        ({"pool_recycle": "1h"}, "pool_recycle must be a positive number"),
        ({"connect_timeout": -1}, "connect_timeout must be a positive number"),
        ({"echo": "loud"}, "echo must be true, false or 'debug'"),
        ({"pool_pre_ping": "yes"}, "pool_pre_ping must be true or false"),
        ({"connect_args": ["timeout"]}, "connect_args must be a dict"),
        ({"sqlite_pragmas": {"journal_mode": "WAL; DROP TABLE x"}}, "is not a simple pragma"),
    ],
)
def test_bad_options_are_rejected_when_built(
    tmp_path: Path, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message) as raised:
        SQLDatabase(base_dir=tmp_path, **options)
    assert isinstance(raised.value, TypeError)  # the plugin loader reports it as spoc.E021
    assert "s3cret" not in str(raised.value)


def test_pool_options_are_accepted_for_a_pooled_url(tmp_path: Path) -> None:
    SQLDatabase(base_dir=tmp_path, pool_size=2, max_overflow=0, pool_timeout=5, pool_recycle=60)


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, "read committed"),
        ({"engine_options": {"isolation_level": "SERIALIZABLE"}}, "serializable"),
    ],
)
async def test_statements_run_at_the_configured_isolation_level(
    postgres_url: str, options: dict[str, Any], expected: str
) -> None:
    database = SQLDatabase(url=postgres_url, **options)
    await database.connect()
    try:
        for fetch in (database.fetch_one, database.fetch_all):
            rows = await fetch("SELECT current_setting('transaction_isolation') AS level")
            assert rows in ({"level": expected}, [{"level": expected}])
        async with database.transaction():
            row = await database.fetch_one("SELECT current_setting('transaction_isolation') AS l")
            assert row == {"l": expected}
    finally:
        await database.disconnect()
