"""Bind backends and hooks to the ASGI lifespan (SPEC section 5).

Order on the way up: backends connect (configured order), then hooks start (listed
order), then the caller's own ``lifespan=`` runs inside them. On the way down the
same steps stop in reverse, and only those that started. Each step runs in a task
of its own that both enters and exits it, so a hook may hold a task group or a
context variable across the app's lifetime, and each step is bounded by
``hook_timeout``.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import anyio
import anyio.abc

from spoc_asgi.backends import Backends
from spoc_asgi.errors import SpocError
from spoc_asgi.framework import Framework
from spoc_asgi.hooks import Step

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import ExceptionGroup  # type: ignore[import-not-found,unused-ignore]

logger = logging.getLogger("spoc_asgi")

Lifespan = Callable[[Any], AbstractAsyncContextManager[Mapping[str, Any] | None]]


class _Running:
    """A started step: its task waits for the signal to stop, then exits the step."""

    def __init__(self, step: Step) -> None:
        self.step = step
        self.stop_requested = anyio.Event()
        self.done = anyio.Event()
        self.scope = anyio.CancelScope()
        self.error: BaseException | None = None

    async def run(self, app: Any, *, task_status: anyio.abc.TaskStatus[Any]) -> None:
        try:
            with self.scope:
                context = self.step.open(app)
                state = await context.__aenter__()
                task_status.started(state)
                await self.stop_requested.wait()
                try:
                    await context.__aexit__(None, None, None)
                except Exception as exc:
                    self.error = exc
        finally:
            self.done.set()

    async def stop(self, seconds: float) -> SpocError | None:
        self.stop_requested.set()
        with anyio.move_on_after(seconds) as waited:
            await self.done.wait()
        if waited.cancelled_caught:
            self.scope.cancel()
            await self.done.wait()
            return SpocError(f"shutdown of {self.step.label} did not finish within {seconds:g}s")
        if self.error is not None:
            error = SpocError(
                f"shutdown of {self.step.label} failed: {type(self.error).__name__}: {self.error}"
            )
            error.__cause__ = self.error
            return error
        return None


class Runtime:
    """Everything an app's lifespan runs; ``app.state.spoc_runtime`` holds it."""

    def __init__(
        self,
        framework: Framework,
        backends: Backends,
        hooks: list[Step],
        inner: Lifespan | None = None,
        target: Any = None,
        middleware_count: int = 0,
    ) -> None:
        self.framework = framework
        self.backends = backends
        self.hooks = hooks
        self.inner = inner
        self.target = target  # the app hooks receive and whose app.state is published
        self.timeout = framework.config.hook_timeout
        self.middleware_count = middleware_count

    def publish(self, values: Mapping[str, Any]) -> None:
        if self.target is not None:
            for name, value in values.items():
                setattr(self.target.state, name, value)

    def lifespan(self, app: Any) -> AbstractAsyncContextManager[dict[str, Any]]:
        """The Starlette ``lifespan_context``: ``app`` is whatever app Starlette runs."""
        return self._run(self.target if self.target is not None else app)

    @asynccontextmanager
    async def _run(self, app: Any) -> AsyncIterator[dict[str, Any]]:
        began = time.perf_counter()
        state: dict[str, Any] = {"framework": self.framework}
        running: list[_Running] = []
        async with anyio.create_task_group() as task_group:
            try:
                for step in self.backends.steps():
                    await self._start(task_group, step, app, running)
                state.update(self.backends.state())
                self.publish(state)
                for step in self._inner_steps():
                    started = await self._start(task_group, step, app, running)
                    if isinstance(started, Mapping):
                        state.update(started)
            except BaseException as exc:
                with anyio.CancelScope(shield=True):
                    await self._stop(running, log_only=True)
                self.publish(self.backends.placeholders("startup failed"))
                failed = running_step_label(exc)
                raise SpocError(f"startup failed: {failed}") from exc
            self._log_started(time.perf_counter() - began)
            try:
                yield state
            finally:
                with anyio.CancelScope(shield=True):
                    errors = await self._stop(running)
                self.publish(self.backends.placeholders("the app has shut down"))
                if errors:
                    raise ExceptionGroup(f"shutdown failed in {len(errors)} step(s)", errors)

    def _inner_steps(self) -> list[Step]:
        if self.inner is None:
            return list(self.hooks)
        return [*self.hooks, Step("lifespan", "lifespan=", self.inner)]

    async def _start(
        self, task_group: anyio.abc.TaskGroup, step: Step, app: Any, running: list[_Running]
    ) -> Any:
        entry = _Running(step)
        try:
            with anyio.fail_after(self.timeout):
                state = await task_group.start(entry.run, app)
        except TimeoutError as exc:
            raise _StepFailed(
                f"{step.label} did not start within {self.timeout:g}s (hook_timeout)"
            ) from exc
        except Exception as exc:
            raise _StepFailed(f"{step.label} raised {type(exc).__name__}: {exc}") from exc
        running.append(entry)
        return state

    async def _stop(self, running: list[_Running], log_only: bool = False) -> list[SpocError]:
        errors: list[SpocError] = []
        while running:
            error = await running.pop().stop(self.timeout)
            if error is not None:
                errors.append(error)
                if log_only:
                    logger.error("spoc_asgi: while undoing a failed startup: %s", error)
        return errors

    def _log_started(self, seconds: float) -> None:
        plugins = self.framework.plugins
        counts = ", ".join(f"{group}={len(items)}" for group, items in plugins.items())
        backends = "; ".join(self.backends.describe()) or "none"
        logger.info(
            "spoc_asgi started %s (mode=%s) in %.1f ms: plugins %s; backends %s",
            self.framework.base_dir,
            self.framework.config.mode,
            seconds * 1000,
            counts or "none",
            backends,
        )


class _StepFailed(SpocError):
    """Startup of one step failed; the message names the step (hook/backend URI)."""


def running_step_label(exc: BaseException) -> str:
    if isinstance(exc, _StepFailed):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def chain(outer: Lifespan, inner: Lifespan) -> Lifespan:
    """One lifespan running ``inner`` inside ``outer``; their states are merged."""

    @asynccontextmanager
    async def chained(app: Any) -> AsyncIterator[dict[str, Any]]:
        async with outer(app) as outer_state, inner(app) as inner_state:
            yield {**(outer_state or {}), **(inner_state or {})}

    return chained
