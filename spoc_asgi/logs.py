"""The ``spoc_asgi`` logger (docs/logging.md)."""

from __future__ import annotations

import logging

logger = logging.getLogger("spoc_asgi")
