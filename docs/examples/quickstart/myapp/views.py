from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def home(request: Request) -> JSONResponse:
    cache = request.state.cache  # the MemoryCache, connected by the lifespan
    return JSONResponse(
        {
            "message": await cache.get("greeting"),
            "visits": await cache.incr("visits"),
        }
    )


routes = [Route("/", home)]
