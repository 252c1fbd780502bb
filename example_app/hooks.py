"""The ``hooks`` group: what the example does at startup and at shutdown.

Backends are connected before the first hook starts and closed after the last
one stops, so every hook here may use ``app.state.database`` and ``app.state.cache``.
"""

from __future__ import annotations

import logging
import logging.config

from starlette.applications import Starlette

from example_app.tables import metadata
from spoc_asgi import on_shutdown

logger = logging.getLogger("example_app")

SHUTDOWN_MESSAGE = "shutdown hooks ran; the backends close next"


def configure_logging(app: Starlette) -> None:
    """Apply ``LOGGING_CONFIG`` from settings.py (a ``logging.config.dictConfig`` dict)."""
    config = getattr(app.state.framework.config.settings, "LOGGING_CONFIG", None)
    if config:
        logging.config.dictConfig(config)


async def create_tables(app: Starlette) -> None:
    """Create the example's tables if they are missing (SQLite or PostgreSQL DDL)."""
    async with app.state.database.transaction() as connection:
        await connection.run_sync(metadata.create_all)
    logger.info("tables ready in %r", app.state.database)


@on_shutdown
def log_shutdown(app: Starlette) -> None:
    logger.info(SHUTDOWN_MESSAGE)
