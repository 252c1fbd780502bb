"""One middleware of each accepted shape."""

import hashlib
import hmac
import logging
import uuid
from pathlib import Path

from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import spoc_asgi

logger = logging.getLogger("myapp")


# --8<-- [start:shape1]
# 1. An ASGI middleware class: built once as RequestId(app, **options).
class RequestId:
    def __init__(self, app: ASGIApp, header: str = "X-Request-ID") -> None:
        self.app = app
        self.header = header

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id  # request.state.request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[self.header] = request_id
            await send(message)

        await self.app(scope, receive, send_with_id)


# --8<-- [end:shape1]


# --8<-- [start:shape2]
# 2. A starlette Middleware instance: configured options are merged into its kwargs.
gzip = Middleware(GZipMiddleware, minimum_size=500)
# --8<-- [end:shape2]


# --8<-- [start:shape3]
# 3. A sync request function: called inline on the event loop, so it must not block.
def log_request(request: Request) -> Request:
    logger.info("%s %s [%s]", request.method, request.url.path, request.state.request_id)
    return request  # or None: both go on to the app


# --8<-- [end:shape3]


# --8<-- [start:shape3async]
# 3. An async request function. It reads the body; the app can still read it after.
async def verify_signature(request: Request) -> None:
    if request.url.path != "/webhook":
        return
    settings = request.app.state.framework.config.settings
    body = await request.body()
    expected = hmac.new(settings.WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(request.headers.get("X-Signature", ""), expected):
        raise HTTPException(status_code=401, detail="bad signature")


# --8<-- [end:shape3async]


# --8<-- [start:shape4]
# 4. A class whose instances are request functions: made once, configure(**options).
class RequireToken:
    def configure(self, *, tokens: list[str], read_only_tokens: list[str] | None = None) -> None:
        self.tokens = set(tokens)
        self.read_only = set(read_only_tokens or [])

    async def __call__(self, request: Request) -> Response | None:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if token in self.tokens:
            return None
        if token in self.read_only:
            if request.method not in ("GET", "HEAD"):
                raise PermissionError("this token is read-only")  # -> 403
            return None
        return JSONResponse({"error": "unauthorized"}, status_code=401)  # short-circuit


# --8<-- [end:shape4]


# --8<-- [start:blocking]
# 4. Marked @blocking: its sync process() runs in a worker thread, off the event loop.
@spoc_asgi.blocking
class AuditLog:
    def configure(self, *, path: str) -> None:
        self.path = Path(path)

    def process(self, request: Request) -> None:
        if request.method != "GET":
            with self.path.open("a", encoding="utf-8") as log:  # blocking file I/O
                log.write(f"{request.state.request_id} {request.method} {request.url.path}\n")


# --8<-- [end:blocking]


# --8<-- [start:caller]
# Not in spoc.toml: app.py passes it to create_app(middleware=[...]).
class ServerTiming:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_timing(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).append("Server-Timing", "app")
            await send(message)

        await self.app(scope, receive, send_with_timing)


# --8<-- [end:caller]
