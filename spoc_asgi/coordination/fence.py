"""Fencing: run work only while a lock is held, and stop it as soon as it may be lost."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import anyio

from spoc_asgi.coordination.base import Session

T = TypeVar("T")


@dataclass
class Fenced(Generic[T]):
    """How fenced work ended: finished (with its result), raised, or cut off (``lost``)."""

    result: T | None = None
    finished: bool = False
    error: Exception | None = None
    lost: str | None = None  # why the lock may be lost, if the watch saw it


async def run_fenced(session: Session, name: str, work: Callable[[], Awaitable[T]]) -> Fenced[T]:
    """Await ``work()`` in this task while ``session`` watches the held lock ``name``.

    The work runs in the calling task and ends within this call (it must not leave a
    scope open: a ``@once`` hook's context is entered outside, see once.py); the watch
    runs beside it and cancels it the moment it returns. Exceptions are returned, not
    raised: raised inside the task group they would come out wrapped.
    """
    outcome: Fenced[T] = Fenced()
    async with anyio.create_task_group() as task_group:

        async def watch() -> None:
            try:
                outcome.lost = await session.watch(name)
            except Exception as exc:
                outcome.lost = f"watching the lock failed: {type(exc).__name__}"
            task_group.cancel_scope.cancel()

        task_group.start_soon(watch)
        try:
            outcome.result = await work()
            outcome.finished = True
        except Exception as exc:
            outcome.error = exc
        task_group.cancel_scope.cancel()
    return outcome
