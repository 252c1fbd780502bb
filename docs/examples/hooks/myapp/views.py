from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def home(request: Request) -> JSONResponse:
    return JSONResponse(
        {
            "motd": await request.state.cache.get("motd"),
            "http_client_open": not request.state.http.is_closed,
        }
    )


routes = [Route("/", home)]
