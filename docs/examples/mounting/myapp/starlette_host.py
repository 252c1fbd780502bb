"""mount(): a whole spoc app under a path of a host app, hooks and backends included."""

from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

import spoc_asgi

BASE_DIR = Path(__file__).resolve().parent.parent


async def home(request: Request) -> PlainTextResponse:
    return PlainTextResponse("the host")


host = Starlette(routes=[Route("/", home)])
spoc_app = spoc_asgi.create_app(BASE_DIR)

# Not host.mount("/spoc", spoc_app): Starlette would never run spoc_app's lifespan.
spoc_asgi.mount(host, "/spoc", spoc_app)
