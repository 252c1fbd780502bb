"""The ``spoc_asgi`` logger, visible by default without overriding anyone's config.

uvicorn configures only its own loggers (``uvicorn``, ``uvicorn.error``,
``uvicorn.access``), so under plain ``uvicorn module:app`` nothing would print the
``spoc_asgi`` INFO lines: the root logger has no handler and Python's last-resort
handler shows warnings only. :func:`make_visible` attaches a fallback handler in
uvicorn's format, which prints only while nothing else in the logger hierarchy
would (docs/logging.md).
"""

from __future__ import annotations

import logging
import sys

NAME = "spoc_asgi"
logger = logging.getLogger(NAME)


class _LevelPrefix(logging.Formatter):
    """``INFO:     spoc_asgi: message``, aligned as uvicorn aligns its own lines."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return f"{record.levelname + ':':<9} {record.name}: {record.message}"


class FallbackHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to stderr while no other handler on the way to the root would print."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)
        self.setFormatter(_LevelPrefix())

    def emit(self, record: logging.LogRecord) -> None:
        if not _others_print(logging.getLogger(record.name), self):
            super().emit(record)


def _others_print(start: logging.Logger, this: logging.Handler) -> bool:
    current: logging.Logger | None = start
    while current is not None:
        if any(handler is not this for handler in current.handlers):
            return True
        if not current.propagate:
            return False
        current = current.parent
    return False


def make_visible(name: str = NAME) -> None:
    """Make ``name``'s INFO lines print when the process configured no logging for them.

    The handler is added only if no handler in the hierarchy would print them, and
    the level is set to INFO only if none was set on the logger. A logging config set
    up later takes over: the fallback then steps aside.
    """
    target = logging.getLogger(name)
    if target.hasHandlers():  # the fallback itself included: done once
        return
    target.addHandler(FallbackHandler())
    if target.level == logging.NOTSET and target.getEffectiveLevel() > logging.INFO:
        target.setLevel(logging.INFO)
