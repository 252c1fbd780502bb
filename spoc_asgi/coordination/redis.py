"""Coordination on Redis: redis-py's lock (a random token, an expiry, renewal).

A lock is ``SET name token NX PX lease``; its holder renews it (``reacquire``, a
compare-and-set script) every third of the lease, and the first renewal that fails
or does not answer within a third of the lease ends the holder's work, which is
then still before the key can expire (fencing: the old holder stops before a new
one can start). A holder that dies simply stops renewing: the key expires and the
next process takes over within ``lease_seconds``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio

from spoc_asgi.coordination.base import FAILED, Record
from spoc_asgi.redaction import redact_text

PREFIX = "spoc:coordination:"


class RedisCoordinator:
    kind = "redis"
    spans_hosts = True

    def __init__(
        self, url: str, lease_seconds: float, retry_seconds: float, connect_timeout: float = 5.0
    ) -> None:
        self.url = url
        self.lease_seconds = lease_seconds
        self.retry_seconds = retry_seconds
        self.connect_timeout = connect_timeout
        # A dead holder's lock expires only after the lease: polling faster gains little.
        self.poll_seconds = min(0.5, lease_seconds / 8)

    def describe(self) -> str:
        return f"redis locks at {redact_text(self.url)}"

    @asynccontextmanager
    async def session(self) -> AsyncIterator[RedisSession]:
        from redis.asyncio import Redis  # the [redis] extra; checked when chosen

        # Every call is bounded by a cancel scope (see RedisSession); the socket timeout
        # only keeps a dead connection from hanging longer than the longest of those.
        timeout = max(self.lease_seconds, 5.0)
        client = Redis.from_url(
            self.url, socket_timeout=timeout, socket_connect_timeout=self.connect_timeout
        )
        try:
            with anyio.fail_after(self.connect_timeout):
                await client.ping()
            yield RedisSession(client, self)
        finally:
            with anyio.CancelScope(shield=True), anyio.move_on_after(self.connect_timeout):
                await client.aclose()


class RedisSession:
    def __init__(self, client: Any, coordinator: RedisCoordinator) -> None:
        self.client = client
        self.lease_seconds = coordinator.lease_seconds
        self.retry_seconds = coordinator.retry_seconds
        self.locks: dict[str, Any] = {}

    def _bound(self) -> float:
        """For a renewal: it must fail in time for the work to stop before the expiry."""
        return max(self.lease_seconds / 3, 0.2)

    def _patient(self) -> float:
        """For everything else, where only the caller's own wait is at stake."""
        return max(self.lease_seconds, 5.0)

    async def try_lock(self, name: str) -> bool:
        lock = self.client.lock(
            f"{PREFIX}lock:{name}", timeout=self.lease_seconds, blocking=False, thread_local=False
        )
        with anyio.fail_after(self._patient()):
            taken = bool(await lock.acquire(blocking=False))
        if taken:
            self.locks[name] = lock
        return taken

    async def unlock(self, name: str) -> None:
        from redis.exceptions import LockError, RedisError

        lock = self.locks.pop(name, None)
        if lock is None:
            return
        try:
            with anyio.move_on_after(self._bound()):
                await lock.release()  # compare-and-delete: a lost lock is left alone
        except (LockError, RedisError, OSError):
            pass  # lost already, or unreachable: the key expires by itself

    async def watch(self, name: str) -> str:
        from redis.exceptions import LockError, RedisError

        lock = self.locks[name]
        while True:
            await anyio.sleep(self.lease_seconds / 3)
            try:
                with anyio.fail_after(self._bound()):
                    await lock.reacquire()
            except TimeoutError:
                return f"renewing the Redis lock took more than {self._bound():g}s"
            except LockError:
                return "the Redis lock expired or was taken over"
            except (RedisError, OSError) as exc:
                return f"renewing the Redis lock failed: {type(exc).__name__}"

    async def read(self, name: str) -> Record | None:
        with anyio.fail_after(self._patient()):
            value = await self.client.get(f"{PREFIX}record:{name}")
        return Record.from_json(value) if value is not None else None

    async def write(self, name: str, record: Record) -> None:
        # A completed run is kept; a failure only for retry_seconds, then a process runs
        # the hook again.
        expiry = int(self.retry_seconds * 1000) if record.status == FAILED else None
        with anyio.fail_after(self._patient()):
            await self.client.set(f"{PREFIX}record:{name}", record.to_json(), px=expiry)
