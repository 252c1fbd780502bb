from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def about(request: Request) -> JSONResponse:
    config = request.app.state.framework.config
    return JSONResponse(
        {
            "mode": config.mode,
            "debug": config.debug,
            "greeting": config.settings.GREETING,
        }
    )


routes = [Route("/about", about)]
