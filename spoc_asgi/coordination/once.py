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
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import anyio

from spoc_asgi.coordination.base import DONE, FAILED, Coordinator, Record, Session
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
        began = time.monotonic()
        once = _OnceRun(label, coordinator, name, wait_seconds, retry_seconds)
        thrown: Exception | None = None
        # The hook's context is entered and exited in this task, nested in this task
        # group, which stays open (empty once the record is written) until shutdown: a
        # task group or cancel scope the hook holds across its ``yield`` nests inside it.
        async with anyio.create_task_group() as task_group:
            once.cancel = task_group.cancel_scope
            task_group.start_soon(once.coordinate)
            await once.decided.wait()
            if once.verdict == _RUN:
                yielded = False
                try:
                    async with step.open(app) as state:
                        once.hook_done.set()
                        await once.recorded.wait()
                        if once.error is None:
                            logger.info(
                                "%s: ran in this process in %.0f ms",
                                label,
                                (time.monotonic() - began) * 1000,
                            )
                            yielded = True
                            yield state
                except Exception as exc:
                    if yielded:  # re-raised below, so that it is not wrapped in a group
                        thrown = exc
                    else:
                        once.hook_error = exc
                        once.hook_done.set()
                        await once.recorded.wait()
        if thrown is not None:
            raise thrown
        if once.error is not None:
            raise once.error
        if once.verdict == _RUN and not once.written:
            raise OnceFailed(
                f"{label} was stopped in this process: {once.lost}; another process runs it"
            )
        if once.verdict == _DONE:
            yield None

    # The engine's bound for this step: the wait, and a second for the lock to be let go.
    return Step(step.kind, step.uri, run, start_timeout=wait_seconds + 1.0)


_RUN, _DONE = "run", "done"


class _OnceRun:
    """The coordination of one ``@once`` startup, run in a task beside the hook.

    It waits for the record or the lock; holding the lock, it lets the hook be entered
    (``decided``), watches the lock meanwhile and cancels the startup if it may be lost,
    then writes the record and lets the lock go (``recorded``).
    """

    def __init__(
        self,
        label: str,
        coordinator: Coordinator,
        name: str,
        wait_seconds: float,
        retry_seconds: float,
    ) -> None:
        self.label, self.coordinator, self.name = label, coordinator, name
        self.wait_seconds, self.retry_seconds = wait_seconds, retry_seconds
        self.cancel = anyio.CancelScope()
        self.decided, self.hook_done, self.recorded = anyio.Event(), anyio.Event(), anyio.Event()
        self.verdict: str | None = None
        self.error: OnceFailed | None = None
        self.hook_error: Exception | None = None
        self.lost: str | None = None
        self.written = False  # the completion record

    async def coordinate(self) -> None:
        try:
            await self._coordinate()
        except OnceFailed as exc:
            self.error = exc
        except TimeoutError as exc:
            self.error = OnceFailed(
                f"{self.label} did not complete within {self.wait_seconds:g}s in any process "
                f"({self.coordinator.describe()}; wait_seconds)"
            )
            self.error.__cause__ = exc
        except Exception as exc:
            self.error = _coordination_failed(self.label, self.coordinator, exc)
            self.error.__cause__ = exc
        finally:
            if self.error is not None and not self.hook_done.is_set():
                self.cancel.cancel()  # the hook is not (or no more) entered: stop it
            self.decided.set()
            self.recorded.set()

    async def _coordinate(self) -> None:
        label, name, session_of = self.label, self.name, self.coordinator.session
        with anyio.fail_after(self.wait_seconds):
            async with session_of() as session:
                while True:
                    if await _completed(session, label, name, self.retry_seconds):
                        logger.info("%s: completed already; not run in this process", label)
                        self.verdict = _DONE
                        return
                    if await session.try_lock(name):
                        try:
                            if await _completed(session, label, name, self.retry_seconds):
                                self.verdict = _DONE
                                return
                            await self._run_fenced(session)
                        finally:
                            with anyio.CancelScope(shield=True):
                                await session.unlock(name)
                        return
                    await anyio.sleep(self.coordinator.poll_seconds)

    async def _run_fenced(self, session: Session) -> None:
        """Let the hook be entered while the lock is watched; write the record."""
        async with anyio.create_task_group() as watching:

            async def watch() -> None:
                try:
                    self.lost = await session.watch(self.name)
                except Exception as exc:
                    self.lost = f"watching the lock failed: {type(exc).__name__}"
                self.cancel.cancel()  # the hook's startup, and this task

            watching.start_soon(watch)
            self.verdict = _RUN
            self.decided.set()
            await self.hook_done.wait()
            watching.cancel_scope.cancel()  # the run is complete: the watch may stop
        if self.hook_error is not None:
            error = self.hook_error
            detail = redact_text(f"{type(error).__name__}: {error}")
            record = Record(FAILED, detail=detail)
            try:
                with anyio.CancelScope(shield=True), anyio.fail_after(5):
                    await session.write(self.name, record)  # the waiting processes fail alike
            except Exception as exc:
                logger.error("%s: could not record the failure: %s", self.label, type(exc).__name__)
            raise OnceFailed(f"{self.label} failed in {record.where}: {detail}") from error
        await session.write(self.name, Record(DONE))
        self.written = True


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
