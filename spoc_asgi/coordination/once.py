"""``@once``: a hook's startup runs in one process of the deployment; the others wait.

Every process loops: read the record (a completed run: done; a recent failure:
fail with its error), else try the lock; the process that gets it checks the
record again, enters the hook while the lock is watched, and writes the record
before it lets go. A holder that dies frees the lock (see each coordinator), so a
waiting process takes over. See docs/deployment.md.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import anyio

from spoc_asgi.coordination.base import DONE, FAILED, Coordinator, Record, Session
from spoc_asgi.coordination.fence import run_fenced
from spoc_asgi.errors import SpocError
from spoc_asgi.hooks import Step
from spoc_asgi.redaction import redact_text

logger = logging.getLogger("spoc_asgi")

State = Mapping[str, Any] | None


class OnceFailed(SpocError):
    """A ``@once`` hook failed (here or in another process), or could not be coordinated."""


def once_step(
    step: Step, coordinator: Coordinator, name: str, wait_seconds: float, retry_seconds: float
) -> Step:
    """``step`` wrapped: its startup runs in one process; its shutdown part (if any)
    runs at shutdown of the process that ran the startup."""
    label = f"{step.label} (@once)"

    @asynccontextmanager
    async def run(app: Any) -> AsyncIterator[State]:
        async with AsyncExitStack() as stack:

            async def enter() -> State:
                return await stack.enter_async_context(step.open(app))

            yield await run_once(label, enter, coordinator, name, wait_seconds, retry_seconds)

    # The engine's bound for this step: the wait, and a second for the lock to be let go.
    return Step(step.kind, step.uri, run, start_timeout=wait_seconds + 1.0)


async def run_once(
    label: str,
    enter: Callable[[], Awaitable[State]],
    coordinator: Coordinator,
    name: str,
    wait_seconds: float,
    retry_seconds: float,
) -> State:
    began = time.monotonic()
    try:
        with anyio.fail_after(wait_seconds) as deadline:
            async with coordinator.session() as session:
                while True:
                    if await _completed(session, label, name, retry_seconds):
                        logger.info("%s: completed already; not run in this process", label)
                        return None
                    if await session.try_lock(name):
                        try:
                            if await _completed(session, label, name, retry_seconds):
                                return None
                            state = await _run_fenced(label, enter, session, name)
                            await session.write(name, Record(DONE))
                        finally:
                            with anyio.CancelScope(shield=True):
                                await session.unlock(name)
                        logger.info(
                            "%s: ran in this process in %.0f ms",
                            label,
                            (time.monotonic() - began) * 1000,
                        )
                        return state
                    await anyio.sleep(coordinator.poll_seconds)
    except OnceFailed:
        raise
    except TimeoutError as exc:
        if deadline.cancel_called:
            raise OnceFailed(
                f"{label} did not complete within {wait_seconds:g}s in any process "
                f"({coordinator.describe()}; wait_seconds)"
            ) from exc
        raise _coordination_failed(label, coordinator, exc) from exc
    except Exception as exc:
        raise _coordination_failed(label, coordinator, exc) from exc


def _coordination_failed(label: str, coordinator: Coordinator, exc: BaseException) -> OnceFailed:
    what = "no answer in time" if isinstance(exc, TimeoutError) else f"{type(exc).__name__}: {exc}"
    where = coordinator.describe()
    return OnceFailed(redact_text(f"{label}: coordination via {where} failed: {what}"))


async def _completed(session: Session, label: str, name: str, retry_seconds: float) -> bool:
    """True for a completed run; raises the error of a run that failed recently."""
    record = await session.read(name)
    if record is None:
        return False
    if record.status == DONE:
        return True
    if record.status == FAILED and time.time() - record.at < retry_seconds:
        raise OnceFailed(f"{label} failed in {record.where}: {record.detail}")
    return False  # an old failure: run it again


async def _run_fenced(
    label: str, enter: Callable[[], Awaitable[State]], session: Session, name: str
) -> State:
    """Enter the hook while the lock is watched; record a failure for the waiting processes."""
    outcome = await run_fenced(session, name, enter)
    if outcome.error is not None:
        detail = redact_text(f"{type(outcome.error).__name__}: {outcome.error}")
        record = Record(FAILED, detail=detail)
        try:
            with anyio.CancelScope(shield=True), anyio.fail_after(5):
                await session.write(name, record)  # so the waiting processes fail alike
        except Exception as exc:
            logger.error("%s: could not record the failure: %s", label, type(exc).__name__)
        raise OnceFailed(f"{label} failed in {record.where}: {detail}") from outcome.error
    if not outcome.finished:
        raise OnceFailed(
            f"{label} was stopped in this process: {outcome.lost}; another process runs it"
        )
    return outcome.result
