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
        # Once started, a step ends only through stop(), whose timeout may cancel this
        # scope: a lifespan cancelled from outside must still run every shutdown.
        self.scope = anyio.CancelScope(shield=True)
        self.error: BaseException | None = None

    async def run(self, app: Any, *, task_status: anyio.abc.TaskStatus[Any]) -> None:
        try:
            context = self.step.open(app)
            state = await context.__aenter__()  # a timeout cancels this via start()
            task_status.started(state)
            with self.scope:
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
        inner_name: str = "lifespan=",
    ) -> None:
        self.framework = framework
        self.backends = backends
        self.hooks = hooks
        self.inner = inner
        self.inner_name = inner_name  # how messages name ``inner``
        self.target = target  # the app hooks receive and whose app.state is published
        self.timeout = framework.config.hook_timeout
        # The lifespan state while the app runs (None otherwise): spoc_asgi.mount()
        # lays it over the host's for requests to a mounted app.
        self.state: dict[str, Any] | None = None
        self.mounted = False  # set by spoc_asgi.mount(): its lifespan runs in a host's

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
        failure: SpocError | None = None
        thrown: Exception | None = None
        errors: list[SpocError] = []
        async with anyio.create_task_group() as task_group:
            try:
                await self._start_all(task_group, app, running, state)
            except Exception as exc:
                await self._shut_down(running, "startup failed", log_only=True)
                failure = SpocError(f"startup failed: {running_step_label(exc)}")
                failure.__cause__ = exc
            except BaseException:  # cancelled: the server gave up; not a startup failure
                await self._shut_down(running, "startup was cancelled", log_only=True)
                raise
            if failure is None:
                self._log_started(time.perf_counter() - began)
                self.state = state
                try:
                    yield state
                except BaseException as exc:  # raised by whatever ran the app
                    await self._shut_down(running, "the app has shut down", log_only=True)
                    if not isinstance(exc, Exception):
                        raise
                    thrown = exc
                else:
                    errors = await self._shut_down(running, "the app has shut down")
        # Raised here, outside the task group, so they are not wrapped in its ExceptionGroup.
        if thrown is not None:
            raise thrown
        if failure is not None:
            raise failure
        if errors:
            raise ExceptionGroup(f"shutdown failed in {len(errors)} step(s)", errors)

    async def _start_all(
        self,
        task_group: anyio.abc.TaskGroup,
        app: Any,
        running: list[_Running],
        state: dict[str, Any],
    ) -> None:
        for step in self.backends.steps():
            await self._start(task_group, step, app, running)
        state.update(self.backends.state())
        self.publish(state)
        for step in self._inner_steps():
            started = await self._start(task_group, step, app, running)
            if isinstance(started, Mapping):
                state.update(started)

    async def _shut_down(
        self, running: list[_Running], reason: str, log_only: bool = False
    ) -> list[SpocError]:
        """Stop what started, last first, each step even if an earlier one failed."""
        self.state = None
        errors: list[SpocError] = []
        with anyio.CancelScope(shield=True):
            while running:
                error = await running.pop().stop(self.timeout)
                if error is not None:
                    errors.append(error)
                    if log_only:  # another error is on its way up; do not lose this one
                        logger.error("while stopping (%s): %s", reason, error)
        self.publish(self.backends.placeholders(reason))
        return errors

    def _inner_steps(self) -> list[Step]:
        if self.inner is None:
            return list(self.hooks)
        return [*self.hooks, Step("lifespan", self.inner_name, self.inner)]

    async def _start(
        self, task_group: anyio.abc.TaskGroup, step: Step, app: Any, running: list[_Running]
    ) -> Any:
        entry = _Running(step)
        try:
            with anyio.fail_after(self.timeout) as deadline:
                state = await task_group.start(entry.run, app)
        except TimeoutError as exc:
            if not deadline.cancel_called:  # the step's own TimeoutError, not ours
                raise _StepFailed(f"{step.label} raised TimeoutError: {exc}") from exc
            raise _StepFailed(
                f"{step.label} did not start within {self.timeout:g}s (hook_timeout)"
            ) from exc
        except Exception as exc:
            raise _StepFailed(f"{step.label} raised {type(exc).__name__}: {exc}") from exc
        running.append(entry)
        return state

    def _log_started(self, seconds: float) -> None:
        plugins = self.framework.plugins
        counts = ", ".join(f"{group}={len(items)}" for group, items in plugins.items())
        backends = "; ".join(self.backends.describe()) or "none"
        logger.info(
            "started %s (mode=%s) in %.1f ms: plugins %s; backends %s",
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


def run_inside(outer: Lifespan, runtime: Runtime) -> Lifespan:
    """A lifespan running ``runtime`` inside ``outer``; only ``outer``'s state is yielded.

    The runtime's own state stays with it (``runtime.state``), so the two apps'
    backends and ``framework`` do not overwrite each other in one state dict.
    """

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[Mapping[str, Any] | None]:
        async with outer(app) as outer_state, runtime.lifespan(app):
            yield outer_state

    return lifespan
