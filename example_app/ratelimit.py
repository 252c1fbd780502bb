"""The SPOC plugin docs' ``RateLimiter``, made real: counted in the app's cache.

A fixed window per client: the count lives under ``ratelimit:<client>:<window>``
and is bumped with ``cache.incr(key, ttl=window)``, which is atomic in both the
memory and the Redis cache, so several workers sharing one Redis share one limit.
Windows are aligned to the clock (``now() // window_seconds``) so the reset time
is known without storing when a window began.

The client is the API key's fingerprint set by ``ApiKeyAuth`` (which runs first),
else the peer address. Behind a proxy, run uvicorn with ``--proxy-headers`` and
``--forwarded-allow-ips`` so that address is the real client's.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def now() -> float:
    """The clock windows are counted on (a function, so tests can set the time)."""
    return time.time()


class RateLimiter:
    """At most ``max_requests`` per client per ``window_seconds``; then 429.

    Every limited response carries ``X-RateLimit-Limit``, ``X-RateLimit-Remaining``
    and ``X-RateLimit-Reset`` (Unix time the window ends); a refused one also
    carries ``Retry-After`` (seconds). ``exempt_paths`` (e.g. a health check
    polled by an orchestrator) are not counted.
    """

    name = "ratelimit"

    def __init__(
        self,
        app: ASGIApp,
        max_requests: int = 100,
        window_seconds: int = 3600,
        exempt_paths: Iterable[str] = (),
    ) -> None:
        for option, value in (("max_requests", max_requests), ("window_seconds", window_seconds)):
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"ratelimit option {option} must be a positive integer")
        self.app = app
        self.max_requests = max_requests
        self.window_seconds = window_seconds
        self.exempt_paths = frozenset(exempt_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt_paths:
            await self.app(scope, receive, send)
            return
        moment = now()
        window = int(moment // self.window_seconds)
        reset = (window + 1) * self.window_seconds
        key = f"ratelimit:{client_id(scope)}:{window}"
        count = await cache_of(scope).incr(key, ttl=self.window_seconds)
        headers = {
            "X-RateLimit-Limit": str(self.max_requests),
            "X-RateLimit-Remaining": str(max(0, self.max_requests - count)),
            "X-RateLimit-Reset": str(reset),
        }
        if count > self.max_requests:
            headers["Retry-After"] = str(max(1, math.ceil(reset - moment)))
            detail = f"at most {self.max_requests} requests per {self.window_seconds}s"
            response = JSONResponse(
                {"error": "rate_limited", "detail": detail}, status_code=429, headers=headers
            )
            await response(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).update(headers)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def client_id(scope: Scope) -> str:
    state = scope.get("state") or {}
    if "client_id" in state:
        return str(state["client_id"])
    client = scope.get("client")
    return f"ip:{client[0]}" if client else "ip:unknown"


def cache_of(scope: Scope) -> Any:
    """The app's cache: the lifespan state's (as each request sees it), else the app's."""
    state = scope.get("state") or {}
    if "cache" in state:
        return state["cache"]
    return scope["app"].state.cache
