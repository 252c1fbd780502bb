"""Bind backends and hooks to the ASGI lifespan, on one exit stack (docs/hooks.md).

Order on the way up: backends connect (configured order), then hooks start (listed
order), then the caller's or host's ``lifespan=``. Every step is entered on one
``AsyncExitStack`` in the lifespan's own task, as nested ``async with`` blocks would be,
so a step may hold a task group or a cancel scope from startup to shutdown. The stack
unwinds in reverse, so only what started is stopped.

Each step is bounded by ``hook_timeout``: it runs inside a cancel scope of its own
that encloses its whole life (whatever the step opens nests inside it); the scope's
deadline is set for the enter, lifted while the app runs, and set again, shielded,
for the exit.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Any

import anyio

from spoc_asgi.backends import Backends
from spoc_asgi.errors import SpocError
from spoc_asgi.framework import Framework
from spoc_asgi.hooks import Step
from spoc_asgi.logs import logger, make_visible

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import (  # type: ignore[import-not-found,unused-ignore]
        BaseExceptionGroup,
        ExceptionGroup,
    )

Lifespan = Callable[[Any], AbstractAsyncContextManager[Mapping[str, Any] | None]]
SLOW_STEP = 0.1  # seconds: a step slower than this is logged at INFO with its time


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
        make_visible()  # a server configures its logging before it starts the lifespan
        began = time.perf_counter()
        state: dict[str, Any] = {"framework": self.framework}
        errors: list[SpocError] = []  # failed exits, each naming its step
        started = False
        try:
            async with AsyncExitStack() as stack:
                try:
                    for step in self.backends.steps(self.timeout):
                        await stack.enter_async_context(self._bounded(step, app, errors))
                    state.update(self.backends.state())
                    self.publish(state)
                    for step in self._inner_steps():
                        state.update(
                            await stack.enter_async_context(self._bounded(step, app, errors))
                        )
                except Exception as exc:
                    await stack.aclose()  # what started stops, last first, as at shutdown
                    raise SpocError(f"startup failed: {exc}") from exc
                self._log_started(time.perf_counter() - began)
                self.state, started = state, True
                # Whatever is raised in here (a hook's task group cancelling the lifespan,
                # say) goes up through the steps as through nested ``async with`` blocks.
                yield state
        except BaseException:
            for error in errors:  # another error is on its way up: log these, not lose them
                logger.error("while stopping: %s", error, exc_info=error)
            raise
        finally:
            self.state = None
            self.publish(self.backends.placeholders(_STOPPED[started]))
        if not started:  # a step ended startup from inside, e.g. its task group's task failed
            reasons = "; ".join(map(str, errors)) or "a step stopped it"
            raise SpocError(f"startup failed: {reasons}") from _group(errors)
        if errors:
            raise ExceptionGroup(f"shutdown failed in {len(errors)} step(s)", errors)

    def _inner_steps(self) -> list[Step]:
        if self.inner is None:
            return list(self.hooks)
        return [*self.hooks, Step("lifespan", self.inner_name, self.inner)]

    @asynccontextmanager
    async def _bounded(
        self, step: Step, app: Any, errors: list[SpocError]
    ) -> AsyncIterator[Mapping[str, Any]]:
        """Run one step inside a cancel scope that bounds its enter and its exit.

        The scope is entered before the step and exited after it, so a task group or
        scope the step holds nests inside it. A failed enter raises, naming the step; a
        failed exit is added to ``errors`` and the stack goes on unwinding.
        """
        began = time.perf_counter()
        entered = False
        with anyio.CancelScope(deadline=anyio.current_time() + self.timeout) as scope:
            context = step.open(app)
            try:
                state = await context.__aenter__()
            except Exception as exc:
                raise SpocError(f"{step.label} raised {_describe(exc)}") from exc
            entered, scope.deadline = True, math.inf
            _log_slow(step, time.perf_counter() - began)
            thrown: tuple[Any, Any, Any] = (None, None, None)
            try:
                yield state if isinstance(state, Mapping) else {}
            except BaseException:
                thrown = sys.exc_info()
            # An outer cancellation must not skip the shutdown; hook_timeout bounds it.
            scope.shield, scope.deadline = True, anyio.current_time() + self.timeout
            try:
                suppressed = await context.__aexit__(*thrown)
            except Exception as exc:
                if exc is thrown[1]:
                    raise
                failure = SpocError(f"shutdown of {step.label} failed: {_describe(exc)}")
                failure.__cause__ = exc
                errors.append(failure)
                return  # recorded: the steps outside stop as after a clean exit
            if thrown[1] is not None and not suppressed:
                raise thrown[1]
        if not scope.cancelled_caught:  # only our deadline cancels this scope
            return
        if not entered:
            raise SpocError(f"{step.label} did not start within {self.timeout:g}s (hook_timeout)")
        errors.append(
            SpocError(f"shutdown of {step.label} did not finish within {self.timeout:g}s")
        )

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


_STOPPED = {True: "the app has shut down", False: "startup failed"}


def _group(errors: list[SpocError]) -> ExceptionGroup[SpocError] | None:
    return ExceptionGroup(f"shutdown failed in {len(errors)} step(s)", errors) if errors else None


def _describe(exc: BaseException) -> str:
    """``Type: message``; for a task group's error, what each of its tasks raised."""
    if isinstance(exc, BaseExceptionGroup):
        inner = "; ".join(_describe(each) for each in exc.exceptions)
        return f"{type(exc).__name__}: {exc.message} ({inner})"
    return f"{type(exc).__name__}: {exc}"


def _log_slow(step: Step, seconds: float) -> None:
    if seconds > SLOW_STEP:
        logger.info("%s started in %.1f ms", step.label, seconds * 1000)


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
