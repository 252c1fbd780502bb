"""FastAPI dependencies for an app's backends (see docs/mounting.md, "FastAPI").

::

    from spoc_asgi.fastapi import CacheDep, DatabaseDep

    @api.get("/notes")
    async def notes(db: DatabaseDep, cache: CacheDep) -> list[dict[str, Any]]:
        return await db.fetch_all("SELECT * FROM notes")

``DatabaseDep`` is ``Annotated[SQLDatabase, Depends(get_database)]``; it is built on
first use, so importing this module needs SQLAlchemy only if ``DatabaseDep`` is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request

from spoc_asgi.access import cache, database
from spoc_asgi.backends import Cache

if TYPE_CHECKING:
    from spoc_asgi.backends.sql import SQLDatabase

__all__ = ["CacheDep", "DatabaseDep", "get_cache", "get_database"]


async def get_database(request: Request) -> SQLDatabase:
    """The app's ``SQLDatabase``: a FastAPI dependency (async: FastAPI would run a plain
    ``def`` dependency in its thread pool on every request)."""
    return database(request)


async def get_cache(request: Request) -> Cache:
    """The app's cache: a FastAPI dependency."""
    return cache(request)


CacheDep = Annotated[Cache, Depends(get_cache)]

if TYPE_CHECKING:
    DatabaseDep = Annotated[SQLDatabase, Depends(get_database)]


def __getattr__(name: str) -> Any:
    if name == "DatabaseDep":
        from spoc_asgi.backends.sql import SQLDatabase

        alias = Annotated[SQLDatabase, Depends(get_database)]
        globals()[name] = alias
        return alias
    raise AttributeError(f"module 'spoc_asgi.fastapi' has no attribute {name!r}")
