"""spoc_asgi.logs: the fallback handler prints only while nothing else would."""

from __future__ import annotations

import itertools
import logging
import os

import pytest

from spoc_asgi.logs import FallbackHandler, make_visible

_names = itertools.count()


def bare_logger() -> logging.Logger:
    """A new logger cut off from the root, where pytest's handlers live: a bare process.

    Made in the test itself: pytest also attaches its handlers to loggers that do not
    propagate when a test phase begins.
    """
    logger = logging.getLogger(f"spoc_logs_test_{os.getpid()}_{next(_names)}")
    logger.propagate = False
    return logger


def test_info_lines_print_when_nothing_is_configured(
    capsys: pytest.CaptureFixture[str],
) -> None:
    alone = bare_logger()
    make_visible(alone.name)
    make_visible(alone.name)  # idempotent: one handler
    logging.getLogger(f"{alone.name}.child").info("hello %s", "there")
    assert capsys.readouterr().err == f"INFO:     {alone.name}.child: hello there\n"
    assert [type(h) for h in alone.handlers] == [FallbackHandler]


def test_a_handler_configured_later_takes_over(
    capsys: pytest.CaptureFixture[str],
) -> None:
    alone = bare_logger()
    make_visible(alone.name)
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    alone.addHandler(handler)
    alone.info("once")
    assert capsys.readouterr().err == ""
    assert [r.getMessage() for r in records] == ["once"]


def test_a_level_set_by_the_user_is_kept(
    capsys: pytest.CaptureFixture[str],
) -> None:
    alone = bare_logger()
    alone.setLevel(logging.WARNING)
    make_visible(alone.name)
    alone.info("hidden")
    alone.warning("shown")
    assert capsys.readouterr().err == f"WARNING:  {alone.name}: shown\n"


def test_nothing_is_added_when_a_handler_would_print() -> None:
    alone = bare_logger()
    existing = logging.NullHandler()
    alone.addHandler(existing)
    make_visible(alone.name)
    assert alone.handlers == [existing]
    assert alone.level == logging.NOTSET
