"""The circuit breaker's state machine, on a clock the test moves."""

from __future__ import annotations

import logging

import pytest

from spoc_asgi.backends.breaker import CLOSED, OPEN, CircuitBreaker

logger = logging.getLogger("spoc_asgi.test_breaker")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def breaker(clock: Clock) -> CircuitBreaker:
    return CircuitBreaker("cache at x", failures=3, cooldown=1.0, logger=logger, clock=clock)


def test_opens_after_consecutive_failures_only(breaker: CircuitBreaker) -> None:
    breaker.failed("get", "TimeoutError")
    breaker.failed("get", "TimeoutError")
    breaker.succeeded()  # the count starts again
    breaker.failed("get", "TimeoutError")
    breaker.failed("get", "TimeoutError")
    assert breaker.state == CLOSED and breaker.allow()
    breaker.failed("get", "TimeoutError")
    assert breaker.state == OPEN
    assert not breaker.allow()


def test_probes_once_per_cooldown_then_closes(breaker: CircuitBreaker, clock: Clock) -> None:
    for _ in range(3):
        breaker.failed("get", "TimeoutError")
    clock.now += 0.99
    assert not breaker.allow()
    clock.now += 0.02
    assert breaker.allow()  # the probe
    assert not breaker.allow()  # while it is in flight, nobody else waits on the server
    breaker.failed("get", "TimeoutError")
    assert breaker.state == OPEN
    clock.now += 1.0
    assert breaker.allow()
    breaker.succeeded()
    assert breaker.state == CLOSED and breaker.allow()


def test_a_probe_that_never_reports_does_not_wedge_it(
    breaker: CircuitBreaker, clock: Clock
) -> None:
    for _ in range(3):
        breaker.failed("get", "TimeoutError")
    clock.now += 1.0
    assert breaker.allow()  # this probe's task is cancelled: it never reports
    clock.now += 1.0
    assert breaker.allow()


def test_one_warning_on_open_and_one_info_on_close(
    breaker: CircuitBreaker, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger=logger.name):
        for _ in range(50):
            breaker.failed("get", "TimeoutError: timed out")
            clock.now += 0.5
            breaker.allow()
        breaker.succeeded()
        breaker.succeeded()
    loud = [(r.levelname, r.getMessage()) for r in caplog.records if r.levelno >= logging.INFO]
    assert [level for level, _ in loud] == ["WARNING", "INFO"]
    assert "circuit open after 3 consecutive errors" in loud[0][1]
    assert "probing every 1s" in loud[0][1]
    assert "reachable again: circuit closed" in loud[1][1]
