"""The SQLDatabase contract, run against a SQLite file and a real PostgreSQL alike."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import literal, select, text
from sqlalchemy.exc import IntegrityError

from spoc_asgi.backends.sql import SQLDatabase
from spoc_asgi.errors import BackendNotReadyError


class Boom(Exception):
    pass


async def insert(database: SQLDatabase, table: str, id: int, name: str, score: int = 0) -> int:
    return await database.execute(
        f"INSERT INTO {table} (id, name, score) VALUES (:id, :name, :score)",
        {"id": id, "name": name, "score": score},
    )


async def names(database: SQLDatabase, table: str) -> list[str]:
    rows = await database.fetch_all(f"SELECT name FROM {table} ORDER BY id")
    return [row["name"] for row in rows]


async def test_execute_returns_the_row_count(database: SQLDatabase, table: str) -> None:
    assert await insert(database, table, 1, "a", 10) == 1
    await insert(database, table, 2, "b", 20)
    await insert(database, table, 3, "c", 30)
    updated = await database.execute(
        f"UPDATE {table} SET score = score + :delta WHERE score >= :low",
        {"delta": 1, "low": 20},
    )
    assert updated == 2
    assert await database.execute(f"DELETE FROM {table} WHERE id = :id", {"id": 99}) == 0


async def test_execute_many_parameter_sets(database: SQLDatabase, table: str) -> None:
    await database.execute(
        f"INSERT INTO {table} (id, name) VALUES (:id, :name)",
        [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}, {"id": 3, "name": "c"}],
    )
    assert await names(database, table) == ["a", "b", "c"]


async def test_fetch_all_returns_dicts_in_order(database: SQLDatabase, table: str) -> None:
    await insert(database, table, 2, "b", 20)
    await insert(database, table, 1, "a", 10)
    rows = await database.fetch_all(f"SELECT id, name, score FROM {table} ORDER BY id")
    assert rows == [{"id": 1, "name": "a", "score": 10}, {"id": 2, "name": "b", "score": 20}]
    assert all(type(row) is dict for row in rows)
    assert await database.fetch_all(f"SELECT * FROM {table} WHERE id > :id", {"id": 5}) == []


async def test_fetch_one(database: SQLDatabase, table: str) -> None:
    await insert(database, table, 1, "a", 10)
    row = await database.fetch_one(f"SELECT name, score FROM {table} WHERE id = :id", {"id": 1})
    assert row == {"name": "a", "score": 10}
    assert type(row) is dict


async def test_fetch_one_of_nothing_is_none(database: SQLDatabase, table: str) -> None:
    assert await database.fetch_one(f"SELECT * FROM {table} WHERE id = :id", {"id": 1}) is None


async def test_named_parameters_of_every_kind(database: SQLDatabase, table: str) -> None:
    await database.execute(
        f"INSERT INTO {table} (id, name, score) VALUES (:id, :name, :score)",
        {"id": 7, "name": "it's; DROP TABLE x --", "score": None},
    )
    row = await database.fetch_one(
        f"SELECT id, name, score FROM {table} WHERE name = :name AND id = :id AND :id > 0",
        {"name": "it's; DROP TABLE x --", "id": 7},
    )
    assert row == {"id": 7, "name": "it's; DROP TABLE x --", "score": None}


async def test_statements_without_parameters(database: SQLDatabase) -> None:
    assert await database.fetch_one("SELECT 1 AS one") == {"one": 1}


async def test_sqlalchemy_statements_are_accepted(database: SQLDatabase) -> None:
    assert await database.fetch_one(select(literal(42).label("answer"))) == {"answer": 42}
    assert await database.fetch_all(text("SELECT :v AS v"), {"v": "x"}) == [{"v": "x"}]


async def test_each_statement_is_committed_on_its_own(database: SQLDatabase, table: str) -> None:
    await insert(database, table, 1, "a")
    async with database.engine.connect() as other:
        result = await other.execute(text(f"SELECT count(*) FROM {table}"))
        assert result.scalar_one() == 1


async def test_a_write_made_through_fetch_one_is_committed(
    database: SQLDatabase, table: str
) -> None:
    row = await database.fetch_one(
        f"INSERT INTO {table} (id, name) VALUES (:id, :name) RETURNING id, name",
        {"id": 1, "name": "returned"},
    )
    assert row == {"id": 1, "name": "returned"}
    async with database.engine.connect() as other:
        result = await other.execute(text(f"SELECT name FROM {table}"))
        assert result.scalars().all() == ["returned"]


async def test_a_list_of_parameter_sets_is_all_or_nothing(
    database: SQLDatabase, table: str
) -> None:
    with pytest.raises(IntegrityError):
        await database.execute(
            f"INSERT INTO {table} (id, name) VALUES (:id, :name)",
            [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}, {"id": 1, "name": "duplicate"}],
        )
    assert await names(database, table) == []


async def test_statements_outside_a_transaction_give_their_connection_back(
    database_url: str,
) -> None:
    # One connection in the pool: a statement that kept it (or left a transaction
    # open on it) would make the next checkout wait, then fail.
    database = SQLDatabase(url=database_url, pool_size=1, max_overflow=0, pool_timeout=2)
    await database.connect()
    try:
        for _ in range(3):
            assert await database.fetch_one("SELECT 1 AS one") == {"one": 1}
            assert await database.fetch_all("SELECT 2 AS two") == [{"two": 2}]
            await database.execute("SELECT 3")
        async with database.engine.connect() as connection:
            raw = await connection.get_raw_connection()
            driver = raw.driver_connection
            assert driver is not None
            in_transaction = getattr(driver, "in_transaction", None)  # aiosqlite
            if in_transaction is None:
                in_transaction = driver.is_in_transaction()  # asyncpg
            assert in_transaction is False
    finally:
        await database.disconnect()


async def test_a_transaction_commits(database: SQLDatabase, table: str) -> None:
    async with database.transaction():
        await insert(database, table, 1, "a")
        await insert(database, table, 2, "b")
    assert await names(database, table) == ["a", "b"]


async def test_a_transaction_rolls_back_on_error(database: SQLDatabase, table: str) -> None:
    await insert(database, table, 1, "before")
    with pytest.raises(Boom):
        async with database.transaction():
            await insert(database, table, 2, "inside")
            await database.execute(f"UPDATE {table} SET name = :n WHERE id = 1", {"n": "changed"})
            assert await names(database, table) == ["changed", "inside"]  # its own writes
            raise Boom
    assert await names(database, table) == ["before"]


async def test_a_failing_statement_rolls_back_the_transaction(
    database: SQLDatabase, table: str
) -> None:
    with pytest.raises(IntegrityError):
        async with database.transaction():
            await insert(database, table, 1, "a")
            await insert(database, table, 1, "duplicate id")
    assert await names(database, table) == []


async def test_other_connections_do_not_see_an_open_transaction(
    database: SQLDatabase, table: str
) -> None:
    # On SQLite a second transaction would wait for the first (BEGIN IMMEDIATE): read
    # on a connection without one, as single statements do.
    engine = database._single if database.is_sqlite else database.engine
    assert engine is not None
    async with database.transaction():
        await insert(database, table, 1, "uncommitted")
        async with engine.connect() as other:
            result = await other.execute(text(f"SELECT count(*) FROM {table}"))
            assert result.scalar_one() == 0
    assert await names(database, table) == ["uncommitted"]


async def test_a_nested_transaction_is_a_savepoint(database: SQLDatabase, table: str) -> None:
    async with database.transaction():
        await insert(database, table, 1, "outer")
        with pytest.raises(Boom):
            async with database.transaction():
                await insert(database, table, 2, "inner")
                raise Boom
        await insert(database, table, 3, "outer again")
    assert await names(database, table) == ["outer", "outer again"]


async def test_the_transaction_yields_its_connection(database: SQLDatabase, table: str) -> None:
    async with database.transaction() as connection:
        await connection.execute(
            text(f"INSERT INTO {table} (id, name) VALUES (:id, :name)"), {"id": 1, "name": "raw"}
        )
        assert await names(database, table) == ["raw"]


async def test_transactions_in_concurrent_tasks_stay_apart(
    database: SQLDatabase, table: str
) -> None:
    async def write(id: int, fail: bool) -> None:
        async with database.transaction():
            await insert(database, table, id, f"task {id}")
            await asyncio.sleep(0.01)  # let the other task run inside its own transaction
            if fail:
                raise Boom

    results = await asyncio.gather(write(1, False), write(2, True), return_exceptions=True)
    assert isinstance(results[1], Boom)
    assert await names(database, table) == ["task 1"]


async def test_concurrent_writes_all_land(database: SQLDatabase, table: str) -> None:
    await asyncio.gather(*(insert(database, table, i, f"n{i}") for i in range(20)))
    row = await database.fetch_one(f"SELECT count(*) AS n FROM {table}")
    assert row == {"n": 20}


async def test_session_commits(database: SQLDatabase, table: str) -> None:
    async with database.session() as session:
        await session.execute(
            text(f"INSERT INTO {table} (id, name) VALUES (:id, :name)"), {"id": 1, "name": "orm"}
        )
        await session.commit()
    assert await names(database, table) == ["orm"]


async def test_a_session_inside_a_transaction_joins_it(database: SQLDatabase, table: str) -> None:
    with pytest.raises(Boom):
        async with database.transaction():
            async with database.session() as session:
                await session.execute(text(f"INSERT INTO {table} (id, name) VALUES (1, 'joined')"))
                await session.commit()  # commits the savepoint, not the transaction
            assert await names(database, table) == ["joined"]
            raise Boom
    assert await names(database, table) == []


async def test_ping(database: SQLDatabase) -> None:
    assert await database.ping() is True


async def test_disconnect_closes_the_engine(database_url: str) -> None:
    database = SQLDatabase(url=database_url)
    await database.connect()
    assert await database.fetch_one("SELECT 1 AS one") == {"one": 1}
    await database.disconnect()
    with pytest.raises(BackendNotReadyError, match="not connected"):
        database.engine  # noqa: B018
    with pytest.raises(BackendNotReadyError):
        await database.fetch_one("SELECT 1")
    await database.disconnect()  # twice is harmless


async def test_using_it_before_connect_is_a_clear_error(database_url: str) -> None:
    database = SQLDatabase(url=database_url)
    with pytest.raises(BackendNotReadyError, match="lifespan"):
        await database.execute("SELECT 1")
    with pytest.raises(BackendNotReadyError):
        database.session()
    with pytest.raises(BackendNotReadyError):
        async with database.transaction():
            pass
