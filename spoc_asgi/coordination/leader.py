"""``@leader``: a long-running ``async def fn(app)`` in one process of the deployment at a time.

Each process runs a competing task for the whole lifespan: it tries the lock every
``poll_seconds``; the holder runs ``fn`` while the lock is watched, and the watch
cancels ``fn`` as soon as the lock may be lost (fencing). Shutdown cancels both.
If ``fn`` returns or raises, the process gives leadership up and competes again
after ``lease_seconds``. See docs/deployment.md.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio

from spoc_asgi.coordination.base import Coordinator, Session
from spoc_asgi.coordination.fence import run_fenced
from spoc_asgi.hooks import Step
from spoc_asgi.redaction import redact_text

logger = logging.getLogger("spoc_asgi")


def leader_step(
    uri: str,
    call: Callable[[Any], Awaitable[Any]],
    coordinator: Coordinator,
    name: str,
    pause_seconds: float,
) -> Step:
    label = f"hook {uri!r} (@leader)"

    @asynccontextmanager
    async def run(app: Any) -> AsyncIterator[None]:
        async with anyio.create_task_group() as task_group:
            task_group.start_soon(_compete, label, call, app, coordinator, name, pause_seconds)
            try:
                yield None
            finally:
                task_group.cancel_scope.cancel()

    return Step("hook", uri, run)


async def _compete(
    label: str,
    call: Callable[[Any], Awaitable[Any]],
    app: Any,
    coordinator: Coordinator,
    name: str,
    pause_seconds: float,
) -> None:
    """Never raises: an error here would cancel the app's lifespan."""
    while True:
        try:
            async with coordinator.session() as session:
                while True:
                    if await session.try_lock(name):
                        try:
                            await _lead(label, call, app, session, name)
                        finally:
                            with anyio.CancelScope(shield=True):
                                await session.unlock(name)
                        await anyio.sleep(pause_seconds)
                    else:
                        await anyio.sleep(coordinator.poll_seconds)
        except Exception as exc:
            logger.warning(
                "%s: coordination via %s failed (%s); trying again in %gs",
                label,
                coordinator.describe(),
                redact_text(f"{type(exc).__name__}: {exc}"),
                pause_seconds,
            )
            await anyio.sleep(pause_seconds)


async def _lead(
    label: str, call: Callable[[Any], Awaitable[Any]], app: Any, session: Session, name: str
) -> None:
    logger.info("%s: leading in pid %d", label, os.getpid())
    outcome = await run_fenced(session, name, lambda: call(app))
    if outcome.error is not None:
        logger.error("%s raised: leadership given up", label, exc_info=outcome.error)
    elif outcome.finished:
        logger.warning("%s returned: leadership given up", label)
    else:
        logger.warning("%s: leadership lost (%s); its work was cancelled", label, outcome.lost)
