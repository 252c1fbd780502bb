"""What every coordinator offers: named locks that die with their holder, and records.

A :class:`Coordinator` opens :class:`Session` objects; a session is one connection
to the engine (a dedicated PostgreSQL connection, a Redis client, a directory of
lock files). Its locks are exclusive across every process that uses the same
engine, and are released by the engine when the holder dies: the connection
closes, the key expires, the OS drops the file lock. See docs/deployment.md.
"""

from __future__ import annotations

import json
import os
import socket
import time
from contextlib import AbstractAsyncContextManager
from dataclasses import asdict, dataclass, field
from typing import Protocol

DONE = "done"
FAILED = "failed"


@dataclass(frozen=True)
class Record:
    """The outcome of a once-hook run, as every process of the deployment reads it."""

    status: str  # DONE or FAILED
    detail: str = ""  # the error message of a failed run (already free of secrets)
    pid: int = field(default_factory=os.getpid)
    host: str = field(default_factory=socket.gethostname)
    at: float = field(default_factory=time.time)  # wall clock: compared across hosts

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str | bytes) -> Record | None:
        try:
            data = json.loads(text)
            return cls(
                status=str(data["status"]),
                detail=str(data.get("detail", "")),
                pid=int(data.get("pid", 0)),
                host=str(data.get("host", "")),
                at=float(data.get("at", 0.0)),
            )
        except (ValueError, TypeError, KeyError):
            return None  # not ours or damaged: as if there were none

    @property
    def where(self) -> str:
        return f"pid {self.pid} on {self.host}"


class Session(Protocol):
    """One connection to the coordination engine."""

    async def try_lock(self, name: str) -> bool:
        """Take the lock ``name`` if it is free; never waits for it."""

    async def unlock(self, name: str) -> None:
        """Give the lock back (a lock that was lost meanwhile is ignored)."""

    async def watch(self, name: str) -> str:
        """Keep the held lock ``name`` alive; return, saying why, as soon as it may be lost."""

    async def read(self, name: str) -> Record | None: ...

    async def write(self, name: str, record: Record) -> None: ...


class Coordinator(Protocol):
    kind: str  # "postgres", "redis" or "file"
    spans_hosts: bool
    poll_seconds: float  # how often a waiting process tries a lock again

    def session(self) -> AbstractAsyncContextManager[Session]: ...

    def describe(self) -> str:
        """For logs and checks: the engine and where it is, with no secret in it."""
