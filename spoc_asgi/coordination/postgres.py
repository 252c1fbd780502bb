"""Coordination on PostgreSQL: session advisory locks on a dedicated connection.

Each session is one asyncpg connection of its own, outside any pool, so a lock
lives exactly as long as that connection: when the holder dies (even SIGKILL)
its socket closes, the server ends the backend and the lock is free at once.
The connection is watched (a ``SELECT 1`` every third of the lease): if it stops
answering, the holder treats the lock as lost. TCP keepalives, set for the
session from ``lease_seconds``, make the server notice a vanished host too.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import AbstractContextManager as ContextManager
from contextlib import asynccontextmanager
from typing import Any

import anyio

from spoc_asgi.coordination.base import Record
from spoc_asgi.redaction import redact_text

TABLE = "spoc_once"
_CREATE_TABLE = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    name text PRIMARY KEY,
    record text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
)
"""
_UPSERT = f"""
INSERT INTO {TABLE} (name, record) VALUES ($1, $2)
ON CONFLICT (name) DO UPDATE SET record = EXCLUDED.record, updated_at = now()
"""


def lock_id(name: str) -> int:
    """A lock name as the signed 64-bit key ``pg_advisory_lock`` takes."""
    digest = hashlib.sha256(f"spoc_asgi:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


_TABLE_LOCK = lock_id(f"table:{TABLE}")


class PostgresCoordinator:
    kind = "postgres"
    spans_hosts = True

    def __init__(self, dsn: str, lease_seconds: float, connect_timeout: float = 10.0) -> None:
        self.dsn = dsn
        self.lease_seconds = lease_seconds
        self.connect_timeout = connect_timeout
        # The server frees a lock as soon as it sees the connection close: polling often
        # is what bounds a takeover.
        self.poll_seconds = min(0.25, lease_seconds / 4)

    def describe(self) -> str:
        return f"postgres advisory locks at {redact_text(self.dsn)}"

    @asynccontextmanager
    async def session(self) -> AsyncIterator[PostgresSession]:
        import asyncpg  # type: ignore[import-untyped,unused-ignore]  # the [postgres] extra; checked when the coordinator is chosen

        idle = max(1, int(self.lease_seconds / 2))
        interval = max(1, int(self.lease_seconds / 4))
        with anyio.fail_after(self.connect_timeout):
            connection = await asyncpg.connect(
                self.dsn,
                timeout=self.connect_timeout,
                statement_cache_size=0,
                server_settings={
                    "application_name": "spoc_asgi coordination",
                    "tcp_keepalives_idle": str(idle),
                    "tcp_keepalives_interval": str(interval),
                    "tcp_keepalives_count": "2",
                },
            )
        try:
            yield PostgresSession(connection, self.lease_seconds)
        finally:
            with anyio.CancelScope(shield=True), anyio.move_on_after(self.connect_timeout):
                await connection.close()
            connection.terminate()  # a no-op once closed; frees it if close() overran


class PostgresSession:
    def __init__(self, connection: Any, lease_seconds: float) -> None:
        self.connection = connection
        self.lease_seconds = lease_seconds
        self._table_ready = False

    def _bounded(self) -> ContextManager[anyio.CancelScope]:
        """For the watch's ping: it must fail in time to stop the work."""
        return anyio.fail_after(max(self.lease_seconds / 3, 0.5))

    def _patient(self) -> ContextManager[anyio.CancelScope]:
        """For everything else, where only the caller's own wait is at stake."""
        return anyio.fail_after(max(self.lease_seconds, 5.0))

    async def try_lock(self, name: str) -> bool:
        with self._patient():
            taken = await self.connection.fetchval("SELECT pg_try_advisory_lock($1)", lock_id(name))
        return bool(taken)

    async def unlock(self, name: str) -> None:
        if self.connection.is_closed():
            return  # the lock went with the connection
        with self._patient():
            await self.connection.fetchval("SELECT pg_advisory_unlock($1)", lock_id(name))

    async def watch(self, name: str) -> str:
        closed = anyio.Event()

        def on_termination(_connection: Any) -> None:
            closed.set()

        self.connection.add_termination_listener(on_termination)
        try:
            while True:
                with anyio.move_on_after(self.lease_seconds / 3):
                    await closed.wait()
                if closed.is_set() or self.connection.is_closed():
                    return "the PostgreSQL connection holding the lock closed"
                try:
                    with self._bounded():
                        await self.connection.fetchval("SELECT 1")
                except Exception as exc:
                    return f"the PostgreSQL lock connection failed: {type(exc).__name__}"
        finally:
            self.connection.remove_termination_listener(on_termination)

    async def read(self, name: str) -> Record | None:
        import asyncpg  # type: ignore[import-untyped,unused-ignore]

        try:
            with self._patient():
                text = await self.connection.fetchval(
                    f"SELECT record FROM {TABLE} WHERE name = $1", name
                )
        except asyncpg.UndefinedTableError:
            return None  # nothing has ever completed here
        return Record.from_json(text) if text is not None else None

    async def write(self, name: str, record: Record) -> None:
        with self._patient():
            if not self._table_ready:
                # Two first writers of different hooks must not both create the table.
                async with self.connection.transaction():
                    await self.connection.execute("SELECT pg_advisory_xact_lock($1)", _TABLE_LOCK)
                    await self.connection.execute(_CREATE_TABLE)
                self._table_ready = True
            await self.connection.execute(_UPSERT, name, record.to_json())
