"""The example's middleware, one of each entry shape spoc_asgi accepts.

Listed in ``config/spoc.toml`` (first = outermost):

* :class:`RequestIdMiddleware`, :class:`TimingMiddleware`: pure ASGI classes (shape 1);
* :data:`gzip`: a ready-made ``starlette.middleware.Middleware`` (shape 2);
* ``starlette.middleware.cors.CORSMiddleware``: configured only by options;
* :func:`log_request`: a request function, as in the SPOC plugin docs (shape 3);
* :class:`ApiKeyAuth`: a class whose instances are request functions (shape 4).

The rate limiter (``example_app.ratelimit``) is added last, from settings.py.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import time
import uuid
from collections.abc import Iterable

from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger("example_app")

WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
API_KEY_HEADER = "X-API-Key"

# An incoming request id is reused only when it is short and plain: it ends up in
# logs and response headers, so anything else could forge log lines.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class RequestIdMiddleware:
    """Give every request an id: the client's ``X-Request-ID`` if sane, else a new one.

    The id is echoed on the response and put in ``scope["state"]``, so later
    middleware and endpoints read it as ``request.state.request_id``.
    """

    name = "request_id"

    def __init__(self, app: ASGIApp, header: str = "X-Request-ID") -> None:
        self.app = app
        self.header = header
        self.raw_header = header.lower().encode("latin-1")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = self.incoming_id(scope) or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[self.header] = request_id
            await send(message)

        await self.app(scope, receive, send_with_id)

    def incoming_id(self, scope: Scope) -> str | None:
        for name, value in scope["headers"]:
            if name == self.raw_header:
                candidate = value.decode("latin-1")
                return candidate if _REQUEST_ID.fullmatch(candidate) else None
        return None


class TimingMiddleware:
    """Report the time until the response starts as a ``Server-Timing`` header."""

    name = "timing"

    def __init__(self, app: ASGIApp, metric: str = "app") -> None:
        self.app = app
        self.metric = metric

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def send_with_timing(message: Message) -> None:
            if message["type"] == "http.response.start":
                elapsed_ms = (time.perf_counter() - started) * 1000
                headers = MutableHeaders(scope=message)
                headers.append("Server-Timing", f"{self.metric};dur={elapsed_ms:.1f}")
            await send(message)

        await self.app(scope, receive, send_with_timing)


# Shape 2: a Middleware built in code, for options that belong with the code.
gzip = Middleware(GZipMiddleware, minimum_size=1024)


def log_request(request: Request) -> Request:
    """Log incoming requests (the SPOC plugin docs' example, with the request id)."""
    request_id = getattr(request.state, "request_id", "-")
    logger.info("%s %s (request id %s)", request.method, request.url.path, request_id)
    return request


class ApiKeyAuth:
    """Require a valid API key (``X-API-Key``) on write requests.

    A key, when sent, must be valid on any request; ``methods`` need one. The
    client is then known by a fingerprint of its key (``request.state.client_id``),
    which the rate limiter counts by. Options: ``api_keys``, ``methods``.
    """

    name = "api_key_auth"

    def __init__(self) -> None:
        self.digests: list[bytes] = []
        self.methods = frozenset(WRITE_METHODS)

    def configure(
        self, *, api_keys: Iterable[str] = (), methods: Iterable[str] = WRITE_METHODS
    ) -> None:
        # No keys means every protected request is refused: fail closed.
        self.digests = [_digest(key) for key in api_keys if key]
        self.methods = frozenset(method.upper() for method in methods)

    def __call__(self, request: Request) -> Response | None:
        presented = request.headers.get(API_KEY_HEADER)
        if presented is None:
            if request.method in self.methods:
                return unauthorized(
                    f"this endpoint needs an API key in the {API_KEY_HEADER} header"
                )
            return None
        if not self.is_valid(presented):
            return unauthorized("the API key is not valid")
        request.state.client_id = "key:" + _digest(presented).hex()[:16]
        return None

    def is_valid(self, key: str) -> bool:
        """Constant-time: equal-length digests, and every known key is compared,
        so the time taken tells nothing about how much of which key matched."""
        digest = _digest(key)
        matched = False
        for known in self.digests:
            matched |= hmac.compare_digest(digest, known)
        return matched


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()


def unauthorized(detail: str) -> JSONResponse:
    return JSONResponse(
        {"error": "unauthorized", "detail": detail},
        status_code=401,
        headers={"WWW-Authenticate": f'ApiKey header="{API_KEY_HEADER}"'},
    )
