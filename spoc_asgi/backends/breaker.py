"""A circuit breaker for fail-open backends: stop waiting on a server that is down.

A backend that serves misses during an outage (``RedisCache(on_error="ignore")``)
would otherwise pay its full timeout on every call while the server is frozen. The
breaker counts consecutive outage errors; after ``failures`` of them it *opens*: calls
are answered as fail-open answers them, without touching the server. Every
``cooldown`` seconds one call is let through as a probe; the first success *closes*
it again. The state machine and its log lines are in docs/reliability.md.

Plain state, no I/O and no tasks: the backend calls :meth:`allow` before a call and
:meth:`succeeded` / :meth:`failed` after it. A probe that never reports (its task was
cancelled) only delays the next probe by one cooldown.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

CLOSED, OPEN = "closed", "open"


class CircuitBreaker:
    def __init__(
        self,
        what: str,
        *,
        failures: int,
        cooldown: float,
        logger: logging.Logger,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.what = what  # "redis cache at redis://:***@host:6379/0": redacted by the caller
        self.failures, self.cooldown = failures, cooldown
        self._logger, self._clock = logger, clock
        self.state = CLOSED
        self._failed = 0  # consecutive outage errors while closed
        self._opened_at = 0.0
        self._probe_at = 0.0  # while open: when the next call may probe the server

    def allow(self) -> bool:
        """May this call go to the server? ``False``: answer it as fail-open does."""
        if self.state == CLOSED:
            return True
        now = self._clock()
        if now < self._probe_at:
            return False
        self._probe_at = now + self.cooldown  # one probe per cooldown, even if it hangs
        return True

    def succeeded(self) -> None:
        if self.state == CLOSED:
            self._failed = 0
            return
        self.state, self._failed = CLOSED, 0
        self._logger.info(
            "%s is reachable again: circuit closed after %.1fs",
            self.what,
            self._clock() - self._opened_at,
        )

    def failed(self, operation: str, error: str) -> None:
        """Record an outage error (``error``: its redacted type and text)."""
        now = self._clock()
        if self.state == OPEN:
            self._probe_at = now + self.cooldown
            self._logger.debug("%s: probe (%s) failed: %s", self.what, operation, error)
            return
        self._failed += 1
        if self._failed < self.failures:
            self._logger.debug("%s: %s failed: %s", self.what, operation, error)
            return
        self.state, self._opened_at, self._probe_at = OPEN, now, now + self.cooldown
        self._logger.warning(
            "%s is unavailable (%s failed: %s): circuit open after %d consecutive "
            "errors; serving misses without calling it, probing every %gs",
            self.what,
            operation,
            error,
            self._failed,
            self.cooldown,
        )
