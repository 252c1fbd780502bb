"""The ``routes`` group: Starlette routes, lists of them, or Routers (docs/plugins.md#groups)."""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute, Router

from spoc_asgi.framework import Framework
from spoc_asgi.shapes import shape_error

EXPECTED_SHAPE = "a starlette BaseRoute, a list of them, or a Router"


def adapt(framework: Framework, uri: str, obj: Any) -> list[BaseRoute]:
    if isinstance(obj, BaseRoute):
        return [obj]
    if isinstance(obj, Router):
        if obj.middleware_stack != obj.app:
            # Its routes alone would be served without the Router's own middleware.
            source = framework.sources["routes"].get(uri)
            expected = "a Router without middleware= (mount it: Mount('/prefix', app=router))"
            raise shape_error("spoc.E019", "routes", uri, obj, expected, source)
        return list(obj.routes)
    if isinstance(obj, (list, tuple)) and all(isinstance(route, BaseRoute) for route in obj):
        return list(obj)
    source = framework.sources["routes"].get(uri)
    raise shape_error("spoc.E019", "routes", uri, obj, EXPECTED_SHAPE, source)
