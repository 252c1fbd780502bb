"""The spoc side: what config/spoc.toml lists."""

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


def tag_response(request: Request) -> None:
    request.state.tagged = True


async def load_motd(app: Starlette) -> None:
    await app.state.cache.set("motd", "hello from spoc")


async def motd(request: Request) -> JSONResponse:
    return JSONResponse(
        {"motd": await request.state.cache.get("motd"), "tagged": request.state.tagged}
    )


routes = [Route("/motd", motd)]
