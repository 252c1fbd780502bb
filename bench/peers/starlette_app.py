"""The peers app in plain Starlette, wired by hand: ``uvicorn bench.peers.starlette_app:app``.

Five pure ASGI middleware classes, a lifespan that connects the backends and fills the
table, lifespan state for the endpoint.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bench.peers.middleware import ApiKeyMiddleware, NoSniff, RequestIdMiddleware, Server, Timing
from bench.peers.shared import drop, load_item, make_backends, seed, select_sql

SQL = select_sql()


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
    database, cache = make_backends()
    await database.connect()
    await cache.connect()
    try:
        await seed(database)
        yield {"database": database, "cache": cache}
        await drop(database)
    finally:
        await cache.disconnect()
        await database.disconnect()


async def item(request: Request) -> Response:
    state = request.state
    found = await load_item(state.cache, state.database, request.path_params["item_id"], SQL)
    if found is None:
        return JSONResponse({"detail": "Not Found"}, status_code=404)
    return JSONResponse({**found, "request_id": state.request_id})


app = Starlette(
    routes=[Route("/items/{item_id:int}", item)],
    middleware=[
        Middleware(Server),
        Middleware(Timing),
        Middleware(RequestIdMiddleware),
        Middleware(ApiKeyMiddleware),
        Middleware(NoSniff),
    ],
    lifespan=lifespan,
)
