"""One hook of each accepted shape. Startup runs top to bottom, shutdown bottom to top."""

import asyncio
import logging
import os
from collections.abc import AsyncIterator

import httpx
from starlette.applications import Starlette

import spoc_asgi

logger = logging.getLogger("myapp")


def check_settings() -> None:
    """Sync: runs in a worker thread, so blocking here does not freeze the event loop."""
    if os.environ.get("MYAPP_REQUIRE_KEY") and not os.environ.get("MYAPP_KEY"):
        raise RuntimeError("MYAPP_KEY is not set")
    logger.info("settings checked")


async def warm_cache(app: Starlette) -> None:
    """Backends are connected before the first hook starts."""
    await app.state.cache.set("motd", "Welcome back")
    logger.info("cache warmed")


async def http_client(app: Starlette) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    """Before the yield: startup. After it: shutdown. A yielded dict joins the
    lifespan state, so each request sees it as request.state.http."""
    async with httpx.AsyncClient(timeout=5.0) as client:
        logger.info("http client open")
        yield {"http": client}
    logger.info("http client closed")


class Refresher:
    """Built once as Refresher(**options); startup() and shutdown() may take the app."""

    def __init__(self, interval: float = 300.0) -> None:
        self.interval = interval
        self.task: asyncio.Task[None] | None = None

    async def startup(self, app: Starlette) -> None:
        self.task = asyncio.create_task(self.refresh_forever(app))
        logger.info("refresher started (every %ss)", self.interval)

    async def shutdown(self) -> None:
        if self.task is not None:
            self.task.cancel()
        logger.info("refresher stopped")

    async def refresh_forever(self, app: Starlette) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await app.state.cache.set("motd", "Welcome back")


@spoc_asgi.on_shutdown
def say_goodbye(app: Starlette) -> None:
    logger.info("goodbye")
