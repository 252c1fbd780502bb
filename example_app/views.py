"""Service endpoints (``routes`` group): what is running, is it healthy, and a slow one."""

from __future__ import annotations

import logging
import math
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

logger = logging.getLogger("example_app")

MAX_SLOW_SECONDS = 5.0


async def index(request: Request) -> JSONResponse:
    """The service, its mode and the plugins each group loaded."""
    framework = request.app.state.framework
    return JSONResponse(
        {
            "service": "example_app",
            "mode": framework.config.mode,
            "debug": framework.config.debug,
            "plugins": {group: list(loaded) for group, loaded in framework.plugins.items()},
            "request_id": getattr(request.state, "request_id", None),
        }
    )


async def health(request: Request) -> JSONResponse:
    """200 when the database answers; the cache failing only degrades the service
    (the example's Redis cache fails open), a database failing makes it 503."""
    checks = {
        "database": await _ping("database", request.state.database),
        "cache": await _ping("cache", request.state.cache),
    }
    status = "ok" if all(checks.values()) else "degraded" if checks["database"] else "down"
    code = 503 if status == "down" else 200
    return JSONResponse({"status": status, "checks": checks}, status_code=code)


async def _ping(name: str, backend: Any) -> bool:
    try:
        return bool(await backend.ping())
    except Exception:
        logger.exception("health check of the %s failed", name)
        return False


async def slow(request: Request) -> JSONResponse:
    """Answer after ``?seconds=`` (at most 5): an in-flight request for shutdown demos."""
    try:
        seconds = float(request.query_params.get("seconds", "1"))
    except ValueError:
        seconds = math.nan
    if not 0 <= seconds <= MAX_SLOW_SECONDS:  # also rejects NaN
        return JSONResponse(
            {"errors": {"seconds": f"must be a number from 0 to {MAX_SLOW_SECONDS:g}"}}, 400
        )
    await anyio.sleep(seconds)
    return JSONResponse({"slept": seconds})


routes = [
    Route("/", index, methods=["GET"]),
    Route("/health", health, methods=["GET"]),
    Route("/slow", slow, methods=["GET"]),
]
