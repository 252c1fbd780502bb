"""Coordination on one host: ``filelock`` locks in a directory, and JSON records.

The OS releases a file lock when its holder dies, so a takeover needs only the
next poll. Nothing here reaches another host: with replicas on several machines,
use PostgreSQL or Redis (check ``spoc.W030``).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from spoc_asgi.coordination.base import Record

if TYPE_CHECKING:
    from filelock import FileLock

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def file_stem(name: str) -> str:
    """A file name for a lock name: readable, short, and unique by its digest."""
    digest = hashlib.sha256(name.encode()).hexdigest()[:16]
    return f"{_UNSAFE.sub('_', name)[:80]}-{digest}"


class FileCoordinator:
    kind = "file"
    spans_hosts = False

    def __init__(self, directory: Path, poll_seconds: float = 0.1) -> None:
        self.directory = directory
        self.poll_seconds = poll_seconds

    def describe(self) -> str:
        return f"file locks in {self.directory}"

    @asynccontextmanager
    async def session(self) -> AsyncIterator[FileSession]:
        self.directory.mkdir(parents=True, exist_ok=True)
        session = FileSession(self)
        try:
            yield session
        finally:
            for name in list(session.locks):
                await session.unlock(name)


class FileSession:
    def __init__(self, coordinator: FileCoordinator) -> None:
        self.directory = coordinator.directory
        self.poll_seconds = coordinator.poll_seconds
        self.locks: dict[str, FileLock] = {}

    async def try_lock(self, name: str) -> bool:
        from filelock import FileLock, Timeout  # imported when first used: import cost

        # Non-blocking (timeout 0): one flock() call, no thread. The lock file is kept, so
        # every process locks the same inode.
        lock = FileLock(
            self.directory / f"{file_stem(name)}.lock",
            thread_local=False,
            fallback_to_soft=False,
            preserve_lock_file=True,
        )
        try:
            lock.acquire(timeout=0)
        except Timeout:
            return False
        self.locks[name] = lock
        return True

    async def unlock(self, name: str) -> None:
        lock = self.locks.pop(name, None)
        if lock is not None:
            lock.release()

    async def watch(self, name: str) -> str:
        # An flock is not lost while the process lives; it can only be made meaningless by
        # someone deleting the file (others would lock a new one).
        path = self.directory / f"{file_stem(name)}.lock"
        inode = path.stat().st_ino
        while True:
            await anyio.sleep(max(self.poll_seconds * 10, 1.0))
            try:
                if path.stat().st_ino != inode:
                    return f"the lock file {path} was replaced"
            except FileNotFoundError:
                return f"the lock file {path} was deleted"

    async def read(self, name: str) -> Record | None:
        path = self.directory / f"{file_stem(name)}.json"
        try:
            return Record.from_json(path.read_bytes())
        except FileNotFoundError:
            return None

    async def write(self, name: str, record: Record) -> None:
        path = self.directory / f"{file_stem(name)}.json"
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(record.to_json(), encoding="utf-8")
        os.replace(temporary, path)  # readers see the old record or the new, never half
