"""The peers app in Litestar, as its docs teach: ``uvicorn bench.peers.litestar_app:app``.

Middleware as ``ASGIMiddleware`` subclasses (the recommended base class), the backends
as dependencies (``Provide``) read from the app state, the startup work in
``on_startup``/``on_shutdown``.
"""

from __future__ import annotations

import time
from typing import Any

from litestar import Litestar, Request, get
from litestar.datastructures import MutableScopeHeaders, State
from litestar.di import Provide
from litestar.enums import ScopeType
from litestar.exceptions import NotFoundException
from litestar.middleware import ASGIMiddleware
from litestar.response import Response
from litestar.types import ASGIApp, Message, Receive, Scope, Send

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


class _AddHeader(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)
    name = ""
    value = ""

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableScopeHeaders.from_message(message)[self.name] = self.value
            await send(message)

        await next_app(scope, receive, send_with_header)


class ServerMiddleware(_AddHeader):
    name, value = "server", "peers"


class NoSniffMiddleware(_AddHeader):
    name, value = "x-content-type-options", "nosniff"


class TimingMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        began = time.perf_counter()

        async def send_with_timing(message: Message) -> None:
            if message["type"] == "http.response.start":
                elapsed = (time.perf_counter() - began) * 1000
                MutableScopeHeaders.from_message(message)["server-timing"] = (
                    f"app;dur={elapsed:.3f}"
                )
            await send(message)

        await next_app(scope, receive, send_with_timing)


class RequestIdMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        request: Request[Any, Any, Any] = Request(scope)
        given = request.headers.get("x-request-id")
        scope.setdefault("state", {})["request_id"] = given or new_request_id()
        await next_app(scope, receive, send)


class ApiKeyMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        request: Request[Any, Any, Any] = Request(scope)
        if request.headers.get("x-api-key") != API_KEY:
            response: Response[Any] = Response({"detail": "Unauthorized"}, status_code=401)
            await response.to_asgi_response(request.app, request)(scope, receive, send)
            return
        await next_app(scope, receive, send)


async def connect(app: Litestar) -> None:
    database, cache = make_backends()
    await database.connect()
    await cache.connect()
    app.state.database, app.state.cache = database, cache
    await seed(database)


async def disconnect(app: Litestar) -> None:
    await drop(app.state.database)
    await app.state.cache.disconnect()
    await app.state.database.disconnect()


def provide_database(state: State) -> Any:
    return state.database


def provide_cache(state: State) -> Any:
    return state.cache


@get("/items/{item_id:int}")
async def item(
    item_id: int, request: Request[Any, Any, Any], database: Any, cache: Any
) -> dict[str, Any]:
    found = await load_item(cache, database, item_id, SQL)
    if found is None:
        raise NotFoundException()
    return {**found, "request_id": request.state.request_id}


app = Litestar(
    route_handlers=[item],
    middleware=[
        ServerMiddleware(),
        TimingMiddleware(),
        RequestIdMiddleware(),
        ApiKeyMiddleware(),
        NoSniffMiddleware(),
    ],
    dependencies={
        "database": Provide(provide_database, sync_to_thread=False),
        "cache": Provide(provide_cache, sync_to_thread=False),
    },
    on_startup=[connect],
    on_shutdown=[disconnect],
)
