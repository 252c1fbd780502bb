from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def version(request: Request) -> JSONResponse:
    return JSONResponse({"server": await request.state.database.fetch_value("SHOW server_version")})


routes = [Route("/version", version)]
