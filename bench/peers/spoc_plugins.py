"""The spoc_asgi app's hooks and routes (its middleware: :mod:`bench.peers.middleware`)."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bench.peers.shared import drop, load_item, seed, select_sql

SQL = select_sql()


async def create_items(app: Starlette) -> None:
    await seed(app.state.database)


async def shutdown(app: Starlette) -> None:
    await drop(app.state.database)


async def item(request: Request) -> Response:
    state = request.state
    found = await load_item(state.cache, state.database, request.path_params["item_id"], SQL)
    if found is None:
        return JSONResponse({"detail": "Not Found"}, status_code=404)
    return JSONResponse({**found, "request_id": state.request_id})


routes = [Route("/items/{item_id:int}", item)]
