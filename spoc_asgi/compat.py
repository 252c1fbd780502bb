"""What differs across the supported Starlette range, 0.40 through 1.x (docs/index.md).

One place for version checks, so the rest of the package is written for one Starlette.
"""

from __future__ import annotations

import functools
from typing import Any

import starlette
from starlette.middleware import Middleware

__all__ = ["STARLETTE_VERSION", "middleware", "refuse_removed_keywords"]


def _version(text: str) -> tuple[int, ...]:
    parts = []
    for part in text.split(".")[:3]:
        digits = "".join(c for c in part if c.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


STARLETTE_VERSION = _version(starlette.__version__)

# Before 0.42, Starlette built each middleware as ``cls(app=app, ...)``, which fails
# for a class whose first parameter has another name; 0.42 passes it positionally.
APP_BY_KEYWORD = STARLETTE_VERSION < (0, 42)

# Starlette 1.0 removed these; before it they conflict with the app's own lifespan.
REMOVED_KEYWORDS = ("on_startup", "on_shutdown")


def middleware(cls: Any, *args: Any, **kwargs: Any) -> Middleware:
    """``Middleware(cls, ...)``, built as Starlette 0.42+ builds it on every version."""
    if APP_BY_KEYWORD:
        cls = _app_positional(cls)
    return Middleware(cls, *args, **kwargs)


def _app_positional(cls: Any) -> Any:
    @functools.wraps(cls, updated=())
    def build(app: Any, *args: Any, **kwargs: Any) -> Any:
        return cls(app, *args, **kwargs)

    return build


def refuse_removed_keywords(kwargs: dict[str, Any]) -> None:
    """Refuse ``on_startup``/``on_shutdown`` as Starlette 1.x does, on every version."""
    for name in REMOVED_KEYWORDS:
        if name in kwargs:
            raise TypeError(
                f"create_app() got an unexpected keyword argument {name!r}: use a hook "
                f"(docs/hooks.md) or lifespan= instead"
            )
