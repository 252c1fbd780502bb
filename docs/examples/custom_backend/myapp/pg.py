"""A database backend of your own: an asyncpg connection pool."""

from typing import Any

import asyncpg


class PostgresPool:
    name = "pg"  # the short name options are configured under

    def __init__(self, *, dsn: str, min_size: int = 1, max_size: int = 10) -> None:
        # Called when the app is built: check options here, connect nothing yet.
        if min_size > max_size:
            raise ValueError("min_size must not exceed max_size")
        self.dsn, self.min_size, self.max_size = dsn, min_size, max_size
        self.pool: asyncpg.Pool | None = None

    async def connect(self) -> None:
        """At startup, before the hooks. Raising here fails startup."""
        self.pool = await asyncpg.create_pool(
            self.dsn, min_size=self.min_size, max_size=self.max_size
        )

    async def disconnect(self) -> None:
        """At shutdown, after the hooks."""
        if self.pool is not None:
            await self.pool.close()
            self.pool = None

    async def fetch_value(self, query: str, *args: Any) -> Any:
        if self.pool is None:
            raise RuntimeError("the pool is not connected")
        return await self.pool.fetchval(query, *args)

    def __repr__(self) -> str:  # shown in the startup log: keep secrets out of it
        return f"PostgresPool(max_size={self.max_size})"
