"""spoc_asgi: a SPOC plugin configuration, served as a Starlette ASGI app."""

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

__version__ = "0.1.0"

__all__ = [
    "BackendNotReadyError",
    "ConfigurationError",
    "Framework",
    "PluginImportError",
    "Schema",
    "SpocError",
    "blocking",
    "create_app",
    "install",
    "leader",
    "load_from_uri",
    "mount",
    "on_shutdown",
    "once",
]
