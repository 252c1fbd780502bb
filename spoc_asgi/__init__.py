"""spoc_asgi: a SPOC plugin configuration, served as a Starlette ASGI app.

The public names are imported on first use (``spoc_asgi.create_app`` imports the app
builder then), so that ``import spoc_asgi`` in a server process costs next to nothing
(docs/performance.md, "Import time").
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> the module that defines it
_LAZY = {
    "create_app": "spoc_asgi.app",
    "install": "spoc_asgi.app",
    "mount": "spoc_asgi.app",
    "BackendNotReadyError": "spoc_asgi.errors",
    "ConfigurationError": "spoc_asgi.errors",
    "PluginImportError": "spoc_asgi.errors",
    "SpocError": "spoc_asgi.errors",
    "Framework": "spoc_asgi.framework",
    "Schema": "spoc_asgi.framework",
    "load_from_uri": "spoc_asgi.importer",
    "blocking": "spoc_asgi.markers",
    "on_shutdown": "spoc_asgi.markers",
    "once": "spoc_asgi.markers",
    "leader": "spoc_asgi.markers",
    "backend": "spoc_asgi.access",
    "cache": "spoc_asgi.access",
    "database": "spoc_asgi.access",
}

if TYPE_CHECKING:
    from spoc_asgi.access import backend, cache, database
    from spoc_asgi.app import create_app, install, mount
    from spoc_asgi.errors import (
        BackendNotReadyError,
        ConfigurationError,
        PluginImportError,
        SpocError,
    )
    from spoc_asgi.framework import Framework, Schema
    from spoc_asgi.importer import load_from_uri
    from spoc_asgi.markers import blocking, leader, on_shutdown, once

__all__ = [
    "BackendNotReadyError",
    "ConfigurationError",
    "Framework",
    "PluginImportError",
    "Schema",
    "SpocError",
    "backend",
    "blocking",
    "cache",
    "create_app",
    "database",
    "install",
    "leader",
    "load_from_uri",
    "mount",
    "on_shutdown",
    "once",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'spoc_asgi' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next access is a plain attribute lookup
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
