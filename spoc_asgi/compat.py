"""What differs across the supported Starlette range, 0.40 through 1.x (docs/index.md).

One place for version differences, so the rest of the package is written for one
Starlette. Middleware needs none: Starlette before 0.42 builds each entry as
``factory(app=app)``, later ones as ``factory(app)``, and the configured middleware's
factory (``middleware._Prebuilt``) takes both.
"""

from __future__ import annotations

from typing import Any

__all__ = ["REMOVED_KEYWORDS", "refuse_removed_keywords"]

# Starlette 1.0 removed these; before it they conflict with the app's own lifespan.
REMOVED_KEYWORDS = ("on_startup", "on_shutdown")


def refuse_removed_keywords(kwargs: dict[str, Any]) -> None:
    """Refuse ``on_startup``/``on_shutdown`` as Starlette 1.x does, on every version."""
    for name in REMOVED_KEYWORDS:
        if name in kwargs:
            raise TypeError(
                f"create_app() got an unexpected keyword argument {name!r}: use a hook "
                f"(docs/hooks.md) or lifespan= instead"
            )
