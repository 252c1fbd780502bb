"""The peers app in FastAPI, as its docs teach: ``uvicorn bench.peers.fastapi_app:app``.

Middleware with ``@app.middleware("http")`` (the last one declared is the outermost),
the backends reach the endpoint through ``Depends``, the startup work in ``lifespan=``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse

from bench.peers.shared import (
    API_KEY,
    drop,
    load_item,
    make_backends,
    new_request_id,
    seed,
    select_sql,
)

SQL = select_sql()
CallNext = Callable[[Request], Awaitable[Response]]


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
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


app = FastAPI(lifespan=lifespan)


@app.middleware("http")
async def no_sniff(request: Request, call_next: CallNext) -> Response:
    response = await call_next(request)
    response.headers["x-content-type-options"] = "nosniff"
    return response


@app.middleware("http")
async def check_api_key(request: Request, call_next: CallNext) -> Response:
    if request.headers.get("x-api-key") != API_KEY:
        return JSONResponse({"detail": "Unauthorized"}, status_code=401)
    return await call_next(request)


@app.middleware("http")
async def tag_request_id(request: Request, call_next: CallNext) -> Response:
    request.state.request_id = request.headers.get("x-request-id") or new_request_id()
    return await call_next(request)


@app.middleware("http")
async def timing(request: Request, call_next: CallNext) -> Response:
    began = time.perf_counter()
    response = await call_next(request)
    response.headers["server-timing"] = f"app;dur={(time.perf_counter() - began) * 1000:.3f}"
    return response


@app.middleware("http")
async def server(request: Request, call_next: CallNext) -> Response:
    response = await call_next(request)
    response.headers["server"] = "peers"
    return response


def get_database(request: Request) -> Any:
    return request.state.database


def get_cache(request: Request) -> Any:
    return request.state.cache


@app.get("/items/{item_id}")
async def item(
    item_id: int,
    request: Request,
    database: Annotated[Any, Depends(get_database)],
    cache: Annotated[Any, Depends(get_cache)],
) -> dict[str, Any]:
    found = await load_item(cache, database, item_id, SQL)
    if found is None:
        raise HTTPException(status_code=404, detail="Not Found")
    return {**found, "request_id": request.state.request_id}
