"""Hooks that go wrong, for three small projects (startup/, shutdown/, timeout/)."""

import logging
from collections.abc import AsyncIterator

import anyio
from starlette.applications import Starlette

import spoc_asgi

logger = logging.getLogger("payments")


async def open_pool(app: Starlette) -> AsyncIterator[None]:
    logger.info("pool opened")
    yield
    logger.info("pool closed")  # runs even when a later hook fails to start


def load_rates() -> None:
    raise ConnectionError("rates service unreachable")


@spoc_asgi.on_shutdown
def flush_metrics() -> None:
    raise OSError("metrics agent is gone")


class Ledger:
    def shutdown(self) -> None:
        raise RuntimeError("ledger not balanced")


async def wait_for_broker() -> None:
    await anyio.sleep(60)  # longer than hook_timeout allows
